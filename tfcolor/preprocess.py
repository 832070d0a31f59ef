"""`python -m tfcolor.preprocess`: the command lives in `tfcolor.cli.preprocess`."""

import sys

from tfcolor.cli.preprocess import main

if __name__ == "__main__":
    sys.exit(main())
