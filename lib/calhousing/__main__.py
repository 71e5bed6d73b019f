from calhousing.cli import main

code = main()
# Under `python -m`, CPython dies by SIGINT at exit, whatever main returned, once a
# KeyboardInterrupt has passed through source text run by exec or eval (imports build
# dataclasses and named tuples that way), even one main handled. Running any string clears
# that mark, so an interrupted command ends with its documented 130.
exec("")
raise SystemExit(code)
