"""The vector index: a cache of the catalog's embeddings, keyed by chunk id, behind `VectorStore`.

`VectorStore` is what the searcher and the writer use; `open_vectors` gives the one this data dir
has, and no caller imports faiss. Two kinds implement it:
- `VectorIndex` (`store/flat.py`): exact FAISS (`IndexIDMap2(IndexFlatIP)`), below `compress_above`;
- `CompressedIndex` (`store/compressed.py`): a trained IVF-SQ8 base + a flat delta − tombstones,
  above it. Only the writer trains one (`indexer.write.vector_upkeep`), in the background.

The file (`vector_file.py`) holds a small header (generation, vector-log position, dimension, kind)
and the serialised index, written atomically. A reader whose file is behind the catalog replays
the catalog's vector change log from the file's position (`catch_up`); a file that is missing,
unreadable, from an older release or behind a trimmed log is rebuilt as an exact index from the
catalog in seconds, never by re-embedding and never by training.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from indexer.store.catalog import Catalog, Change
from indexer.store.compressed import CompressedIndex
from indexer.store.flat import VectorIndex, _new_index
from indexer.store.vector_file import VECTORS_FILE, read_header

__all__ = ["VECTORS_FILE", "CompressedIndex", "VectorIndex", "VectorStore", "_new_index", "open_vectors",
           "read_vectors"]


@runtime_checkable
class VectorStore(Protocol):
    """Vectors by chunk id, current as of a catalog `generation` (the catalog stays the truth)."""

    generation: int
    seq: int  # the catalog's vector-log position it reflects
    kind: str  # "flat" or "ivf-sq8"
    exact: bool  # scores are exact inner products

    @property
    def dim(self) -> int: ...

    @property
    def size(self) -> int: ...

    @property
    def memory_bytes(self) -> int: ...

    def apply(self, change: Change, generation: int, seq: int | None = None) -> None:
        """Add and remove what one committed transaction changed."""

    def catch_up(self, catalog: Catalog) -> bool:
        """Replay the catalog's vector log; False when it was trimmed past this index (reload it)."""

    def save(self, path: Path) -> None:
        """Write atomically; a reader that finds it stale catches up from the catalog."""

    def search(self, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (inner-product scores, chunk ids) per query row, among `allowed` ids when given."""

    def ids(self) -> np.ndarray: ...


_KINDS = {VectorIndex.kind: VectorIndex, CompressedIndex.kind: CompressedIndex}


def read_vectors(path: Path, dim: int) -> VectorIndex | CompressedIndex | None:
    """The saved index of either kind, or None when missing, unreadable, older or of another dimension."""
    try:
        with open(path, "rb") as fh:
            header = read_header(fh)
            kind = _KINDS.get(header.kind) if header is not None else None
            if header is None or kind is None or header.dim != dim:
                return None
            return kind.read_body(fh, header)
    except (OSError, RuntimeError, ValueError):
        return None


def open_vectors(catalog: Catalog, path: Path, dim: int) -> tuple[VectorStore, bool]:
    """The data dir's vector index, current with the catalog; and whether the file is behind it
    (the writer then saves it). Never trains: without a usable file, an exact index is built."""
    saved = read_vectors(path, dim)
    if saved is not None:
        if saved.generation == catalog.generation and saved.seq == catalog.log_seq():
            return saved, False
        if saved.catch_up(catalog):
            return saved, saved.exact  # a compressed file keeps its base; the log holds the rest
    return VectorIndex.build(catalog, dim), True
