"""The compressed vector index for large collections: a trained IVF base with 8-bit scalar quantization
(FAISS `IVFn,SQ8`, inner product), a flat delta of the vectors added since it was built, and the
set of base ids deleted or replaced since (tombstones).

Only the writer trains (`build_compressed`, on the catalog's stored embeddings, in the background):
readers load the saved base and replay the catalog's vector change log since the position it
covers, which gives them the same delta and tombstones. A search asks the base for its top-k among
the ids neither tombstoned nor filtered out (an `IDSelector` in the IVF search parameters; the
number of lists probed grows as a filter leaves fewer ids, up to all of them), asks the delta the
same, and merges the two. The writer rebuilds the base when delta and tombstones grow past a share
of it (`needs_merge`), so deletes cost a tombstone now and disappear at the next rebuild.

Why IVF-SQ8 and not HNSW or PQ: measured by benchmarks/bench_scale.py `--compare` (see DESIGN.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import faiss
import numpy as np

from indexer.store.catalog import Catalog, Change
from indexer.store.flat import VectorIndex, empty_result
from indexer.store.vector_changes import replay_log
from indexer.store.vector_file import Header, write_atomically

KIND = "ivf-sq8"
RECALL_QUERIES = 200  # stored vectors used as queries to measure recall@10 after each build
RESCORED = 100  # a search rescores this many of the index's candidates with the stored vectors
# Recall@10 of what a search returns: the exact top-10's share of the index's top `RESCORED` (the
# rescoring puts them first). The smallest nprobe reaching the target is kept. Issue 21 asks for 0.95
# on real queries, which can be harder than stored vectors, hence the margin.
RECALL_TARGET = 0.99
NPROBES = (4, 8, 16, 32, 64, 128, 256)
SINGLE_QUERY_PARALLEL = 1  # FAISS IndexIVF.parallel_mode: threads over the probed lists
MERGE_MIN = 10_000  # delta + tombstones that always allow a rebuild...
MERGE_SHARE = 0.05  # ...and the share of the base that calls for one


def nlist_for(n: int) -> int:
    """Inverted lists for `n` vectors: about √n, a power of two, 16 to 4096."""
    return int(min(4096, max(16, 2 ** round(math.log2(max(1.0, math.sqrt(n)))))))


@dataclass
class CompressedIndex:
    base: faiss.IndexIVF
    base_ids: np.ndarray  # sorted ids held by the base
    delta: VectorIndex
    generation: int
    seq: int  # the vector-log position this index reflects
    base_generation: int
    base_seq: int  # the position the base covers (the saved file's)
    tombstones: set[int] = field(default_factory=set)
    saved: bool = False
    recall_at_10: float | None = None
    kind = KIND
    exact = False
    _tomb_array: np.ndarray | None = None

    @property
    def dim(self) -> int:
        return self.base.d

    @property
    def size(self) -> int:
        return self.base.ntotal - len(self.tombstones) + self.delta.size

    @property
    def pending(self) -> int:
        """Vectors outside the trained base's lists: the delta and the tombstones."""
        return self.delta.size + len(self.tombstones)

    @property
    def memory_bytes(self) -> int:
        base = self.base.ntotal * (self.base.code_size + 8) + self.base.nlist * self.dim * 4
        return base + self.delta.memory_bytes + len(self.tombstones) * 8 + self.base_ids.nbytes

    def needs_merge(self) -> bool:
        return self.pending > max(MERGE_MIN, MERGE_SHARE * self.base.ntotal)

    # -- reading ---------------------------------------------------------------------------------
    @classmethod
    def read_body(cls, fh: BinaryIO, header: Header) -> CompressedIndex | None:
        index = faiss.read_index(faiss.PyCallbackIOReader(fh.read))
        base = faiss.extract_index_ivf(index) if isinstance(index, faiss.IndexIVF) else None
        if base is None or index.d != header.dim:
            return None
        return cls(index, _ids_of(base), VectorIndex.empty(header.dim), header.generation, header.seq,
                   header.generation, header.seq, saved=True)

    def catch_up(self, catalog: Catalog) -> bool:
        """Replay the catalog's vector log since `seq`; False when it was trimmed past it."""
        return replay_log(self, catalog)

    # -- changes ---------------------------------------------------------------------------------
    def _in_base(self, ids: np.ndarray) -> np.ndarray:
        where = np.searchsorted(self.base_ids, ids)
        inside = where < self.base_ids.size
        found = np.zeros(ids.shape, dtype=bool)
        found[inside] = self.base_ids[where[inside]] == ids[inside]
        return found

    def apply(self, change: Change, generation: int, seq: int | None = None) -> None:
        """Removed (and re-added) base ids become tombstones; added vectors go to the delta."""
        touched = np.asarray(change.removed_ids + change.added_ids, dtype=np.int64)
        if touched.size:
            self.tombstones.update(int(i) for i in touched[self._in_base(touched)])
            self._tomb_array = None
        self.delta.apply(Change(change.added_ids, change.added_vectors,
                                change.removed_ids + change.added_ids), generation)
        self.generation = generation
        if seq is not None:
            self.seq = seq

    def save(self, path: Path) -> None:
        """Write the base (once per build); the delta lives in the catalog's log until the next build."""
        if self.saved:
            return
        write_atomically(path, Header(self.base_generation, self.base_seq, self.dim, KIND),
                         lambda fh: faiss.write_index(self.base, faiss.PyCallbackIOWriter(fh.write)))
        self.saved = True

    # -- search ----------------------------------------------------------------------------------
    def _tombs(self) -> np.ndarray:
        if self._tomb_array is None:
            self._tomb_array = np.fromiter(self.tombstones, dtype=np.int64, count=len(self.tombstones))
        return self._tomb_array

    def _base_params(self, allowed: np.ndarray | None) -> faiss.SearchParametersIVF | None:
        """The selector and lists to probe; None when a filter leaves no base id."""
        nprobe = self.base.nprobe
        if allowed is None:
            if not self.tombstones:
                return faiss.SearchParametersIVF(nprobe=nprobe)
            return faiss.SearchParametersIVF(
                nprobe=nprobe, sel=faiss.IDSelectorNot(faiss.IDSelectorBatch(self._tombs())))
        allowed = allowed[self._in_base(allowed)]
        if self.tombstones:
            allowed = np.setdiff1d(allowed, self._tombs(), assume_unique=True)
        if allowed.size == 0:
            return None
        # A filter keeping a share f of the base finds about f of each list probed: probe 1/f more.
        share = allowed.size / max(1, self.base.ntotal)
        nprobe = min(self.base.nlist, math.ceil(nprobe / share))
        return faiss.SearchParametersIVF(nprobe=nprobe, sel=faiss.IDSelectorBatch(allowed))

    def search(self, queries: np.ndarray, k: int,
               allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (approximate inner products, ids) per query, among `allowed` ids when given."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if k <= 0 or self.size == 0:
            return empty_result(len(queries))
        if allowed is not None:
            allowed = np.unique(np.asarray(allowed, dtype=np.int64))
        parts = [self.delta.search(queries, k, allowed)]
        params = self._base_params(allowed)
        # One query (a search): its lists are scanned in parallel (1M passages, 2 cores: 54 → 41 ms
        # for a filtered top-100); many (the writer's calibration): the queries are.
        self.base.parallel_mode = SINGLE_QUERY_PARALLEL if len(queries) == 1 else 0
        if params is not None and self.base.ntotal:
            parts.append(self.base.search(queries, min(k, self.base.ntotal), params=params))
        scores = np.hstack([p[0] for p in parts])
        ids = np.hstack([p[1] for p in parts])
        scores = np.where(ids < 0, -np.inf, scores)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)

    def ids(self) -> np.ndarray:
        kept = self.base_ids[~np.isin(self.base_ids, self._tombs())] if self.tombstones else self.base_ids
        return np.concatenate([kept, self.delta.ids()])


