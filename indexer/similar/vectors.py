"""Every file's vector as one matrix, cached beside the catalog and rebuilt from it when stale.

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


@dataclass(frozen=True)
class FileVectors:
    """File ids and their unit vectors (one row each), as of `stamp`."""

    ids: np.ndarray
    matrix: np.ndarray
    stamp: str

    def __len__(self) -> int:
        return len(self.ids)

    def top(self, vector: np.ndarray, k: int, exclude: int | None = None) -> list[tuple[int, float]]:
        """The `k` files most similar to `vector` (cosine), best first, `exclude` left out."""
        if not len(self.ids):
            return []
        scores = self.matrix @ np.asarray(vector, dtype=np.float32)
        if exclude is not None:
            scores[self.ids == exclude] = -np.inf
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        best = np.argpartition(-scores, k - 1)[:k]
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(self.ids[i]), float(scores[i])) for i in best]


def _read(path: Path) -> FileVectors | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            return FileVectors(data["ids"], data["matrix"], str(data["stamp"]))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None


def _save(vectors: FileVectors, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as fh:
            np.savez(fh, ids=vectors.ids, matrix=vectors.matrix, stamp=np.array(vectors.stamp))
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
    vectors = FileVectors(ids, np.ascontiguousarray(matrix, dtype=np.float32), stamp)
    _save(vectors, cache)
    return vectors
