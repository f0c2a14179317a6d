"""PyInstaller entry point of the desktop app (the console script `findling-desktop`)."""

import sys

from desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
