"""PyInstaller entry point of the command line (the console script `findling`)."""

import multiprocessing
import sys

from indexer.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # the extraction workers, in a frozen build
    sys.exit(main())
