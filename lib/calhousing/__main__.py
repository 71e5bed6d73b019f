import sys

from calhousing.cli import main

sys.exit(main())
