"""The vector index: a cache of the catalog's embeddings, keyed by chunk id, behind `VectorStore`.

`VectorStore` is what the searcher and the writer use; `open_vectors` gives the one this data dir
has. Today that is `VectorIndex`, an exact FAISS index (`IndexIDMap2(IndexFlatIP)`); a compressed
index or a shared store implements the same protocol, and no caller imports faiss.

The file holds a small header (magic, catalog generation, dimension) and the serialised
index, written atomically (temp file, fsync, rename). A file whose generation differs
from the catalog's, or that cannot be read, is stale: it is rebuilt from the catalog
in seconds, never by re-embedding.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import faiss
import numpy as np

from indexer.private import FILE_MODE
from indexer.store.catalog import Catalog, Change

VECTORS_FILE = "vectors.faiss"
_MAGIC = b"FLNGVEC1"
_HEADER = struct.Struct("<8sqi")


@runtime_checkable
class VectorStore(Protocol):
    """Vectors by chunk id, current as of a catalog `generation` (the catalog stays the truth)."""

    generation: int

    @property
    def dim(self) -> int: ...

    @property
    def size(self) -> int: ...

    def apply(self, change: Change, generation: int) -> None:
        """Add and remove what one committed transaction changed."""

    def save(self, path: Path) -> None:
        """Write atomically; a reader that finds it stale rebuilds it from the catalog."""

    def search(self, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (inner-product scores, chunk ids) per query row, among `allowed` ids when given."""

    def ids(self) -> np.ndarray: ...


def open_vectors(catalog: Catalog, path: Path, dim: int) -> tuple[VectorStore, bool]:
    """The data dir's vector index, current with the catalog; and whether it had to be rebuilt."""
    return VectorIndex.load(catalog, path, dim)


def _new_index(dim: int) -> faiss.IndexIDMap2:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


@dataclass
class VectorIndex:
    index: faiss.IndexIDMap2
    generation: int

    @property
    def dim(self) -> int:
        return self.index.d

    @property
    def size(self) -> int:
        return self.index.ntotal

    @classmethod
    def build(cls, catalog: Catalog, dim: int) -> VectorIndex:
        generation = catalog.generation
        index = _new_index(dim)
        for ids, vectors in catalog.iter_embeddings():
            index.add_with_ids(vectors, ids)
        return cls(index, generation)

    @classmethod
    def read(cls, path: Path) -> VectorIndex | None:
        """The saved index, or None when the file is missing or unreadable."""
        try:
            data = path.read_bytes()
            magic, generation, dim = _HEADER.unpack_from(data)
            if magic != _MAGIC:
                return None
            index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8, offset=_HEADER.size))
            if index.d != dim:
                return None
            return cls(index, generation)
        except (OSError, RuntimeError, struct.error, ValueError):
            return None

    @classmethod
    def load(cls, catalog: Catalog, path: Path, dim: int) -> tuple[VectorIndex, bool]:
        """The saved index when current, else one rebuilt from the catalog; and whether it was rebuilt."""
        saved = cls.read(path)
        if saved is not None and saved.generation == catalog.generation and saved.dim == dim:
            return saved, False
        return cls.build(catalog, dim), True

    def apply(self, change: Change, generation: int) -> None:
        if change.removed_ids:
            self.index.remove_ids(np.asarray(change.removed_ids, dtype=np.int64))
        if change.added_ids:
            self.index.add_with_ids(
                np.vstack(change.added_vectors).astype(np.float32),
                np.asarray(change.added_ids, dtype=np.int64),
            )
        self.generation = generation

    def save(self, path: Path) -> None:
        payload = faiss.serialize_index(self.index)
        tmp = path.with_suffix(".tmp")
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as fh:
            fh.write(_HEADER.pack(_MAGIC, self.generation, self.dim))
            fh.write(payload.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def search(self, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; `allowed` limits the search to those chunk ids (filters)."""
        k = min(k, self.size)
        if k <= 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.float32), empty.astype(np.int64)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)
