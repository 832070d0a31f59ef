"""`python -m tfcolor.refine`: the command lives in `tfcolor.cli.refine`."""

import sys

from tfcolor.cli.refine import main

if __name__ == "__main__":
    sys.exit(main())
