"""`python -m tfcolor.colorize_beam`: the command lives in `tfcolor.cli.colorize_beam`."""

import sys

from tfcolor.cli.colorize_beam import main

if __name__ == "__main__":
    sys.exit(main())