def _ids_of(index: faiss.IndexIVF) -> np.ndarray:
    lists = index.invlists
    parts = [faiss.rev_swig_ptr(lists.get_ids(i), lists.list_size(i)).copy()
             for i in range(index.nlist) if lists.list_size(i)]
    return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


# -- building (the writer only) ------------------------------------------------------------------------
@dataclass(frozen=True)
class BuildReport:
    passages: int
    nlist: int
    nprobe: int
    recall_at_10: float
    seconds: float


def _top10_merge(best: tuple[np.ndarray, np.ndarray], scores: np.ndarray, ids: np.ndarray,
                 k: int = 10) -> tuple[np.ndarray, np.ndarray]:
    all_scores = np.hstack([best[0], scores])
    all_ids = np.hstack([best[1], np.broadcast_to(ids, scores.shape)])
    order = np.argsort(-all_scores, axis=1)[:, :k]
    return np.take_along_axis(all_scores, order, 1), np.take_along_axis(all_ids, order, 1)


def recall_at_10(found: np.ndarray, exact: np.ndarray) -> float:
    """The exact top-10's mean share of each row of `found` (its first 10, or more to be rescored)."""
    return float(np.mean([len(set(f) & set(e[:10])) / 10 for f, e in zip(found, exact)]))


def build_compressed(catalog: Catalog, dim: int, should_stop: Callable[[], bool] | None = None,
                     sample_size: int | None = None) -> tuple[CompressedIndex, BuildReport] | None:
    """Train an IVF-SQ8 base on the catalog's stored embeddings and fill it; None if told to stop.

    Reads with its own connection (`catalog` opened read-only in the building thread), in batches:
    changes made meanwhile are in the log after the position read first, and are replayed by
    whoever takes the result (`CompressedIndex.catch_up`). Recall@10 is measured on 200 stored
    vectors used as queries, against exact top-10 computed in the same pass.
    """
    started = time.perf_counter()
    with catalog.snapshot():
        generation, seq, n = catalog.generation, catalog.log_seq(), catalog.embedded_count()
    nlist = nlist_for(n)
    want = sample_size or min(n, 64 * nlist)
    step = max(1, n // max(1, want))
    sample: list[np.ndarray] = []
    for ids, vectors in catalog.iter_embeddings():
        sample.append(vectors[(ids % step) == 0] if step > 1 else vectors)
        if should_stop and should_stop():
            return None
    training = np.ascontiguousarray(np.vstack(sample) if sample else np.zeros((0, dim)), dtype=np.float32)
    if len(training) < nlist:
        return None
    rng = np.random.default_rng(0)
    queries = training[rng.choice(len(training), min(RECALL_QUERIES, len(training)), replace=False)]
    index = faiss.index_factory(dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
    index.train(training)
    del training, sample
    best = (np.full((len(queries), 10), -np.inf, dtype=np.float32), np.full((len(queries), 10), -1, np.int64))
    for ids, vectors in catalog.iter_embeddings():
        index.add_with_ids(vectors, ids)
        best = _top10_merge(best, queries @ vectors.T, ids[None, :])
        if should_stop and should_stop():
            return None
    recall, chosen = 0.0, NPROBES[-1]
    for nprobe in NPROBES:
        probe = faiss.SearchParametersIVF(nprobe=min(nprobe, nlist))
        _, found = index.search(queries, min(RESCORED, index.ntotal), params=probe)
        recall = recall_at_10(found, best[1])
        if recall >= RECALL_TARGET or nprobe >= nlist:
            chosen = min(nprobe, nlist)
            break
    index.nprobe = chosen
    store = CompressedIndex(index, _ids_of(index), VectorIndex.empty(dim), generation, seq, generation, seq,
                            recall_at_10=recall)
    return store, BuildReport(index.ntotal, nlist, chosen, round(recall, 4), time.perf_counter() - started)
