"""`python -m tfcolor.train`: the command lives in `tfcolor.cli.train`."""

import sys

from tfcolor.cli.train import main

if __name__ == "__main__":
    sys.exit(main())
