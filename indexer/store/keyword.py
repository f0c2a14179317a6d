"""Keyword retrieval: FTS5 BM25 over chunk text and file names, and the query's SQL constraints.

User words are always quoted FTS5 strings, so no input can be FTS syntax. Chinese and
Japanese text, which `unicode61` cannot split into words, is matched by character
trigrams in `chunks_trigram` (only chunks that contain such text are stored there).
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

import numpy as np

from indexer.paths import key
from indexer.search.coverage import QueryTerms, query_units
from indexer.search.query import Query, cjk_runs, fts_terms, has_cjk, quote_fts

if TYPE_CHECKING:
    from indexer.store.catalog import Catalog

BM25_WEIGHTS = "1.0, 0.5"  # chunk text, file name
POSTINGS_BUDGET = 25_000  # postings one BM25 query ranks at most (~0.1 s), past its two rarest words
ALWAYS_KEPT = 2
FREQUENCIES_KEPT = 50_000  # terms whose document counts a searcher keeps


def _match_any(terms: list[str]) -> str:
    return " OR ".join(quote_fts(t) for t in dict.fromkeys(terms))


def _trigram_expression(text: str) -> tuple[str | None, list[str]]:
    """FTS5 expression over CJK trigrams, and the 1-2 character runs (too short for trigrams)."""
    grams: list[str] = []
    short: list[str] = []
    for run in cjk_runs(text):
        if len(run) < 3:
            short.append(run)
        grams += [run[i:i + 3] for i in range(len(run) - 2)]
    return (_match_any(grams) if grams else None), short


class KeywordSearch:
    """The full-text queries over one catalog, and the SQL form of a query's constraints."""

    def __init__(self, catalog: Catalog) -> None:
        self.conn = catalog.conn
        self._frequencies: dict[str, dict[str, int]] = {}  # vocab -> term -> documents, for one generation
        self._frequencies_of: str | None = None

    def constraints(self, query: Query) -> tuple[str, list]:
        """SQL over `c` (chunks) and `f` (files) for the query's filters, phrases and exclusions."""
        clauses: list[str] = []
        params: list = []
        if query.extensions:
            clauses.append("(" + " OR ".join("lower(f.name) LIKE ?" for _ in query.extensions) + ")")
            params += [f"%.{ext.lower()}" for ext in query.extensions]
        if query.folders:  # a range over the path index: the paths that start with the folder's
            clauses.append("(" + " OR ".join("(f.path >= ? AND f.path < ?)" for _ in query.folders) + ")")
            for folder in query.folders:
                prefix = key(folder).rstrip("/") + "/"
                params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        if query.after_ns is not None:
            clauses.append("f.mtime_ns >= ?")
            params.append(query.after_ns)
        if query.before_ns is not None:
            clauses.append("f.mtime_ns < ?")
            params.append(query.before_ns)
        for phrase in query.phrases:
            sql, args = self._containing(phrase)
            clauses.append(f"c.id IN ({sql})")
            params += args
        for word in query.excluded:
            sql, args = self._containing(word)
            clauses.append(f"c.id NOT IN ({sql})")
            params += args
        return (" AND ".join(clauses) or "1"), params

    def newest_files(self, query: Query, limit: int) -> list[tuple[int, int]]:
        """A filter-only query's files, newest first: (the file's first chunk id, its mtime_ns).

        The filters apply to the file; an exclusion drops a file when any of its chunks (or its
        name) contains the word."""
        clauses: list[str] = []
        params: list = []
        for word in query.excluded:
            sql, args = self._containing(word)
            clauses.append(f"f.id NOT IN (SELECT x.file_id FROM chunks x WHERE x.id IN ({sql}))")
            params += args
        filters, filter_params = self.constraints(query.file_filters())
        where = " AND ".join([filters, *clauses])
        newest = self.conn.execute(
            f"SELECT f.id, f.mtime_ns FROM files f WHERE {where} AND f.n_chunks > 0 "
            "ORDER BY f.mtime_ns DESC, f.path LIMIT ?", [*filter_params, *params, limit]).fetchall()
        found = []
        for file_id, mtime in newest:  # k lookups on chunks(file_id, ordinal)
            first = self.conn.execute("SELECT id FROM chunks WHERE file_id = ? ORDER BY ordinal LIMIT 1",
                                      (file_id,)).fetchone()
            if first is not None:
                found.append((int(first[0]), int(mtime)))
        return found

    def passing_chunk_ids(self, query: Query) -> np.ndarray:
        """Ids of the chunks that pass the query's filters, phrases and exclusions (embedded or not:
        the vector index holds only embedded ones). Chunk ids come from the `chunks_file` index."""
        where, params = self.constraints(query)
        rows = self.conn.execute(f"SELECT c.id FROM files f JOIN chunks c ON c.file_id = f.id WHERE {where}",
                                 params)
        return np.fromiter((row[0] for row in rows), dtype=np.int64)

    def passing_share(self, query: Query) -> float | None:
        """About which share of the chunks pass the query's filters: the share of files they pass
        (counted on the path index for `in:`; a file's chunk count would cost a row read per file);
        None when a phrase decides (a phrase is counted only by matching it)."""
        if query.phrases:
            return None
        total = self.conn.execute("SELECT count(*) FROM files").fetchone()[0]
        if not total:
            return 0.0
        where, params = self.constraints(query.file_filters())
        passing = self.conn.execute(f"SELECT count(*) FROM files f WHERE {where}", params).fetchone()[0]
        return min(1.0, passing / total)

    def passing(self, query: Query, chunk_ids: list[int]) -> set[int]:
        """Which of `chunk_ids` pass the query's filters, phrases and exclusions."""
        if not chunk_ids:
            return set()
        where, params = self.constraints(query)
        rows = self.conn.execute(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id "
            f"WHERE c.id IN (SELECT value FROM json_each(?)) AND {where}",
            [json.dumps(chunk_ids), *params])
        return {row[0] for row in rows}

    def _containing(self, text: str) -> tuple[str, list]:
        """Chunk ids whose text (or file name) contains `text` as a phrase."""
        if has_cjk(text):
            if len(text) >= 3:  # a quoted trigram string matches as a substring
                return "SELECT rowid FROM chunks_trigram WHERE chunks_trigram MATCH ?", [quote_fts(text)]
            return "SELECT rowid FROM chunks_trigram WHERE instr(text, ?) > 0", [text]
        terms = fts_terms(text)
        if not terms:
            return "SELECT NULL WHERE 0", []
        return "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?", [quote_fts(" ".join(terms))]

    def search(self, query: Query, limit: int) -> list[tuple[int, float]]:
        """(chunk id, BM25 score, higher is better) for chunks matching any query word."""
        where, params = self.constraints(query)
        words = [w for w in fts_terms(" ".join(query.words + query.phrases)) if not has_cjk(w)]
        hits: dict[int, float] = {}
        if has_cjk(query.text):
            expression, short = _trigram_expression(query.text)
            if expression:
                hits.update(self._ranked("chunks_trigram", "1.0", expression, where, params, limit))
            for run in short:
                rows = self.conn.execute(
                    "SELECT c.id FROM chunks_trigram t JOIN chunks c ON c.id = t.rowid "
                    f"JOIN files f ON f.id = c.file_id WHERE instr(t.text, ?) > 0 AND {where} LIMIT ?",
                    [run, *params, limit],
                ).fetchall()
                for (chunk_id,) in rows:
                    hits.setdefault(chunk_id, 0.0)
        words = self._informative(words)
        if words:
            for chunk_id, score in self._ranked("chunks_fts", BM25_WEIGHTS, _match_any(words), where,
                                                params, limit):
                hits.setdefault(chunk_id, score)
        return sorted(hits.items(), key=lambda item: -item[1])[:limit]

    def _informative(self, words: list[str]) -> list[str]:
        """The words BM25 retrieval matches on: the rarest first, within `POSTINGS_BUDGET`.

        Words found in more than half the chunks go: FTS5 gives them an IDF of ~0, so they change
        no score, but matching them makes BM25 rank nearly every chunk. Then the rarest words are
        kept until their postings reach the budget (the two rarest always): BM25 costs a few µs a
        posting, and in a large index a common word's postings cost more than its small IDF adds.
        Retrieval only; fusion still weighs every query word (`query_terms`). Words the index
        lacks match nothing and go too. All words are kept if none is left."""
        words = list(dict.fromkeys(words))
        if len(words) < 2:
            return words
        total = self._rows("chunks_fts")
        df = self._document_frequencies("chunks_vocab", words)
        kept = [w for w in words if 0 < df.get(w, 0) <= total / 2]
        if not kept:
            return words
        chosen: set[str] = set()
        postings = 0
        for word in sorted(kept, key=lambda w: df[w]):
            if len(chosen) >= ALWAYS_KEPT and postings + df[word] > POSTINGS_BUDGET:
                break
            chosen.add(word)
            postings += df[word]
        return [w for w in kept if w in chosen]

    def _rows(self, table: str) -> int:
        """Rows of an FTS table. `count(*)` on FTS5 reads every row (0.4 s at a million chunks);
        `chunks_fts` holds one row per chunk, which the chunks table counts from a b-tree."""
        if table == "chunks_fts":
            return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return self.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]

    def _document_frequencies(self, vocab: str, terms: list[str]) -> dict[str, int]:
        """Chunks containing each term (the terms the index has). fts5vocab counts a term by reading
        its postings (about 1 ms for a common word in 100k chunks), so counts are kept until the
        catalog's generation changes."""
        generation = self.conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
        if generation is None or generation[0] != self._frequencies_of:
            self._frequencies, self._frequencies_of = {}, generation[0] if generation else None
        known = self._frequencies.setdefault(vocab, {})
        missing = [t for t in dict.fromkeys(terms) if t not in known]
        if missing:
            if len(known) > FREQUENCIES_KEPT:
                known.clear()
            marks = ",".join("?" * len(missing))
            found = dict(self.conn.execute(f"SELECT term, doc FROM {vocab} WHERE term IN ({marks})", missing))
            known.update((t, int(found.get(t, 0))) for t in missing)
        return {t: known[t] for t in terms if known[t]}

    def _ranked(self, table: str, weights: str, expression: str, where: str, params: list,
                limit: int) -> list[tuple[int, float]]:
        rank = f"bm25({table}, {weights})"
        if where == "1":  # no filters: skip the joins
            sql = f"SELECT rowid, -{rank} FROM {table} WHERE {table} MATCH ? ORDER BY {rank} LIMIT ?"
        else:
            sql = (f"SELECT c.id, -{rank} FROM {table} JOIN chunks c ON c.id = {table}.rowid "
                   f"JOIN files f ON f.id = c.file_id WHERE {table} MATCH ? AND {where} "
                   f"ORDER BY {rank} LIMIT ?")
        rows = self.conn.execute(sql, [expression, *params, limit]).fetchall()
        return [(int(chunk_id), float(score)) for chunk_id, score in rows]

    def score_scale(self, query: Query) -> float:
        """The BM25 score of a chunk that matches every query word once: the sum of their IDFs.

        A word the index has never seen counts with the highest IDF, so a German or Chinese
        question over English text gets a large scale and its stray matches small normalised
        scores. FTS5's IDF formula is used, so scores divided by this land near [0, 1].
        """
        words = [t for t in dict.fromkeys(fts_terms(query.text)) if not has_cjk(t)]
        grams = list(dict.fromkeys(
            g for run in cjk_runs(query.text) for g in (run[i:i + 3] for i in range(len(run) - 2))))
        scale = self._idf_sum("chunks_fts", "chunks_vocab", words)
        scale += self._idf_sum("chunks_trigram", "chunks_trigram_vocab", grams)
        return scale or 1.0

    def _idf_sum(self, table: str, vocab: str, terms: list[str]) -> float:
        return sum(self._idfs(table, vocab, terms).values())

    def _idfs(self, table: str, vocab: str, terms: list[str]) -> dict[str, float]:
        """FTS5's IDF of each term (a term the index lacks gets the highest)."""
        if not terms:
            return {}
        total = self._rows(table)
        known = self._document_frequencies(vocab, terms)
        return {t: max(1e-6, math.log((total - known.get(t, 0) + 0.5) / (known.get(t, 0) + 0.5)))
                for t in terms}

    def query_terms(self, query: Query) -> QueryTerms:
        """The query's words and CJK pieces weighted by their IDF here, for `QueryTerms.coverage`."""
        words, pieces = query_units(query.text)
        weights = self._idfs("chunks_fts", "chunks_vocab", words)
        grams = [p for p in pieces if len(p) == 3]
        weights.update(self._idfs("chunks_trigram", "chunks_trigram_vocab", grams))
        if len(grams) < len(pieces):  # one- or two-character runs: no trigram statistics, a middling weight
            middling = max(weights.values(), default=1.0)
            weights.update({p: middling for p in pieces if len(p) < 3})
        return QueryTerms(weights, frozenset(pieces))
