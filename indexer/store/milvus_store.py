"""The shared search store: a Milvus collection (`milvus_schema`) read through `pymilvus`.

`MilvusStore` answers the `SearchStore` calls with no local catalog: dense search on `vector`
(inner product of unit vectors: the cosine), BM25 on `sparse` (Milvus's BM25 function over
`terms`), rows and vectors by chunk id. The query's filters become a Milvus filter expression:
`type:` a suffix LIKE on the lower-case name, `in:` a prefix LIKE on the path (checked exactly
afterwards, as `_` is a LIKE wildcard), `after:`/`before:` comparisons on mtime, a phrase a
LIKE on the padded `terms` (its folded words in order, as FTS5 matches a phrase; a CJK phrase a
substring of the text), `-word` `not text_match(terms, word)`.

Fusion's keyword signal weighs each query word by its IDF (FTS5's formula); here the document
frequencies are Milvus's own, counted live with `text_match` (one count per query term, kept
until the passage count or the writer's generation changes), over the same folded terms the
local index counts: no statistics to ship or keep in step.

`path_map` (config) maps the writer's path prefixes to where the share is mounted here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from indexer.paths import key
from indexer.search.coverage import QueryTerms, query_units
from indexer.search.query import Query, cjk_runs, has_cjk
from indexer.store.catalog import ChunkRow, Unavailable
from indexer.store.errors import StoreEmpty, StoreUnavailable
from indexer.store.milvus_schema import (
    PASSAGE_FIELDS,
    SCHEMA_VERSION,
    cjk_pieces,
    meta_collection,
    words,
)
from indexer.store.search_store import StoreStats
from indexer.store.store_uri import StoreTarget

if TYPE_CHECKING:
    from pymilvus import MilvusClient

MAX_TOPK = 16_384  # Milvus's limit on one search's results
COUNT_TTL = 10.0  # seconds a passage count is reused
CONNECT_TIMEOUT = 10.0
LITE_GRPC_OPTIONS = {"grpc.keepalive_time_ms": 2**31 - 1, "grpc.keepalive_permit_without_calls": False}


def milvus_errors() -> tuple[type[BaseException], ...]:
    """What pymilvus raises when the server is unreachable or refuses a call."""
    import grpc
    from pymilvus.exceptions import MilvusException

    return (MilvusException, grpc.RpcError, OSError, ConnectionError)


def connect(target: StoreTarget) -> MilvusClient:
    """A client for the target; StoreUnavailable (with the reason) when it cannot be had."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise StoreUnavailable(
            "A shared index needs the Milvus client: pip install 'findling[milvus]'.") from exc
    # their own logging prints tracebacks (Milvus Lite's server runs in this process: grpc._server
    # logs what it does not implement, such as the iterators' AllocTimestamp); our message says it
    for name in ("pymilvus", "milvus_lite", "grpc._server"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        if target.lite:  # in this process: no keepalive pings (its server answers them with GOAWAY)
            return MilvusClient(target.uri, grpc_options=LITE_GRPC_OPTIONS)
        return MilvusClient(uri=target.uri, token=target.token, timeout=CONNECT_TIMEOUT)
    except milvus_errors() as exc:
        if target.lite:
            raise StoreUnavailable(
                f"The shared index {target.shown} cannot be opened ({_reason(exc)}): Milvus Lite serves "
                "one process at a time, so another one may have it open.") from exc
        raise StoreUnavailable(f"The shared index {target.shown} cannot be reached: {_reason(exc)}") from exc
    except Exception as exc:  # noqa: BLE001 - Milvus Lite reports a locked or broken file this way
        raise StoreUnavailable(f"The shared index {target.shown} cannot be opened: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    text = str(getattr(exc, "message", "") or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def quote(text: str) -> str:
    """A Milvus filter string literal."""
    return json.dumps(text, ensure_ascii=False)


def _int64(value: int) -> int:
    """A time in ns as Milvus's INT64 holds it (a date past 2262 is the largest)."""
    return max(-(2**63), min(int(value), 2**63 - 1))


def _like_literal(text: str) -> str:
    """`text` with LIKE's wildcards made harmless: replaced by `_`, which matches one character
    (a looser match, checked exactly where it matters)."""
    return text.replace("%", "_")


def load(client: MilvusClient, *collections: str) -> None:
    """Load collections for search (a server, or Milvus Lite in a new process, keeps them released)."""
    for name in collections:
        if client.has_collection(name):
            client.load_collection(name)


def read_meta(client: MilvusClient, collection: str) -> dict[str, str]:
    rows = client.query(meta_collection(collection), filter='key != ""', output_fields=["key", "value"])
    return {row["key"]: row["value"] for row in rows}


class PathMap:
    """The writer's path prefixes → this machine's (config `path_map`)."""

    def __init__(self, mapping: dict[str, str] | None) -> None:
        self.pairs = [(k.rstrip("/") + "/", v.rstrip("/") + "/") for k, v in (mapping or {}).items()]

    def to_reader(self, path: str | None) -> str | None:
        for writer, reader in self.pairs:
            if path is not None and (path + "/").startswith(writer):
                return (reader + (path + "/")[len(writer):]).rstrip("/")
        return path

    def to_writer(self, path: str) -> str:
        for writer, reader in self.pairs:
            if (path + "/").startswith(reader):
                return (writer + (path + "/")[len(reader):]).rstrip("/")
        return path


class MilvusStore:
    """`SearchStore` over a shared Milvus collection (read only)."""

    def __init__(self, target: StoreTarget, path_map: dict[str, str] | None = None,
                 client: MilvusClient | None = None) -> None:
        self.target = target
        self.collection = target.collection
        self.client = client or connect(target)
        self.paths = PathMap(path_map)
        self._rows: dict[int, dict[str, Any]] = {}
        self._count: tuple[float, int] | None = None
        self._frequencies: dict[str, int] = {}  # term → passages holding it, while `_as_of` holds
        self._as_of: tuple[int, str | None] | None = None  # (passages, generation) they were counted at
        self._files: tuple[tuple[int, str | None] | None, int] | None = None  # (`_as_of`, files) when counted
        meta = self._call(self._open)
        if not meta.get("model"):
            self.close()
            raise StoreEmpty(f"No shared index in {target.shown} yet. "
                             f"Run `findling --store {target.shown} index FOLDER` on the writer first.")
        if int(meta.get("schema_version", SCHEMA_VERSION)) > SCHEMA_VERSION:
            self.close()
            raise StoreUnavailable(f"The shared index {target.shown} was made by a newer Findling.")
        self.meta = meta

    def _open(self) -> dict[str, str]:
        if not self.client.has_collection(meta_collection(self.collection)):
            return {}
        load(self.client, self.collection, meta_collection(self.collection))
        return read_meta(self.client, self.collection)

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a client that lost its server
            self.client.close()

    def _call(self, fn):  # noqa: ANN001, ANN202
        try:
            return fn()
        except milvus_errors() as exc:
            raise StoreUnavailable(f"The shared index {self.target.shown} cannot be reached: "
                                   f"{_reason(exc)}") from exc

    # -- what the store is --------------------------------------------------------------------------
    def stats(self) -> StoreStats:
        dim = self.meta.get("dim")
        return StoreStats(self.model(), int(dim) if dim else None, self.count(), "milvus")

    def model(self) -> str | None:
        return self.meta.get("model")

    def count(self, expression: str = "") -> int:
        if not expression and self._count is not None and time.monotonic() - self._count[0] < COUNT_TTL:
            return self._count[1]
        rows = self._call(lambda: self.client.query(self.collection, filter=expression,
                                                    output_fields=["count(*)"]))
        value = int(rows[0]["count(*)"]) if rows else 0
        if not expression:
            self._count = (time.monotonic(), value)
            generation = self._call(lambda: read_meta(self.client, self.collection)).get("generation")
            if self._as_of != (value, generation):  # the writer changed the collection: count again
                self._frequencies.clear()
                self._as_of = (value, generation)
        return value

    def file_count(self) -> int:
        """How many files the shared index holds passages of (a scan of the file ids, kept until the
        writer changes the collection)."""
        self.count()  # brings `_as_of` up to date
        if self._files is None or self._files[0] != self._as_of:
            files = {int(r["file_id"]) for r in self._iterate("id >= 0", ["file_id"])}
            self._files = (self._as_of, len(files))
        return self._files[1]

    # -- filters ------------------------------------------------------------------------------------
    def expression(self, query: Query) -> str:
        """The query's filters, phrases and exclusions as a Milvus filter expression ("" for none)."""
        clauses: list[str] = []
        if query.extensions:
            clauses.append("(" + " or ".join(f"name like {quote('%.' + _like_literal(e.lower()))}"
                                             for e in query.extensions) + ")")
        if query.folders:
            clauses.append("(" + " or ".join(f"path like {quote(_like_literal(p) + '%')}"
                                             for p in self._prefixes(query)) + ")")
        if query.after_ns is not None:
            clauses.append(f"mtime >= {_int64(query.after_ns)}")
        if query.before_ns is not None:
            clauses.append(f"mtime < {_int64(query.before_ns)}")
        for phrase in query.phrases:
            clauses.append(self._containing(phrase))
        for word in query.excluded:
            clauses.append(f"not ({self._containing(word)})")
        return " and ".join(clauses)

    def _prefixes(self, query: Query) -> list[str]:
        return [self.paths.to_writer(key(folder).rstrip("/")) + "/" for folder in query.folders]

    def _containing(self, text: str) -> str:
        """Passages whose terms hold `text` as a phrase (its words in a row; CJK as a substring)."""
        if has_cjk(text):
            runs = cjk_runs(text)
            return " and ".join(f"text like {quote('%' + _like_literal(run) + '%')}" for run in runs)
        folded = words(text)
        if not folded:
            return "false"
        if len(folded) == 1:
            return f"text_match(terms, {quote(folded[0])})"
        return f"terms like {quote('% ' + ' '.join(folded) + ' %')}"

    def _passes(self, query: Query, row: dict[str, Any]) -> bool:
        """What the expression could only approximate: the `in:` prefixes, exactly."""
        if not query.folders:
            return True
        return any(row["path"].startswith(prefix) for prefix in self._prefixes(query))

    # -- retrieval ----------------------------------------------------------------------------------
    def dense(self, vector: np.ndarray, query: Query, k: int) -> list[tuple[int, float]]:
        hits = self._search([np.asarray(vector, dtype=np.float32).tolist()], "vector", "IP", query, k)
        return [(i, score) for i, score in hits]

    def keyword(self, query: Query, k: int) -> list[tuple[int, float]]:
        spelled = words(" ".join(query.words + query.phrases))
        grams = [p for p in cjk_pieces(query.text) if len(p) == 3]
        hits: dict[int, float] = {}
        if spelled or grams:
            # BM25 scores are positive; Milvus Lite reports them negated
            hits.update((i, abs(s)) for i, s in self._search([" ".join(spelled + grams)], "sparse", "BM25",
                                                            query, k))
        for run in (p for p in cjk_pieces(query.text) if len(p) < 3):  # too short for trigrams
            like = f"text like {quote('%' + _like_literal(run) + '%')}"
            where = " and ".join(e for e in (like, self.expression(query)) if e)
            rows = self._call(lambda w=where: self.client.query(self.collection, filter=w, limit=k,
                                                                 output_fields=PASSAGE_FIELDS))
            for row in rows:
                if self._passes(query, row):
                    self._rows[int(row["id"])] = row
                    hits.setdefault(int(row["id"]), 0.0)
        return sorted(hits.items(), key=lambda item: -item[1])[:k]

    def _search(self, data: list, field: str, metric: str, query: Query, k: int) -> list[tuple[int, float]]:
        expression = self.expression(query)
        found = self._call(lambda: self.client.search(
            self.collection, data=data, anns_field=field, limit=min(k, MAX_TOPK), filter=expression,
            output_fields=PASSAGE_FIELDS, search_params={"metric_type": metric}))
        hits = []
        self._trim_cache()
        for hit in found[0] if found else []:
            row = dict(hit["entity"])
            row["id"] = int(hit["id"])
            if self._passes(query, row):
                self._rows[row["id"]] = row
                hits.append((row["id"], float(hit["distance"])))
        return hits

    def _trim_cache(self) -> None:
        if len(self._rows) > 4 * MAX_TOPK:
            self._rows.clear()

    def query_terms(self, query: Query) -> QueryTerms:
        """The query's terms weighted by FTS5's IDF formula over Milvus's own document counts."""
        found, pieces = query_units(query.text)
        total = self.count()
        grams = [p for p in pieces if len(p) == 3]
        weights = {t: self._idf(t, total) for t in [*found, *grams]}
        if len(grams) < len(pieces):  # one- or two-character runs: a middling weight, as locally
            middling = max(weights.values(), default=1.0)
            weights.update({p: middling for p in pieces if len(p) < 3})
        return QueryTerms(weights, frozenset(pieces))

    def _idf(self, term: str, total: int) -> float:
        df = self._frequencies.get(term)
        if df is None:
            df = self._frequencies[term] = self.count(f"text_match(terms, {quote(term)})")
        return max(1e-6, math.log((total - df + 0.5) / (df + 0.5)))

    # -- rows ---------------------------------------------------------------------------------------
    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        ids = [int(i) for i in ids]
        missing = [i for i in ids if i not in self._rows]
        for start in range(0, len(missing), 1000):
            part = missing[start:start + 1000]
            for row in self._call(lambda p=part: self.client.get(self.collection, ids=p,
                                                                  output_fields=PASSAGE_FIELDS)):
                self._rows[int(row["id"])] = dict(row)
        return {i: self._chunk_row(self._rows[i]) for i in ids if i in self._rows}

    def _chunk_row(self, row: dict[str, Any]) -> ChunkRow:
        return ChunkRow(int(row["id"]), int(row["file_id"]), self.paths.to_reader(row["path"]),
                        int(row["ordinal"]), row["text"], row.get("page"), int(row["char_start"]),
                        int(row["char_end"]), bool(row["is_name"]), row["status"], row.get("reason"),
                        row["source"], row.get("page_label"), self.paths.to_reader(row.get("container")))

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 1000):
            part = ids[start:start + 1000]
            rows = self._call(lambda p=part: self.client.get(self.collection, ids=p,
                                                              output_fields=["vector"]))
            found.update((int(r["id"]), np.asarray(r["vector"], dtype=np.float32)) for r in rows)
        return found

    def sample_vectors(self, n: int) -> np.ndarray | None:
        """Up to n stored vectors drawn at random (fixed seed), without reading the collection:
        Milvus has no random draw (Lite no `random_sample`, no `%` in filters), so random chunk ids
        below the writer's largest (meta `max_id`) are fetched by id, more drawn until n are found.
        A collection written before `max_id` was kept has its ids listed (ids only) and n drawn."""
        total = self.count()
        if total == 0:
            return None
        if total <= n:
            rows = self._call(lambda: self.client.query(self.collection, filter="id >= 0", limit=n,
                                                        output_fields=["vector"]))
            return np.asarray([r["vector"] for r in rows], dtype=np.float32) if rows else None
        rng = np.random.default_rng(0)
        top = self._call(lambda: read_meta(self.client, self.collection)).get("max_id")
        if top is None:
            ids = np.fromiter((int(r["id"]) for r in self._iterate("id >= 0", ["id"])), dtype=np.int64)
            return self._stack(self.vectors(rng.choice(ids, min(n, len(ids)), replace=False).tolist()))
        space = int(top) + 1
        found: dict[int, np.ndarray] = {}
        tried: set[int] = set()
        for _ in range(8):  # a collection with many ids deleted needs more draws
            share = max(total / space, 1e-3)
            want = min(space - len(tried), int((n - len(found)) / share * 1.3) + 16)
            draw = [i for i in dict.fromkeys(rng.integers(0, space, size=want).tolist()) if i not in tried]
            tried.update(draw)
            found.update(self.vectors(draw))
            if len(found) >= n or len(tried) >= space:
                break
        picked = sorted(found) if len(found) <= n else sorted(int(i) for i in rng.choice(sorted(found), n,
                                                                                         replace=False))
        return self._stack({i: found[i] for i in picked})

    @staticmethod
    def _stack(vectors: dict[int, np.ndarray]) -> np.ndarray | None:
        return np.vstack(list(vectors.values())).astype(np.float32) if vectors else None

    def newest_files(self, query: Query, k: int) -> list[tuple[int, int]]:
        """A filter-only query's files, newest first; a file goes when any of its passages holds an
        excluded word."""
        filters = query.file_filters()
        fields = ["id", "file_id", "ordinal", "mtime", "path"]
        rows = [r for r in self._iterate(self.expression(filters) or "id >= 0", fields)
                if self._passes(query, r)]
        dropped: set[int] = set()
        if query.excluded:
            holding = " or ".join(self._containing(w) for w in query.excluded)
            where = " and ".join(e for e in (self.expression(filters), f"({holding})") if e)
            dropped = {int(r["file_id"]) for r in self._iterate(where, ["file_id"])}
        first: dict[int, tuple[int, int, int, str]] = {}
        for r in rows:
            f = int(r["file_id"])
            if f in dropped:
                continue
            if f not in first or int(r["ordinal"]) < first[f][1]:
                first[f] = (int(r["id"]), int(r["ordinal"]), int(r["mtime"]), r["path"])
        newest = sorted(first.values(), key=lambda item: (-item[2], item[3]))[:k]
        return [(chunk_id, mtime) for chunk_id, _, mtime, _ in newest]

    def _iterate(self, expression: str, fields: list[str]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        iterator = self._call(lambda: self.client.query_iterator(self.collection, batch_size=1000,
                                                                 filter=expression, output_fields=fields))
        try:
            while True:
                batch = self._call(iterator.next)
                if not batch:
                    return out
                out += batch
        finally:
            iterator.close()

    def unavailable(self) -> list[Unavailable]:
        return []  # the writer's folders out of reach are its own business
