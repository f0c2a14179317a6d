"""Every file's vector as one matrix, cached beside the catalog and rebuilt from it when stale.

`similar` compares files after removing what the whole collection shares ("all but the top",
Mu & Viswanath 2018): the mean of a sample of its passages and their `COMPONENTS` main
directions, which in a multilingual collection are mostly language and format. Without that,
a German man page's nearest files are other German man pages rather than its translations
(measured by benchmarks/bench_similar.py on Debian's translated man pages: translations in the
top 10 went from 26 % to 53 %). A collection of fewer than `MIN_PASSAGES` passages is compared
as it is: its directions would be its topics. Duplicates use the plain cosine (`matrix`).

The cache (`FILE_VECTORS_FILE`, NumPy's `.npz`) carries the catalog's summary stamp
(`indexer.store.summaries.stamp`); a copy with another stamp, or one that cannot be read, is
rebuilt from the `file_vectors` table and saved again (atomically) when the data dir can be
written. Like the passage index, it is a cache: the catalog stays the truth.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.private import FILE_MODE
from indexer.store import summaries
from indexer.store.catalog import Catalog

FILE_VECTORS_FILE = "file_vectors.npz"
COMPONENTS = 16
MIN_PASSAGES = 1000
SAMPLE_PASSAGES = 20_000


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class FileVectors:
    """File ids and their unit mean-passage vectors (one row each), as of `stamp`; with the collection's
    passage mean and main directions (`components`, empty when not removed) that `similar` takes out."""

    ids: np.ndarray
    matrix: np.ndarray
    stamp: str
    mean: np.ndarray | None = None
    components: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compared", self.comparable(self.matrix) if len(self.ids) else self.matrix)

    def __len__(self) -> int:
        return len(self.ids)

    def comparable(self, rows: np.ndarray) -> np.ndarray:
        """`rows` (file vectors) as `similar` compares them: unit length, the collection's share removed."""
        rows = np.atleast_2d(np.asarray(rows, dtype=np.float32))
        if self.mean is None or self.components is None or not len(self.components):
            return _unit(rows)
        centred = rows - self.mean
        return _unit(centred - (centred @ self.components.T) @ self.components)

    def top(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[tuple[int, float]]:
        """The `k` files most similar to `vector` (cosine), best first, `exclude` left out."""
        if not len(self.ids):
            return []
        scores = self._compared @ self.comparable(vector)[0]
        if exclude is not None:
            scores[self.ids == exclude] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in best]


def shared_directions(sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean and the `COMPONENTS` main directions of a passage sample (none below `MIN_PASSAGES`)."""
    if len(sample) < MIN_PASSAGES:
        dim = sample.shape[1] if sample.ndim == 2 else 0
        return np.zeros(dim, dtype=np.float32), np.zeros((0, dim), dtype=np.float32)
    mean = sample.mean(axis=0)
    _, _, directions = np.linalg.svd(sample - mean, full_matrices=False)
    return mean.astype(np.float32), directions[:COMPONENTS].astype(np.float32)


def _read(path: Path) -> FileVectors | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return FileVectors(data["ids"], data["matrix"], str(data["stamp"]), data["mean"],
                               data["components"])
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def _save(vectors: FileVectors, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as fh:
            np.savez(fh, ids=vectors.ids, matrix=vectors.matrix, stamp=np.array(vectors.stamp),
                     mean=vectors.mean, components=vectors.components)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:  # a read-only data dir: the next reader rebuilds it again
        tmp.unlink(missing_ok=True)


def load_file_vectors(catalog: Catalog, cache: Path) -> FileVectors:
    """The cached file vectors when current with the catalog, else rebuilt (and the cache saved)."""
    stamp = summaries.stamp(catalog.conn)
    saved = _read(cache)
    if saved is not None and saved.stamp == stamp:
        return saved
    ids, matrix = summaries.all_vectors(catalog.conn)
    mean, components = shared_directions(summaries.sample_passages(catalog.conn, SAMPLE_PASSAGES))
    vectors = FileVectors(ids, np.ascontiguousarray(matrix, dtype=np.float32), stamp, mean, components)
    _save(vectors, cache)
    return vectors
