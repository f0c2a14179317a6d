"""Dense retrieval under a query's filters: check the nearest candidates, or search among the passing ids.

Listing every chunk a filter passes costs about 1 µs a chunk in SQLite (0.1 s for `in:folder`
over a tenth of a million passages), more than a compressed index's search. So on a compressed
index a filter that keeps a fair share of the chunks (`POST_FILTER_SHARE`, judged from the share of
files it passes) is applied after the search: the nearest `2k / share` candidates are checked in one
query, deeper when too few pass. A flat index scans every vector anyway, but scores only the
passing ones when given their ids, so it checks afterwards only filters that pass most chunks.
Checking afterwards is exact on a flat index: when k of the nearest `depth` candidates pass, no
passing chunk outside them ranks above them. A narrow filter, a phrase, or a filter that passes
too few of the nearest lists its passing ids first and searches among them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from indexer.search.query import Query
    from indexer.store.keyword import KeywordSearch
    from indexer.store.vectors import VectorStore

POST_FILTER_SHARE = 0.02  # on a compressed index, filters keeping more than this are checked after
POST_FILTER_SHARE_FLAT = 0.5  # on a flat one
DEEPER = 4  # how much deeper a search goes when too few of its candidates passed
MAX_ROUNDS = 3


def filtered_search(vectors: VectorStore, keyword: KeywordSearch, query: Query, vector: np.ndarray,
                    k: int) -> list[tuple[int, float]]:
    """The `k` best (chunk id, score) of `vectors` for `vector` among the chunks `query` lets through."""
    share = keyword.passing_share(query)
    if share == 0:
        return []
    if share is not None and share >= (POST_FILTER_SHARE if not vectors.exact else POST_FILTER_SHARE_FLAT):
        found = _checked_after(vectors, keyword, query, vector, k, share)
        if found is not None:
            return found
    allowed = keyword.passing_chunk_ids(query)
    if allowed.size == 0:
        return []
    scores, ids = vectors.search(vector[None, :], k, allowed)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _checked_after(vectors: VectorStore, keyword: KeywordSearch, query: Query, vector: np.ndarray,
                   k: int, share: float) -> list[tuple[int, float]] | None:
    """Search unfiltered and keep the candidates that pass; None when too few passed (search the ids)."""
    depth = min(vectors.size, math.ceil(2 * k / share))
    for _ in range(MAX_ROUNDS):
        scores, ids = vectors.search(vector[None, :], depth)
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
        passing = keyword.passing(query, [i for i, _ in hits])
        kept = [hit for hit in hits if hit[0] in passing]
        if len(kept) >= k or (depth >= vectors.size and vectors.exact):
            return kept[:k]
        if depth >= vectors.size:
            return None
        depth = min(vectors.size, depth * DEEPER)
    return None
