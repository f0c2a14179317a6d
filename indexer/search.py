"""Search an index: embed the query, find the nearest chunks, group them by file.

A `Searcher` only reads. When the saved vector index is missing or behind the catalog
(a writer is busy, or crashed), it rebuilds the index in memory from the catalog.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from indexer.catalog import Catalog, ChunkRow
from indexer.datadir import DataDir, ModelMismatch
from indexer.models import Embedder
from indexer.vectors import VectorIndex

SNIPPET_CHARS = 280


class EmptyIndex(RuntimeError):
    """There is nothing to search yet."""


@dataclass
class Passage:
    chunk_id: int
    page: int | None
    score: float
    snippet: str
    char_start: int
    char_end: int


@dataclass
class FileResult:
    path: str
    page: int | None
    score: float
    snippet: str
    chunk_id: int
    passages: list[Passage] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat.rfind(" ", 0, limit)
    return flat[: cut if cut > limit // 2 else limit].rstrip(" ,;:") + " …"


def group_by_file(
    ranked: list[tuple[int, float]], rows: dict[int, ChunkRow], k: int, passages_per_file: int
) -> list[FileResult]:
    """Best passage per file first; up to `passages_per_file` more passages of the same file."""
    results: dict[int, FileResult] = {}
    for chunk_id, score in ranked:
        row = rows.get(chunk_id)
        if row is None:
            continue
        passage = Passage(chunk_id, row.page, float(score), snippet(row.text), row.char_start, row.char_end)
        result = results.get(row.file_id)
        if result is None:
            if len(results) >= k:
                continue
            results[row.file_id] = FileResult(row.path, row.page, float(score), passage.snippet, chunk_id)
        elif len(result.passages) < passages_per_file:
            result.passages.append(passage)
    return list(results.values())


class Searcher:
    def __init__(self, data_dir: DataDir, embedder: Embedder) -> None:
        if not data_dir.exists():
            raise EmptyIndex(f"No index in {data_dir.path} yet. Run `findling index FOLDER` first.")
        self.data_dir = data_dir
        self.catalog = Catalog(data_dir.catalog_path, readonly=True)
        recorded = self.catalog.meta_get("model")
        if recorded is not None and recorded != embedder.model_id:
            raise ModelMismatch(
                f"This index was built with the model {recorded!r}, but {embedder.model_id!r} is in use. "
                "Pass the same --model, or run `findling reindex`."
            )
        self.embedder = embedder
        self._vectors: VectorIndex | None = None

    def close(self) -> None:
        self.catalog.close()

    def vectors(self) -> VectorIndex | None:
        """The vector index, current with the catalog (reloaded or rebuilt in memory when not)."""
        dim = self.catalog.meta_get("dim")
        if dim is None:
            return None
        generation = self.catalog.generation
        if self._vectors is None or self._vectors.generation != generation:
            self._vectors, _ = VectorIndex.load(self.catalog, self.data_dir.vectors_path, int(dim))
        return self._vectors

    def dense(self, query: str, limit: int) -> list[tuple[int, float]]:
        vectors = self.vectors()
        if vectors is None or vectors.size == 0:
            return []
        query_vector = self.embedder.encode_queries([query])
        scores, ids = vectors.search(query_vector, limit)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def search(self, query: str, k: int = 10, passages_per_file: int = 3) -> list[FileResult]:
        if not query.strip():
            return []
        limit = max(50, k * 8)
        while True:
            ranked = self.dense(query, limit)
            rows = self.catalog.chunks([chunk_id for chunk_id, _ in ranked])
            results = group_by_file(ranked, rows, k, passages_per_file)
            exhausted = len(ranked) < limit
            if len(results) >= k or exhausted:
                return results
            limit *= 4
