"""`similar`: the files closest in meaning to one indexed file, each with the passage pair that matches best.

A file's similarity to another is the cosine of their file vectors (the normalised mean of
their passage embeddings, `indexer.store.summaries`) once what the whole collection shares is
taken out (`indexer.similar.vectors`: mostly language and format), clipped to 0..1. With a
multilingual model a translation is close, since its passages mean the same. The explanation is the pair of
passages, one from each file, with the highest cosine. Only the catalog is read: no model runs,
and no file is opened. Files known only by their name have no vector and are never compared.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.datadir import DataDir
from indexer.paths import key
from indexer.search.scores import StageScores
from indexer.search.searcher import FileResult, Passage, snippet_window
from indexer.similar.vectors import FILE_VECTORS_FILE, FileVectors, load_file_vectors
from indexer.store import summaries
from indexer.store.catalog import Catalog, ChunkRow

DEFAULT_K = 10


class NotComparable(RuntimeError):
    """The file cannot be compared: not indexed, a folder, without text, or not embedded yet."""


@dataclass
class SimilarFile(FileResult):
    """A search result (its best passage is the one matching `source_passage` best) plus `similarity`."""

    similarity: float = 0.0
    source_passage: Passage | None = None

    def to_dict(self) -> dict:
        out = super().to_dict()
        if self.source_passage is not None:
            source = self.source_passage
            out["source_passage"] = {
                "chunk_id": source.chunk_id,
                "page": source.page,
                "snippet": source.snippet,
                "char_start": source.char_start,
                "char_end": source.char_end,
            }
        return out


@dataclass
class SimilarFiles:
    """What `similar` found for `path` (its stored key), best first."""

    path: str
    results: list[SimilarFile] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"path": self.path, "results": [r.to_dict() for r in self.results]}


def _passage(row: ChunkRow, similarity: float) -> Passage:
    window, offset = snippet_window(row.text, 0)
    return Passage(
        row.id,
        row.page,
        similarity,
        re.sub(r"\s", " ", window),
        row.char_start + offset,
        row.char_start + offset + len(window),
        StageScores(dense=similarity),
    )


class SimilarFinder:
    """Finds similar files in one data dir (read only). Keep one open to answer many requests."""

    def __init__(self, data_dir: DataDir) -> None:
        if not data_dir.exists():
            raise NotComparable(f"No index in {data_dir.path} yet. Run `findling index FOLDER` first.")
        self.data_dir = data_dir
        self.catalog = Catalog(data_dir.catalog_path, readonly=True)
        self._vectors: FileVectors | None = None

    def close(self) -> None:
        self.catalog.close()

    @property
    def vectors(self) -> FileVectors:
        stamp = summaries.stamp(self.catalog.conn)
        if self._vectors is None or self._vectors.stamp != stamp:
            self._vectors = load_file_vectors(self.catalog, self.data_dir.path / FILE_VECTORS_FILE)
        return self._vectors

    def _source(self, path: str) -> tuple[int, str, np.ndarray]:
        stored = key(os.path.abspath(os.path.expanduser(path)))
        row = self.catalog.file(stored)
        if row is None:
            if Path(path).is_dir():
                raise NotComparable(
                    f"{path} is a folder: `findling similar` compares one file with the others."
                )
            raise NotComparable(
                f"{path} is not in the index. Index its folder first (`findling index FOLDER`)."
            )
        passages, embedded = summaries.content_progress(self.catalog.conn, row.id)
        if not passages:
            why = f" ({row.reason})" if row.reason else ""
            raise NotComparable(
                f"{path} has no text in the index{why}: it is known only by its name, "
                "so there is nothing to compare."
            )
        vector = summaries.vector_of(self.catalog.conn, row.id)
        if vector is None and summaries.needs_backfill(self.catalog.conn):
            raise NotComparable(
                "This index was made by an earlier version and its files are still being "
                "summarised: run `findling index` (or let the app run) and ask again."
            )
        if vector is None:
            raise NotComparable(
                f"{path} is not embedded yet ({embedded} of {passages} passages): run "
                "`findling index` (or let the app finish) and ask again."
            )
        return row.id, row.path, vector

    def matrix(self, found: SimilarFiles) -> tuple[list[str], np.ndarray]:
        """(file names, cosines of their file vectors) of the source file (row 0) and its results."""
        rows = {int(i): n for n, i in enumerate(self.vectors.ids)}
        paths = [found.path] + [r.path for r in found.results]
        ids = [self.catalog.file(p) for p in paths]
        vectors = self.vectors.comparable(np.vstack([
            self.vectors.matrix[rows[f.id]] if f is not None and f.id in rows
            else np.zeros(self.vectors.matrix.shape[1], dtype=np.float32) for f in ids]))
        return [Path(p).name for p in paths], vectors @ vectors.T

    def similar(self, path: str, k: int = DEFAULT_K) -> SimilarFiles:
        """The `k` files most similar to `path` (never `path` itself), best first."""
        file_id, stored, vector = self._source(path)
        ranked = self.vectors.top(vector, k, exclude=file_id)
        found = SimilarFiles(stored)
        if not ranked:
            return found
        source_ids, source_matrix = summaries.passage_embeddings(self.catalog.conn, file_id)
        pairs: list[tuple[int, int, float]] = []
        for other, _ in ranked:
            ids, matrix = summaries.passage_embeddings(self.catalog.conn, other)
            if not len(ids):
                pairs.append((-1, -1, 0.0))
                continue
            scores = source_matrix @ matrix.T
            i, j = np.unravel_index(int(np.argmax(scores)), scores.shape)
            pairs.append((int(source_ids[i]), int(ids[j]), float(scores[i, j])))
        rows = self.catalog.chunks([c for pair in pairs for c in pair[:2] if c >= 0])
        files = summaries.files(self.catalog.conn, [other for other, _ in ranked])
        for (other, score), (source_chunk, chunk, pair_score) in zip(ranked, pairs):
            similarity = min(1.0, max(0.0, score))
            if chunk not in rows or other not in files:
                continue  # changed under us between two reads: left out rather than shown half
            best = _passage(rows[chunk], pair_score)
            found.results.append(
                SimilarFile(
                    best.chunk_id,
                    best.page,
                    similarity,
                    best.snippet,
                    best.char_start,
                    best.char_end,
                    StageScores(dense=similarity),
                    relevance=similarity,  # shown as the card's figure; a list of nearest files, not folded
                    match="good",
                    path=files[other].path,
                    similarity=similarity,
                    source_passage=_passage(rows[source_chunk], pair_score),
                )
            )
        return found
