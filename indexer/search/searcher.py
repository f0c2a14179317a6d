"""Search an index: dense (FAISS) and keyword (FTS5 BM25) retrieval, fusion, reranking, results.

    query ─▶ parse ─▶ dense top-N ─┐
                  └─▶ BM25 top-N ──┴─▶ weighted RRF ─▶ cross-encoder on the top few ─▶ group by file

Filters, phrases and exclusions are applied inside both retrievers, so a filtered query
still fills its k results. Chunks not yet embedded are found by keywords and fused like
any other candidate. A `Searcher` only reads: when the saved vector index is missing or
behind the catalog, it is rebuilt in memory.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

import faiss
import numpy as np

from indexer.config import Config
from indexer.datadir import DataDir, ModelMismatch
from indexer.ingest.chunking import sentence_spans
from indexer.models.embedding import Embedder
from indexer.models.rerank import Reranker
from indexer.search.query import Query, cjk_runs, fts_terms, has_cjk, parse
from indexer.store.catalog import Catalog, ChunkRow
from indexer.store.keyword import KeywordSearch
from indexer.store.vectors import VectorIndex

MODES = ("dense", "keyword", "hybrid")
SNIPPET_CHARS = 280
MAX_MARKED_SENTENCES = 16


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
    scores: dict[str, float | None] = field(default_factory=dict)  # per stage
    highlights: list[tuple[int, int]] = field(default_factory=list)  # query terms, in `snippet`
    best_sentence: tuple[int, int] | None = None  # in `snippet`


@dataclass
class FileResult(Passage):
    path: str = ""
    passages: list[Passage] = field(default_factory=list)  # more passages of the same file

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Similarity:
    """Cosine similarities of the query and the results (row/column 0 is the query)."""

    labels: list[str]
    matrix: np.ndarray


def highlight_spans(text: str, query: Query) -> list[tuple[int, int]]:
    """Where the query's words (prefix match, any case) and CJK runs occur in `text`."""
    # Words of 3+ letters also match as a prefix ("invoice" → "invoices"); shorter ones only whole.
    patterns = [re.escape(t) + (r"\w*" if len(t) >= 3 else r"(?!\w)")
                for t in fts_terms(query.text) if not has_cjk(t) and len(t) > 1]
    patterns += [re.escape(run) for run in cjk_runs(query.text)]
    if not patterns:
        return []
    regex = re.compile(r"(?<!\w)(?:" + "|".join(sorted(patterns, key=len, reverse=True)) + ")",
                       re.IGNORECASE)
    return [m.span() for m in regex.finditer(text)]


