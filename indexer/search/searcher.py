"""Search an index in stages, each callable on its own: parse, retrieve, fuse, rerank, present, explain.

    text ─▶ parse ─▶ embed ─▶ retrieve: dense top-N ──┐
                              retrieve: BM25 top-N ───┴─▶ fuse ─▶ rerank (top few) ─▶ present (by file)
                                                                  explain: similarity, best sentences

`first_stage` runs parse → embed → retrieve → fuse once and keeps what it found in a `SearchRun`;
`rerank`, `present`, `similarity` and `mark_best_sentences` take that run, so one search parses
its query once, embeds it once and retrieves once, however many of the later stages follow
(the app shows the first-stage results at once, then the reranked order, then the explanations).
`search` chains the stages for the command line and the evaluation.

Filters, phrases and exclusions are applied inside both retrievers, so a filtered query
still fills its k results. Chunks not yet embedded are found by keywords and fused like
any other candidate. A `Searcher` only reads, and only through its `SearchStore`
(`indexer.store.search_store`): the local catalog and FAISS index (`LocalStore`, the default), or a
shared Milvus collection (`MilvusStore`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.config import Config
from indexer.datadir import DataDir, ModelMismatch
from indexer.ingest.chunking import sentence_spans
from indexer.search.highlight import highlight_spans, snippet_window
from indexer.search.name_only import name_rule, note
from indexer.search.query import Query, parse
from indexer.search.scores import (
    GOOD,
    Background,
    CosineScale,
    StageScores,
    dense_evidence,
    evidence,
    keyword_evidence,
    model_scale,
    relevance_of,
    rerank_relevance,
)
from indexer.store.catalog import ChunkRow, Unavailable
from indexer.store.search_store import SearchStore

if TYPE_CHECKING:
    from indexer.models.protocols import Embedder, Reranker
    from indexer.store.catalog import Catalog
    from indexer.store.keyword import KeywordSearch
    from indexer.store.vectors import VectorStore

MODES = ("dense", "keyword", "hybrid")
BACKGROUND_SAMPLE = 512  # stored embeddings that stand for "unrelated text" of this index
MAX_MARKED_SENTENCES = 16


class EmptyIndex(RuntimeError):
    """There is nothing to search yet."""


class Superseded(Exception):
    """The caller no longer wants this rerank (a newer search came in)."""


@dataclass
class Passage:
    chunk_id: int
    page: int | None
    score: float
    snippet: str
    char_start: int
    char_end: int
    scores: StageScores = field(default_factory=StageScores)  # per stage
    highlights: list[tuple[int, int]] = field(default_factory=list)  # query terms, in `snippet`
    best_sentence: tuple[int, int] | None = None  # in `snippet`
    relevance: float = 0.0  # 0..1, calibrated (`indexer.search.scores`); never increases down the results
    match: str = "weak"  # "good" when relevance >= scores.GOOD
    found_by: str = "content"  # "name": a file known only by its name (no text; see `name_only`)
    source: str = "text"  # where the passage's text came from: text, ocr (read from pixels) or name
    page_label: str | None = None  # what `page` is called: a sheet's name, a slide's title, a subject


@dataclass
class FileResult(Passage):
    path: str = ""
    container: str | None = None  # the file that carries this one (`message.eml` of `message.eml#a.pdf`)
    passages: list[Passage] = field(default_factory=list)  # more passages of the same file
    unavailable: str | None = None  # why its folder is out of reach (kept in the index), else None
    modified_ns: int | None = None  # the file's mtime, in a filter-only listing (newest first)

    def to_dict(self) -> dict:
        """JSON-ready; each `scores` names only the stages that ran (see `StageScores.to_dict`)."""
        out = asdict(self)
        out["scores"] = self.scores.to_dict()
        for passage, item in zip(self.passages, out["passages"]):
            item["scores"] = passage.scores.to_dict()
        return out


@dataclass(frozen=True)
class Candidate:
    """A chunk on its way through the stages: its scores so far, the score of the stage that ordered
    it (`final`), and its relevance (0..1; candidates are ordered by relevance, then `final`)."""

    chunk_id: int
    scores: StageScores
    final: float
    relevance: float = 0.0
    found_by: str = "content"


def by_relevance(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (-c.relevance, -c.final))


@dataclass
class Retrieved:
    """The retrievers' answers, best first: (chunk id, cosine) and (chunk id, BM25, higher is better)."""

    dense: list[tuple[int, float]] = field(default_factory=list)
    keyword: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class SearchRun:
    """One query's first stage, kept for the later stages: parsed once, embedded once, retrieved once."""

    text: str
    query: Query
    mode: str  # the mode actually used (keyword when there is no embedder)
    k: int
    vector: np.ndarray | None  # the query's embedding (None: keyword mode, or no free text)
    candidates: list[Candidate] = field(default_factory=list)  # fused, best first
    rows: dict[int, ChunkRow] = field(default_factory=dict)  # the candidates' chunks
    modified: dict[int, int] | None = None  # a filter-only listing: chunk id → its file's mtime_ns

    @property
    def empty(self) -> bool:
        """Nothing to search for: no words and no phrases."""
        return not (self.query.text.strip() or self.query.phrases)

    @property
    def listing(self) -> bool:
        """A filter-only query: its files newest first, not ranked by any score."""
        return self.modified is not None


