"""`python -m tfcolor.colorize`: the command lives in `tfcolor.cli.colorize`."""

import sys

from tfcolor.cli.colorize import main

if __name__ == "__main__":
    sys.exit(main())