def snippet_window(text: str, focus: int, limit: int = SNIPPET_CHARS) -> tuple[str, int]:
    """A whitespace-normalised window of `text` around char `focus`; and its start in `text`."""
    start = max(0, min(focus - limit // 4, len(text) - limit))
    if start > 0:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < focus else start
    end = min(len(text), start + limit)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + limit // 2 else end
    return text[start:end], start


def _flatten(text: str) -> str:
    return re.sub(r"\s", " ", text)


def minmax(scores: dict[int, float]) -> dict[int, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {i: (v - low) / span if span > 0 else 1.0 for i, v in scores.items()}


class Searcher:
    def __init__(self, data_dir: DataDir, embedder: Embedder | None, config: Config | None = None,
                 reranker: Reranker | None = None) -> None:
        if not data_dir.exists():
            raise EmptyIndex(f"No index in {data_dir.path} yet. Run `findling index FOLDER` first.")
        self.data_dir = data_dir
        self.config = config or Config()
        self.catalog = Catalog(data_dir.catalog_path, readonly=True)
        recorded = self.catalog.meta_get("model")
        if embedder is not None and recorded is not None and recorded != embedder.model_id:
            raise ModelMismatch(
                f"This index was built with the model {recorded!r}, but {embedder.model_id!r} is in use. "
                "Pass the same --model, or run `findling reindex`."
            )
        self.embedder = embedder
        self.reranker = reranker
        self.keyword = KeywordSearch(self.catalog)
        self._vectors: VectorIndex | None = None

    def close(self) -> None:
        self.catalog.close()

    # -- retrieval ---------------------------------------------------------------------------------
    def vectors(self) -> VectorIndex | None:
        """The vector index, current with the catalog (reloaded or rebuilt in memory when not)."""
        dim = self.catalog.meta_get("dim")
        if dim is None:
            return None
        generation = self.catalog.generation
        if self._vectors is None or self._vectors.generation != generation:
            self._vectors, _ = VectorIndex.load(self.catalog, self.data_dir.vectors_path, int(dim))
        return self._vectors

    def embed_query(self, text: str) -> np.ndarray:
        if self.embedder is None:
            raise RuntimeError("No embedder: dense search is unavailable.")
        return self.embedder.encode_queries([text])[0]

    def dense(self, query: Query, limit: int,
              query_vector: np.ndarray | None = None) -> list[tuple[int, float]]:
        vectors = self.vectors()
        if vectors is None or vectors.size == 0 or not query.text.strip() or self.embedder is None:
            return []
        params = None
        if query.has_constraints:
            allowed = self.keyword.embedded_chunk_ids(query)
            if allowed.size == 0:
                return []
            selector = faiss.IDSelectorBatch(allowed)
            params = faiss.SearchParameters(sel=selector)
        vector = self.embed_query(query.text) if query_vector is None else query_vector
        scores, ids = vectors.search(vector[None, :], limit, params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def ranked(self, query: Query, mode: str, limit: int,
               query_vector: np.ndarray | None = None) -> list[tuple[int, dict[str, float | None]]]:
        """Chunk ids best first, with each stage's score."""
        dense = self.dense(query, limit, query_vector) if mode in ("dense", "hybrid") else []
        keyword = self.keyword.search(query, limit) if mode in ("keyword", "hybrid") else []
        if mode == "dense":
            return [(i, {"dense": s, "final": s}) for i, s in dense]
        if mode == "keyword":
            return [(i, {"keyword": s, "final": s}) for i, s in keyword]
        return self.fuse(query, dense, keyword, query_vector)

    def fuse(self, query: Query, dense: list[tuple[int, float]], keyword: list[tuple[int, float]],
             query_vector: np.ndarray | None) -> list[tuple[int, dict[str, float | None]]]:
        """Convex combination of normalised dense and keyword scores (Bruch et al., 2023), per file.

        Dense: cosine, min-max normalised over the candidates; keyword-only candidates get their
        exact cosine from the stored embedding (0 when not embedded yet). Keyword: BM25 divided
        by the score of a chunk matching every query word once (see `score_scale`), capped at 1,
        so weak matches stay weak. Unlike rank fusion, a keyword list of stray matches cannot push
        a clear dense winner down (cross-lingual queries). A file scores with its best dense and
        its best keyword chunk (they need not be the same); within a file, chunks rank by their
        own fused score.
        """
        cosine = dict(dense)
        unscored = [i for i, _ in keyword if i not in cosine]
        if unscored and query_vector is not None:
            stored = self.catalog.stored_embeddings(unscored)
            cosine.update((i, float(v @ query_vector)) for i, v in stored.items())
        dense_norm = minmax(cosine)
        scale = self.keyword.score_scale(query) if keyword else 1.0
        keyword_scores = dict(keyword)
        keyword_norm = {i: min(1.0, s / scale) for i, s in keyword}
        candidates = list(dict.fromkeys([*cosine, *keyword_scores]))
        file_of = self.catalog.file_ids(candidates)
        best_dense: dict[int, float] = {}
        best_keyword: dict[int, float] = {}
        for i in candidates:
            f = file_of.get(i)
            best_dense[f] = max(best_dense.get(f, 0.0), dense_norm.get(i, 0.0))
            best_keyword[f] = max(best_keyword.get(f, 0.0), keyword_norm.get(i, 0.0))
        w_dense, w_keyword = self.config.dense_weight, self.config.keyword_weight
        fused = {
            i: w_dense * best_dense[file_of.get(i)] + w_keyword * best_keyword[file_of.get(i)]
            + 1e-3 * (w_dense * dense_norm.get(i, 0.0) + w_keyword * keyword_norm.get(i, 0.0))
            for i in candidates
        }
        order = sorted(candidates, key=lambda i: -fused[i])
        return [(i, {"dense": cosine.get(i), "keyword": keyword_scores.get(i),
                     "fused": fused[i], "final": fused[i]}) for i in order]

    def rerank(self, query: Query, ranked: list, rows: dict[int, ChunkRow]) -> list:
        """Reorder the top candidates by cross-encoder score; the rest keep their order below."""
        top = [item for item in ranked[: self.config.rerank_top] if item[0] in rows]
        if self.reranker is None or not top:
            return ranked
        scores = self.reranker.score(query.text, [rows[i].text for i, _ in top])
        rescored = [(i, {**s, "rerank": float(r), "final": float(r)}) for (i, s), r in zip(top, scores)]
        rescored.sort(key=lambda item: -item[1]["final"])
        floor = min(r for _, r in ((i, s["final"]) for i, s in rescored)) if rescored else 0.0
        rest = [(i, {**s, "final": floor - 1 - n}) for n, (i, s) in enumerate(ranked[len(top):])]
        return rescored + rest

    # -- the whole search ------------------------------------------------------------------------------
    def search(self, text: str, k: int = 10, mode: str | None = None, rerank: bool | None = None,
               passages_per_file: int = 3, mark_sentences: int = 3) -> list[FileResult]:
        """The k best files for `text`, each with its best passage and up to more passages.

        `mark_sentences`: for that many top results, mark the passage sentence closest to the
        query by embedding similarity (costs one small embedding batch per result).
        """
        mode = mode or self.config.search_mode
        if mode not in MODES:
            raise ValueError(f"Unknown search mode {mode!r}; use one of {', '.join(MODES)}.")
        query = parse(text)
        if not (query.text.strip() or query.phrases):
            return []
        if self.embedder is None and mode != "keyword":
            mode = "keyword"
        use_rerank = self.reranker is not None if rerank is None else rerank and self.reranker is not None
        query_vector = self.embed_query(query.text) if mode != "keyword" and query.text.strip() else None
        limit = max(100, k * 2)  # candidates per retriever; grown below when files run short
        while True:
            ranked = self.ranked(query, mode, limit, query_vector)
            rows = self.catalog.chunks([i for i, _ in ranked])
            if use_rerank:
                ranked = self.rerank(query, ranked, rows)
            results = self._group(ranked, rows, query, k, passages_per_file)
            if len(results) >= k or len(ranked) < limit:
                break
            limit *= 4
        if mark_sentences and query_vector is not None:
            self.mark_best_sentences(results[:mark_sentences], rows, query, query_vector)
        return results

    def _passage(self, row: ChunkRow, scores: dict, query: Query) -> Passage:
        spans = highlight_spans(row.text, query)
        window, offset = snippet_window(row.text, spans[0][0] if spans else 0)
        in_window = [(s - offset, e - offset) for s, e in spans if s >= offset and e <= offset + len(window)]
        stage_scores = {key: value for key, value in scores.items() if key != "final"}
        return Passage(row.id, row.page, float(scores["final"]), _flatten(window), row.char_start,
                       row.char_end, stage_scores, in_window)

    def _group(self, ranked: list, rows: dict[int, ChunkRow], query: Query, k: int,
               passages_per_file: int) -> list[FileResult]:
        """Best passage per file first; up to `passages_per_file` more passages of the same file."""
        results: dict[int, FileResult] = {}
        for chunk_id, scores in ranked:
            row = rows.get(chunk_id)
            if row is None:
                continue
            result = results.get(row.file_id)
            if result is None:
                if len(results) < k:
                    passage = self._passage(row, scores, query)
                    results[row.file_id] = FileResult(**asdict(passage), path=row.path)
            elif len(result.passages) < passages_per_file:
                result.passages.append(self._passage(row, scores, query))
        return list(results.values())

    def mark_best_sentences(self, results: list[FileResult], rows: dict[int, ChunkRow], query: Query,
                            query_vector: np.ndarray) -> None:
        """Mark each result's passage sentence closest to the query (one embedding batch for all),
        and centre its snippet on that sentence."""
        spans = {r.chunk_id: list(islice(sentence_spans(rows[r.chunk_id].text), MAX_MARKED_SENTENCES))
                 for r in results}
        texts = [rows[i].text[s:e] for i, found in spans.items() if len(found) > 1 for s, e in found]
        vectors = iter(self.embedder.encode_passages(texts)) if texts and self.embedder else iter(())
        for result in results:
            text, found = rows[result.chunk_id].text, spans[result.chunk_id]
            if not found:
                continue
            best = 0
            if len(found) > 1:
                best = int(np.argmax([next(vectors) @ query_vector for _ in found]))
            start, end = found[best]
            window, offset = snippet_window(text, start)
            result.snippet = _flatten(window)
            result.highlights = [(s - offset, e - offset) for s, e in highlight_spans(text, query)
                                 if s >= offset and e <= offset + len(window)]
            result.best_sentence = (start - offset, min(end, offset + len(window)) - offset)

    def similarity(self, text: str, results: list[FileResult]) -> Similarity:
        """The query and each result's best passage: their cosine similarities, for the matrix view."""
        ids = [r.chunk_id for r in results]
        stored = self.catalog.stored_embeddings(ids)
        missing = [i for i in ids if i not in stored]
        if missing:  # chunks not embedded yet
            rows = self.catalog.chunks(missing)
            stored.update(zip(missing, self.embedder.encode_passages([rows[i].text for i in missing])))
        matrix = np.vstack([self.embed_query(parse(text).text)] + [stored[i] for i in ids])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)
        labels = ["query"] + [Path(r.path).name for r in results]
        return Similarity(labels, matrix @ matrix.T)
