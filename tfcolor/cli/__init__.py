"""The command-line tools. Each module is one thin command (`python -m tfcolor.train` and the
others run these); `common` holds what they share."""
