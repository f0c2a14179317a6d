"""The vector file's header and its atomic writing, without importing FAISS (`findling status` reads it).

Header: magic, the catalog generation and vector-log position the saved index covers, its
dimension and its kind ("flat", "ivf-sq8"); then the FAISS index as `faiss.write_index` writes it.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from indexer.private import FILE_MODE

VECTORS_FILE = "vectors.faiss"
MAGIC = b"FLNGVEC2"
HEADER = struct.Struct("<8sqqi16s")


@dataclass(frozen=True)
class Header:
    generation: int
    seq: int
    dim: int
    kind: str


def read_header(fh: BinaryIO) -> Header | None:
    """The header at the start of an open vector file, or None when it is not one of ours (or older)."""
    data = fh.read(HEADER.size)
    if len(data) != HEADER.size:
        return None
    magic, generation, seq, dim, kind = HEADER.unpack(data)
    if magic != MAGIC:
        return None
    return Header(generation, seq, dim, kind.rstrip(b"\0").decode("ascii", "replace"))


def header_of(path: Path) -> Header | None:
    try:
        with open(path, "rb") as fh:
            return read_header(fh)
    except OSError:
        return None


def stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a reader the file was replaced: (inode, mtime, size), None when missing."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def write_atomically(path: Path, header: Header, write_body: Callable[[BinaryIO], None]) -> None:
    """Write header and body to a temp file, fsync, rename over `path` (a kill -9 leaves the old file)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as fh:
        fh.write(HEADER.pack(MAGIC, header.generation, header.seq, header.dim, header.kind.encode("ascii")))
        write_body(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
