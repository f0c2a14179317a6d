"""`python -m indexer.cli`: the `findling` command."""

from indexer.cli import main

main()
