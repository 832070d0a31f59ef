"""`python -m tfcolor.bench`: the command lives in `tfcolor.cli.bench`."""

import sys

from tfcolor.cli.bench import main

if __name__ == "__main__":
    sys.exit(main())
