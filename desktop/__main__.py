"""`python -m desktop`: the same as `findling-desktop`."""

import sys

from desktop.app import main

if __name__ == "__main__":  # not when a spawned worker process imports this module
    sys.exit(main())
