"""The search-store seam: what a `Searcher` reads, whatever holds the index.

Two stores implement `SearchStore`:
- `LocalStore` (`store/local_store.py`): this machine's SQLite catalog (chunks, FTS5) and its FAISS
  vector index, the default;
- `MilvusStore` (`store/milvus_store.py`): a shared Milvus collection written by one team writer
  (`findling --store milvus://…`), searched with no local catalog.

Scores have the same units on both: `dense` gives cosines, `keyword` BM25 (higher is better),
`query_terms` the query's words weighted by their IDF in that store (the keyword signal of fusion,
`indexer.search.coverage`). The writer's side is `StoreWriter.apply`: a committed batch of the
catalog (the truth) applied to a store that mirrors it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from indexer.search.coverage import QueryTerms
    from indexer.search.query import Query
    from indexer.store.catalog import Catalog, ChunkRow, Unavailable

META_KEY = "shared_store"  # in the writer's catalog meta: where its shared store's mirror stands


@dataclass(frozen=True)
class StoreStats:
    """What a store says about itself: the model its vectors come from, their dimension, how many."""

    model: str | None
    dim: int | None
    passages: int  # embedded passages (what dense search can find)
    kind: str = "local"  # local | milvus


@dataclass
class StoreBatch:
    """A committed catalog batch for a mirror: chunk ids to (re)write from the catalog and ids gone."""

    upserted: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    generation: int = 0  # the catalog generation the batch brings the mirror to
    seq: int = 0  # the catalog's vector-log position it brings the mirror to

    @property
    def empty(self) -> bool:
        return not (self.upserted or self.removed)


@runtime_checkable
class SearchStore(Protocol):
    """Read access to one index for the stages of a search (one thread at a time)."""

    def stats(self) -> StoreStats: ...

    def model(self) -> str | None:
        """The model the store's vectors come from, read without loading or counting them."""

    def dense(self, vector: np.ndarray, query: Query, k: int) -> list[tuple[int, float]]:
        """The k nearest embedded passages passing the query's filters: (chunk id, cosine), best first."""

    def keyword(self, query: Query, k: int) -> list[tuple[int, float]]:
        """Passages matching the query's words and filters: (chunk id, BM25), best first."""

    def query_terms(self, query: Query) -> QueryTerms:
        """The query's words and CJK pieces weighted by their IDF in this store."""

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]: ...

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored embeddings of those chunks that have one."""

    def sample_vectors(self, n: int) -> np.ndarray | None:
        """Up to n stored embeddings drawn at random (fixed seed): this index's unrelated text."""

    def newest_files(self, query: Query, k: int) -> list[tuple[int, int]]:
        """A filter-only query's files, newest first: (the file's first chunk id, its mtime_ns)."""

    def unavailable(self) -> list[Unavailable]:
        """Folders out of reach whose files are kept (none on a shared store)."""

    def close(self) -> None: ...


class StoreWriter(Protocol):
    """A store that mirrors the writer's catalog, batch by batch."""

    def apply(self, batch: StoreBatch) -> None: ...


def shared_log_floor(catalog: Catalog) -> int | None:
    """The vector-log position the shared store mirrored from this catalog reflects (None: none is):
    the writer trims the log no further, so the store's next start replays by chunk id."""
    seq = json.loads(catalog.meta_get(META_KEY) or "{}").get("seq")
    return None if seq is None else int(seq)
