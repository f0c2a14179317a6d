"""The local search store: this data dir's SQLite catalog (chunks, FTS5) and its FAISS vector index.

A reader only: when the saved vector index is missing or behind the catalog, it is rebuilt in
memory (`open_vectors`), never trained.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from indexer.search.filtered_dense import filtered_search
from indexer.store.catalog import Catalog, ChunkRow, Unavailable
from indexer.store.compressed import RESCORED
from indexer.store.keyword import KeywordSearch
from indexer.store.search_store import StoreStats
from indexer.store.vector_file import stamp
from indexer.store.vectors import VectorStore, open_vectors

if TYPE_CHECKING:
    from indexer.datadir import DataDir
    from indexer.search.coverage import QueryTerms
    from indexer.search.query import Query

class LocalStore:
    """`SearchStore` over one data dir (read only; one thread at a time)."""

    def __init__(self, data_dir: DataDir) -> None:
        self.data_dir = data_dir
        self.catalog = Catalog(data_dir.catalog_path, readonly=True)
        self.keyword_search = KeywordSearch(self.catalog)
        self._vectors: VectorStore | None = None
        self._vectors_stamp: tuple[int, int, int] | None = None

    def close(self) -> None:
        self.catalog.close()

    def stats(self) -> StoreStats:
        dim = self.catalog.meta_get("dim")
        vectors = self.vector_index() if dim is not None else None
        return StoreStats(self.model(), int(dim) if dim is not None else None,
                          0 if vectors is None else vectors.size)

    def model(self) -> str | None:
        return self.catalog.meta_get("model")

    def vector_index(self) -> VectorStore | None:
        """The vector index, current with the catalog (reloaded or rebuilt in memory when not)."""
        dim = self.catalog.meta_get("dim")
        if dim is None:
            return None
        path = self.data_dir.vectors_path
        on_disk = stamp(path)
        if self._vectors is not None and on_disk != self._vectors_stamp:
            self._vectors = None  # the writer saved a new file (e.g. a rebuilt compressed base)
        behind = self._vectors is not None and self._vectors.generation != self.catalog.generation
        if behind and not self._vectors.catch_up(self.catalog):  # never trains: replays the log
            self._vectors = None
        if self._vectors is None:
            self._vectors_stamp = on_disk
            self._vectors, _ = open_vectors(self.catalog, path, int(dim))
        return self._vectors

    def dense(self, vector: np.ndarray, query: Query, k: int) -> list[tuple[int, float]]:
        vectors = self.vector_index()
        if vectors is None or vectors.size == 0:
            return []
        wanted = k if vectors.exact else max(k, RESCORED)
        if query.has_constraints:
            found = filtered_search(vectors, self.keyword_search, query, vector, wanted)
        else:
            scores, ids = vectors.search(vector[None, :], wanted)
            found = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        if not vectors.exact:  # a compressed index's scores are approximate: the stored vectors' cosines
            stored = self.catalog.stored_embeddings([i for i, _ in found])
            found = sorted(((i, float(stored[i] @ vector)) for i, _ in found if i in stored),
                           key=lambda pair: -pair[1])[:k]
        return found

    def keyword(self, query: Query, k: int) -> list[tuple[int, float]]:
        return self.keyword_search.search(query, k)

    def query_terms(self, query: Query) -> QueryTerms:
        return self.keyword_search.query_terms(query)

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        return self.catalog.chunks(ids)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        return self.catalog.stored_embeddings(ids)

    def sample_vectors(self, n: int) -> np.ndarray | None:
        vectors = self.vector_index()
        if vectors is None or vectors.size == 0:
            return None
        ids = vectors.ids()
        pick = np.random.default_rng(0).choice(len(ids), min(len(ids), n), replace=False)
        stored = self.catalog.stored_embeddings([int(ids[j]) for j in np.sort(pick)])
        return np.vstack(list(stored.values())).astype(np.float32) if stored else None

    def newest_files(self, query: Query, k: int) -> list[tuple[int, int]]:
        return self.keyword_search.newest_files(query, k)

    def unavailable(self) -> list[Unavailable]:
        return self.catalog.unavailable()
