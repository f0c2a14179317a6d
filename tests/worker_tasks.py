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


def unreadable_when_mode_000(found: Found, max_file_mb: float) -> prepare.Outcome:
    """Reading fails as a non-root user's would on a file without read permission (we run as root)."""
    import stat

    real = prepare.open_regular

    def refusing_open(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - open_regular's
        if stat.S_IMODE(os.stat(path).st_mode) & 0o444 == 0:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)

    prepare.open_regular = refusing_open
    try:
        return prepare.read_and_extract(found, max_file_mb)
    finally:
        prepare.open_regular = real


def parser_fails_once(found: Found, max_file_mb: float) -> prepare.Outcome:
    """The parser fails on the first file extracted while a `fail-once` marker sits beside the folder
    (the marker is removed then), as a transient failure would."""
    marker = Path(found.path).parent.parent / "fail-once"
    real = prepare.extract

    def failing_extract(path: Path):
        try:
            marker.unlink()
        except FileNotFoundError:
            return real(path)
        raise PermissionError(13, "Permission denied", str(path))

    prepare.extract = failing_extract
    try:
        return prepare.read_and_extract(found, max_file_mb)
    finally:
        prepare.extract = real


_held: list[bytearray] = []


def hold_megabytes(megabytes: int) -> None:
    """A setup that keeps `megabytes` allocated (as a loaded tokenizer would)."""
    _held.extend(bytearray(1 << 20) for _ in range(megabytes))


def allocate_megabytes(megabytes: int) -> int:
    """A task that allocates `megabytes` for a moment; returns what the setup holds, in MB."""
    scratch = [bytearray(1 << 20) for _ in range(megabytes)]
    del scratch
    return len(_held)
