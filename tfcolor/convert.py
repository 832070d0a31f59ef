"""`python -m tfcolor.convert`: the command lives in `tfcolor.cli.convert`."""

import sys

from tfcolor.cli.convert import main

if __name__ == "__main__":
    sys.exit(main())