@dataclass
class Similarity:
    """Cosine similarities of the query and the results (row/column 0 is the query)."""

    labels: list[str]
    matrix: np.ndarray


def _flatten(text: str) -> str:
    return re.sub(r"\s", " ", text)


class Searcher:
    """The stages of a search over one index (read only; one thread at a time).

    `store`: where the index is (default: the data dir's `LocalStore`); `data_dir` is then unused."""

    def __init__(self, data_dir: DataDir | None, embedder: Embedder | None, config: Config | None = None,
                 reranker: Reranker | None = None, store: SearchStore | None = None) -> None:
        if store is None:
            from indexer.store.local_store import LocalStore

            if data_dir is None or not data_dir.exists():
                where = data_dir.path if data_dir is not None else "the data dir"
                raise EmptyIndex(f"No index in {where} yet. Run `findling index FOLDER` first.")
            store = LocalStore(data_dir)
        self.data_dir = data_dir
        self.config = config or Config()
        self.store = store
        recorded = store.model()  # the vector index loads only when a search needs it
        if embedder is not None and recorded is not None and recorded != embedder.model_id:
            store.close()
            raise ModelMismatch(
                f"This index was built with the model {recorded!r}, but {embedder.model_id!r} is in use. "
                "Pass the same --model, or run `findling reindex`."
            )
        self.embedder = embedder
        self.reranker = reranker
        self._background: tuple[int, np.ndarray | None] | None = None  # (index size, sample)

    def close(self) -> None:
        self.store.close()

    # -- the local store's parts, for callers that inspect a local index ------------------------------
    @property
    def catalog(self) -> Catalog:
        return self._local().catalog

    @property
    def keyword(self) -> KeywordSearch:
        return self._local().keyword_search

    def vectors(self) -> VectorStore | None:
        """The local vector index, current with the catalog (reloaded or rebuilt in memory when not)."""
        return self._local().vector_index()

    def _local(self):  # noqa: ANN202 - a LocalStore, imported lazily
        from indexer.store.local_store import LocalStore

        if not isinstance(self.store, LocalStore):
            raise TypeError("This searcher reads a shared store, not a local catalog.")
        return self.store

    # -- stage 1: parse and embed ----------------------------------------------------------------------
    @staticmethod
    def parse(text: str) -> Query:
        return parse(text)

    def mode_for(self, mode: str | None) -> str:
        """The retrieval mode to use: `mode`, else the config's; keyword when there is no embedder."""
        mode = mode or self.config.search_mode
        if mode not in MODES:
            raise ValueError(f"Unknown search mode {mode!r}; use one of {', '.join(MODES)}.")
        return "keyword" if self.embedder is None and mode != "keyword" else mode

    def embed_query(self, text: str) -> np.ndarray:
        if self.embedder is None:
            raise RuntimeError("No embedder: dense search is unavailable.")
        return self.embedder.encode_queries([text])[0]

    def query_vector(self, run: SearchRun) -> np.ndarray | None:
        """The run's query embedding, made now if the first stage had none (keyword mode) and one can be."""
        if run.vector is None and run.query.text.strip() and self.embedder is not None:
            run.vector = self.embed_query(run.query.text)
        return run.vector

    # -- stage 2: retrieve -----------------------------------------------------------------------------
    def dense(self, query: Query, limit: int,
              query_vector: np.ndarray | None = None) -> list[tuple[int, float]]:
        """The `limit` nearest embedded chunks that pass the query's filters: (chunk id, cosine)."""
        if not query.text.strip() or self.embedder is None:
            return []
        vector = self.embed_query(query.text) if query_vector is None else query_vector
        return self.store.dense(vector, query, limit)

    def retrieve(self, query: Query, mode: str, limit: int, query_vector: np.ndarray | None) -> Retrieved:
        """Up to `limit` candidates from each retriever the mode uses."""
        dense = self.dense(query, limit, query_vector) if mode in ("dense", "hybrid") else []
        keyword = self.store.keyword(query, limit) if mode in ("keyword", "hybrid") else []
        return Retrieved(dense, keyword)

    # -- stage 3: fuse -----------------------------------------------------------------------------------
    def fuse(self, query: Query, retrieved: Retrieved, mode: str,
             query_vector: np.ndarray | None, rows: dict[int, ChunkRow] | None = None) -> list[Candidate]:
        """One list, best first by relevance (`indexer.search.scores`), from absolute signals only.

        Each candidate's signals: its cosine on the model's scale (`cosine_scale`, `dense_evidence`),
        and the share of the query's words it contains (`QueryTerms.coverage`, IDF-weighted).
        Dense mode uses the first, keyword mode the second, hybrid both, per file: a
        file scores with its best dense and its best keyword chunk (they need not be the same), and
        within a file chunks rank by their own evidence. Keyword-only candidates get their exact
        cosine from the stored embedding (none when not embedded yet). A file known only by its name
        follows `name_only`'s rule. `final` keeps each mode's own score: the cosine, BM25, or the
        fused evidence. `rows` (when given) receives the candidates' chunks.
        """
        dense, keyword = retrieved.dense, retrieved.keyword
        cosine = dict(dense) if mode != "keyword" else {}
        keyword_scores = dict(keyword) if mode != "dense" else {}
        candidates = list(dict.fromkeys([*cosine, *keyword_scores]))
        unscored = [i for i in keyword_scores if i not in cosine]
        if mode == "hybrid" and unscored and query_vector is not None:
            stored = self.store.vectors(unscored)
            cosine.update((i, float(v @ query_vector)) for i, v in stored.items())
        found = self.store.chunks(candidates)
        if rows is not None:
            rows.update(found)
        scale = self.cosine_scale(query_vector) if mode != "keyword" else None
        terms = self.store.query_terms(query) if mode != "dense" else None
        dense_of = {i: dense_evidence(c, scale) for i, c in cosine.items()} if scale else {}
        keyword_of = {i: keyword_evidence(terms.coverage(
                          found[i].text, "" if found[i].is_name else Path(found[i].path).name))
                      for i in candidates if i in found} if terms is not None else {}
        best_dense: dict[int, float] = {}
        best_keyword: dict[int, float] = {}
        for i in candidates:
            row = found.get(i)
            if row is None:
                continue
            f = row.file_id
            best_dense[f] = max(best_dense.get(f, 0.0), dense_of.get(i, 0.0))
            best_keyword[f] = max(best_keyword.get(f, 0.0), keyword_of.get(i, 0.0))
        w_dense, w_keyword = self.config.dense_weight, self.config.keyword_weight
        out: list[Candidate] = []
        for i in candidates:
            row = found.get(i)
            if row is None:
                continue
            own = evidence(dense_of.get(i), keyword_of.get(i), w_dense, w_keyword)
            file_evidence = evidence(best_dense[row.file_id] if dense_of else None,
                                     best_keyword[row.file_id] if keyword_of else None, w_dense, w_keyword)
            value = relevance_of(file_evidence)
            found_by = "content"
            if row.is_name:
                value, found_by = name_rule(value, query.text, row.text), "name"
            if mode == "dense":
                final = cosine[i]
            elif mode == "keyword":
                final = keyword_scores[i]
            else:
                final = file_evidence + 1e-3 * own
            scores = StageScores(cosine.get(i), keyword_scores.get(i), final if mode == "hybrid" else None)
            out.append(Candidate(i, scores, final, value, found_by))
        return by_relevance(out)

    def cosine_scale(self, query_vector: np.ndarray | None) -> CosineScale | None:
        """The embedder's measured cosine scale, else this query's background in this index."""
        scale = model_scale(self.embedder.model_id) if self.embedder is not None else None
        if scale is not None:
            return scale
        background = self.background(query_vector)
        return background.scale if background is not None else None

    def background(self, query_vector: np.ndarray | None) -> Background | None:
        """Where this query's cosine to unrelated passages of this index sits (`Background`)."""
        if query_vector is None:
            return None
        sample = self._background_sample()
        if sample is None:
            return None
        return Background.of(sample @ query_vector)

    def _background_sample(self) -> np.ndarray | None:
        """Up to `BACKGROUND_SAMPLE` stored embeddings drawn at random (fixed seed), drawn again
        when the index has grown or shrunk by a fifth since."""
        size = self.store.stats().passages
        if size == 0:
            return None
        if self._background is not None and abs(self._background[0] - size) <= size / 5:
            return self._background[1]
        sample = self.store.sample_vectors(BACKGROUND_SAMPLE)
        self._background = (size, sample)
        return sample

    def first_stage(self, text: str, k: int = 10, mode: str | None = None) -> SearchRun:
        """Parse, embed, retrieve and fuse: enough candidates for `k` files (the retrievers are asked
        for more until k distinct files are found or they run dry)."""
        mode = self.mode_for(mode)
        query = self.parse(text)
        run = SearchRun(text, query, mode, k, None)
        if run.empty:
            if query.lists_files:
                self.list_files(run)
            return run
        if mode != "keyword" and query.text.strip():
            run.vector = self.embed_query(query.text)
        limit = max(100, k * 2)  # candidates per retriever
        while True:
            run.rows = {}
            run.candidates = self.fuse(query, self.retrieve(query, mode, limit, run.vector), mode, run.vector,
                                       run.rows)
            files = {row.file_id for row in run.rows.values()}
            if len(files) >= k or len(run.candidates) < limit:
                return run
            limit *= 4

    def list_files(self, run: SearchRun) -> None:
        """A filter-only query's first stage: its k newest matching files, each by its first chunk."""
        newest = self.store.newest_files(run.query, run.k)
        run.modified = dict(newest)
        # every listed file meets the filters, which is all the query asks: a good match, not folded
        run.candidates = [Candidate(chunk_id, StageScores(), 0.0, 1.0) for chunk_id, _ in newest]
        run.rows = self.store.chunks(list(run.modified))

    # -- stage 4: rerank ---------------------------------------------------------------------------------
    def rerank(self, run: SearchRun, candidates: list[Candidate] | None = None,
               still_wanted: Callable[[], bool] | None = None, step: int = 0) -> list[Candidate]:
        """The top `rerank_top` candidates in the cross-encoder's order; the rest keep their order below.

        With `step`, pairs are scored that many at a time and `still_wanted()` is asked before each
        step: `Superseded` is raised as soon as it says no (the app's search thread gives way to a
        newer query instead of finishing seconds of reranking).
        """
        ranked = run.candidates if candidates is None else candidates
        top = [c for c in ranked[: self.config.rerank_top] if c.chunk_id in run.rows]
        if self.reranker is None or not top or run.listing:
            return ranked
        passages = [run.rows[c.chunk_id].text for c in top]
        scores = self._score_pairs(run.query.text, passages, still_wanted, step)
        rescored = []
        for c, r in zip(top, scores):
            row = run.rows[c.chunk_id]
            value = rerank_relevance(float(r))
            if row.is_name:
                value = name_rule(value, run.query.text, row.text)
            rescored.append(replace(c, scores=replace(c.scores, rerank=float(r)), final=float(r),
                                    relevance=value))
        rescored = by_relevance(rescored)
        floor = min(c.final for c in rescored) if rescored else 0.0
        lowest = min(c.relevance for c in rescored) if rescored else 1.0
        rest = [replace(c, final=floor - 1 - n, relevance=min(c.relevance, lowest))
                for n, c in enumerate(ranked[len(top):])]
        return rescored + rest

    def _score_pairs(self, query: str, passages: list[str], still_wanted: Callable[[], bool] | None,
                     step: int) -> np.ndarray:
        if step <= 0:
            return self.reranker.score(query, passages)
        parts = []
        for start in range(0, len(passages), step):
            if still_wanted is not None and not still_wanted():
                raise Superseded
            parts.append(self.reranker.score(query, passages[start:start + step]))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

    # -- stage 5: present ----------------------------------------------------------------------------------
    def present(self, run: SearchRun, candidates: list[Candidate] | None = None,
                passages_per_file: int = 3) -> list[FileResult]:
        """The run's k best files: the best passage per file first, then up to `passages_per_file`
        more passages of the same file; snippets with the query's words highlighted."""
        results: dict[int, FileResult] = {}
        out_of_reach = self.store.unavailable()
        for candidate in run.candidates if candidates is None else candidates:
            row = run.rows.get(candidate.chunk_id)
            if row is None:
                continue
            result = results.get(row.file_id)
            if result is None:
                if len(results) < run.k:
                    passage = self._passage(row, candidate, run.query)
                    results[row.file_id] = FileResult(**vars(passage), path=row.path, container=row.container,
                                                      unavailable=_out_of_reach(row.path, out_of_reach),
                                                      modified_ns=(run.modified or {}).get(row.id))
            elif len(result.passages) < passages_per_file:
                result.passages.append(self._passage(row, candidate, run.query))
        return list(results.values())

    def _passage(self, row: ChunkRow, candidate: Candidate, query: Query) -> Passage:
        match = "good" if candidate.relevance >= GOOD else "weak"
        if row.is_name:  # no text to show: say what the file is and how it was found
            return Passage(row.id, row.page, float(candidate.final), note(row.status, row.reason), 0, 0,
                           candidate.scores, [], None, candidate.relevance, match, "name", "name",
                           row.page_label)
        spans = highlight_spans(row.text, query)
        window, offset = snippet_window(row.text, spans[0][0] if spans else 0)
        in_window = [(s - offset, e - offset) for s, e in spans if s >= offset and e <= offset + len(window)]
        return Passage(row.id, row.page, float(candidate.final), _flatten(window), row.char_start,
                       row.char_end, candidate.scores, in_window, None, candidate.relevance, match,
                       candidate.found_by, row.source, row.page_label)

    # -- the whole search ----------------------------------------------------------------------------------
    def search(self, text: str, k: int = 10, mode: str | None = None, rerank: bool | None = None,
               passages_per_file: int = 3, mark_sentences: int = 3) -> list[FileResult]:
        """The k best files for `text`, each with its best passage and up to more passages: every stage."""
        return self.finish(self.first_stage(text, k, mode), rerank, passages_per_file, mark_sentences)

    def finish(self, run: SearchRun, rerank: bool | None = None, passages_per_file: int = 3,
               mark_sentences: int = 3) -> list[FileResult]:
        """The stages after the first: rerank, present and mark the best sentences.

        `rerank`: None reranks when a reranker is loaded. `mark_sentences`: for that many top
        results, mark the passage sentence closest to the query by embedding similarity (costs
        one small embedding batch).
        """
        if run.empty and not run.listing:
            return []
        candidates = run.candidates
        if self.reranker is not None and rerank is not False:
            candidates = self.rerank(run)
        results = self.present(run, candidates, passages_per_file)
        if mark_sentences and run.vector is not None:
            self.mark_best_sentences(results[:mark_sentences], run)
        return results

    # -- explain ---------------------------------------------------------------------------------------------
    def mark_best_sentences(self, results: list[FileResult], run: SearchRun) -> None:
        """Mark each result's passage sentence closest to the query (one embedding batch for all),
        and centre its snippet on that sentence."""
        query_vector = self.query_vector(run)
        results = [r for r in results if r.found_by == "content"]  # a name has no sentences
        if query_vector is None or not results:
            return
        rows = run.rows
        missing = [r.chunk_id for r in results if r.chunk_id not in rows]
        if missing:
            rows = {**rows, **self.store.chunks(missing)}
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
            result.highlights = [(s - offset, e - offset) for s, e in highlight_spans(text, run.query)
                                 if s >= offset and e <= offset + len(window)]
            result.best_sentence = (start - offset, min(end, offset + len(window)) - offset)

    def similarity(self, run: SearchRun | str, results: list[FileResult]) -> Similarity:
        """The query and each result's best passage: their cosine similarities, for the matrix view.

        `run`: the results' search (its query embedding is reused), or a query text to embed."""
        if isinstance(run, str):
            run = SearchRun(run, self.parse(run), "dense", len(results), None)
        ids = [r.chunk_id for r in results]
        stored = self.store.vectors(ids)
        missing = [i for i in ids if i not in stored]
        if missing:  # chunks not embedded yet
            rows = self.store.chunks(missing)
            stored.update(zip(missing, self.embedder.encode_passages([rows[i].text for i in missing])))
        vector = self.query_vector(run)
        if vector is None:
            vector = self.embed_query(run.query.text)
        matrix = np.vstack([vector] + [stored[i] for i in ids])
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)
        labels = ["query"] + [Path(r.path).name for r in results]
        return Similarity(labels, matrix @ matrix.T)


def _out_of_reach(path: str, unavailable: list[Unavailable]) -> str | None:
    """The reason `path` is out of reach when it is at or below an unavailable folder."""
    for folder in unavailable:
        if path == folder.path or path.startswith(folder.path.rstrip("/") + "/"):
            return folder.reason
    return None
