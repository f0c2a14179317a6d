"""The exact vector index: FAISS `IndexIDMap2(IndexFlatIP)`, every vector in float32."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from indexer.store.catalog import Catalog, Change
from indexer.store.vector_changes import replay_log
from indexer.store.vector_file import Header, read_header, write_atomically

KIND = "flat"


def _new_index(dim: int) -> faiss.IndexIDMap2:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))


def empty_result(rows: int, k: int = 0) -> tuple[np.ndarray, np.ndarray]:
    return np.full((rows, k), -np.inf, dtype=np.float32), np.full((rows, k), -1, dtype=np.int64)


@dataclass
class VectorIndex:
    index: faiss.IndexIDMap2
    generation: int
    seq: int = 0  # the vector-log position this index reflects
    kind = KIND
    exact = True

    @property
    def dim(self) -> int:
        return self.index.d

    @property
    def size(self) -> int:
        return self.index.ntotal

    @property
    def memory_bytes(self) -> int:
        return self.size * (self.dim * 4 + 8)

    @classmethod
    def empty(cls, dim: int) -> VectorIndex:
        return cls(_new_index(dim), 0, 0)

    @classmethod
    def build(cls, catalog: Catalog, dim: int) -> VectorIndex:
        """Every stored embedding (changes made while reading are in the log after `seq`, replayed later)."""
        with catalog.snapshot():
            generation, seq = catalog.generation, catalog.log_seq()
        index = _new_index(dim)
        for ids, vectors in catalog.iter_embeddings():
            index.add_with_ids(vectors, ids)
        store = cls(index, generation, seq)
        store.catch_up(catalog)
        return store

    @classmethod
    def read(cls, path: Path) -> VectorIndex | None:
        """The saved exact index, or None when the file is missing, unreadable or of another kind."""
        try:
            with open(path, "rb") as fh:
                header = read_header(fh)
                return cls.read_body(fh, header) if header is not None and header.kind == KIND else None
        except (OSError, RuntimeError, ValueError):
            return None

    @classmethod
    def read_body(cls, fh: BinaryIO, header: Header) -> VectorIndex | None:
        index = faiss.read_index(faiss.PyCallbackIOReader(fh.read))
        if index.d != header.dim or not isinstance(index, faiss.IndexIDMap2):
            return None
        return cls(index, header.generation, header.seq)

    def catch_up(self, catalog: Catalog) -> bool:
        """Replay the catalog's vector log since `seq`; False when it was trimmed past it."""
        return replay_log(self, catalog)

    def apply(self, change: Change, generation: int, seq: int | None = None) -> None:
        if change.removed_ids:
            self.index.remove_ids(np.asarray(change.removed_ids, dtype=np.int64))
        if change.added_ids:
            self.index.add_with_ids(
                np.vstack(change.added_vectors).astype(np.float32),
                np.asarray(change.added_ids, dtype=np.int64),
            )
        self.generation = generation
        if seq is not None:
            self.seq = seq

    def save(self, path: Path) -> None:
        write_atomically(path, Header(self.generation, self.seq, self.dim, KIND),
                         lambda fh: faiss.write_index(self.index, faiss.PyCallbackIOWriter(fh.write)))

    def search(self, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, ids) per query; `allowed` limits the search to those chunk ids (filters)."""
        k = min(k, self.size)
        if k <= 0:
            return empty_result(len(queries))
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k, params=params)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)
