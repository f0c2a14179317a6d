"""Extraction tasks that misbehave, run in the real worker processes (tests patch
`indexer.ingest.prepare._extract_in_worker` with one; workers import this module by name)."""

from __future__ import annotations

import os
from pathlib import Path

import indexer.ingest.prepare as prepare
from indexer.ingest.extract import ExtractionError
from indexer.ingest.scan import Found


def vanishing_mid_read(found: Found, max_file_mb: float) -> prepare.Outcome:
    """`cat.md` is deleted while it is being extracted."""
    real = prepare.extract

    def vanishing_extract(path: Path):
        if path.name == "cat.md":
            path.unlink()
            raise ExtractionError("cannot read file: No such file or directory")
        return real(path)

    prepare.extract = vanishing_extract
    try:
        return prepare.read_and_extract(found, max_file_mb)
    finally:
        prepare.extract = real


def aborting(found: Found, max_file_mb: float) -> prepare.Outcome:
    """A native crash (SIGABRT) on files named `crash*`, a normal extraction otherwise."""
    if Path(found.path).name.startswith("crash"):
        os.abort()
    return prepare.read_and_extract(found, max_file_mb)


def allocating(found: Found, max_file_mb: float) -> prepare.Outcome:
    """Files named `hog*` allocate far past any budget, a page at a time (as a parser would)."""
    if Path(found.path).name.startswith("hog"):
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
    return prepare.read_and_extract(found, max_file_mb)


def sleeping(found: Found, max_file_mb: float) -> prepare.Outcome:
    """Files named `slow*` never finish."""
    if Path(found.path).name.startswith("slow"):
        import time

        time.sleep(3600)
    return prepare.read_and_extract(found, max_file_mb)
