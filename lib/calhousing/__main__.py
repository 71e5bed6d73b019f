from calhousing.cli import main

raise SystemExit(main())
