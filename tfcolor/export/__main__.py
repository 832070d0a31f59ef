"""`python -m tfcolor.export`: the command lives in `tfcolor.cli.export`."""

import sys

from tfcolor.cli.export import main

if __name__ == "__main__":
    sys.exit(main())
