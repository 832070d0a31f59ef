"""`python -m tfcolor.evaluate`: the command lives in `tfcolor.cli.evaluate`."""

import sys

from tfcolor.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
