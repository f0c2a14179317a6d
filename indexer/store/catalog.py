"""The catalog: SQLite (through sqlite-utils, WAL) holds files, chunks, their embeddings and FTS5.

Its schema is built and upgraded by the named migrations of `indexer.store.migrations`.

It is the truth; the FAISS index is derived from it. Every change to a file is one
transaction, and every transaction that changes the set of embedded chunks bumps
`meta.generation`, which tells a saved vector index whether it is still current.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from indexer.paths import display_name
from indexer.private import create_private
from indexer.search.query import has_cjk
from indexer.store import embedding_codec, ocr_results, summaries
from indexer.store.embedding_codec import DEFAULT_STORAGE
from indexer.store.schema import SCHEMA_VERSION

CATALOG_FILE = "catalog.sqlite"


class CatalogOutdated(RuntimeError):
    """A reader met a catalog of an older schema; the writer upgrades it."""


@dataclass(frozen=True)
class FileRow:
    id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    kind: str | None
    status: str
    reason: str | None
    n_chunks: int
    dev: int | None = None  # st_dev when last seen (None: indexed before schema 4)
    mode: int | None = None  # st_mode when last seen
    parent_id: int | None = None  # the file that carries this one (a mail's attachment), else None


@dataclass(frozen=True)
class Unavailable:
    """A folder (or root) whose files are kept although the last scan could not see them."""

    path: str
    reason: str


@dataclass(frozen=True)
class NewChunk:
    """A chunk to store; `embedding` is None only when it is to be computed later."""

    ordinal: int
    text: str
    page: int | None
    char_start: int
    char_end: int
    n_tokens: int
    hash: str
    embedding: np.ndarray | None
    is_name: bool = False
    page_label: str | None = None  # what its page is called: a sheet's name, a slide's title
    source: str = "text"  # text | ocr | name (a name chunk's source is always "name")

    @property
    def origin(self) -> str:
        return "name" if self.is_name else self.source


@dataclass(frozen=True)
class ChunkRow:
    id: int
    file_id: int
    path: str
    ordinal: int
    text: str
    page: int | None
    char_start: int
    char_end: int
    is_name: bool
    status: str = "indexed"  # the file's: indexed / skipped / error
    reason: str | None = None  # why a file has no text or could not be read (name chunks)
    source: str = "text"  # text | ocr | name
    page_label: str | None = None
    container: str | None = None  # the path of the file that carries this one (a mail), else None


@dataclass
class Change:
    """Chunk ids a transaction added (with vectors) and removed: what the vector index must apply."""

    added_ids: list[int]
    added_vectors: list[np.ndarray]
    removed_ids: list[int]

    @classmethod
    def empty(cls) -> Change:
        return cls([], [], [])

    def extend(self, other: Change) -> None:
        self.added_ids += other.added_ids
        self.added_vectors += other.added_vectors
        self.removed_ids += other.removed_ids


def to_blob(vector: np.ndarray, storage: str = DEFAULT_STORAGE) -> bytes:
    return embedding_codec.encode(vector, storage)


def from_blob(blob: bytes) -> np.ndarray:
    """The float32 vector of a stored embedding, whatever its storage."""
    return embedding_codec.decode(blob)


def _file_row(row: sqlite3.Row | tuple) -> FileRow:
    return FileRow(*row)


_FILE_COLUMNS = "id, path, size, mtime_ns, hash, kind, status, reason, n_chunks, dev, mode, parent_id"


class Catalog:
    """One SQLite catalog. Open with `readonly=True` from readers: they never write."""

    def __init__(self, path: Path, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        else:
            create_private(path)  # 0600 whatever the umask; SQLite gives -wal and -shm its mode
            conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.isolation_level = None  # explicit transactions only
        self.conn = conn
        conn.execute("PRAGMA busy_timeout = 10000")
        if not readonly:
            from indexer.store.migrations import migrate  # the writer's: readers never migrate

            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            with self.transaction():  # every pending migration, or none
                migrate(conn)
                self.meta_set("schema_version", str(SCHEMA_VERSION))
        elif int(self.meta_get("schema_version") or SCHEMA_VERSION) < SCHEMA_VERSION:
            raise CatalogOutdated(
                f"The index in {path.parent} was made by an older Findling. "
                "Run `findling index` once to upgrade it (no re-embedding needed)."
            )

    def close(self) -> None:
        self.conn.close()

    @property
    def storage(self) -> str:
        """How new embeddings are stored (`indexer.store.embedding_codec`), as the catalog records it."""
        return self.meta_get("embedding_storage") or DEFAULT_STORAGE

    def convert_embeddings(self, storage: str) -> int:
        """Store every embedding (and any staged for a reindex) as `storage`, in one transaction,
        without re-embedding; the number of blobs converted. The vector index is left as it is:
        the vectors are the same up to the rounding of the new storage, so the change log entries
        the conversion makes are dropped in the same transaction."""
        if storage not in embedding_codec.STORAGES:
            raise ValueError(f"Unknown embedding storage {storage!r}; "
                             f"use one of {', '.join(embedding_codec.STORAGES)}.")
        with self.transaction():
            if self.storage == storage:
                return 0
            before = self.log_seq()
            self.conn.create_function("findling_convert_embedding", 2, embedding_codec.convert,
                                      deterministic=True)
            converted = self.conn.execute(
                "UPDATE chunks SET embedding = findling_convert_embedding(embedding, ?) "
                "WHERE embedding IS NOT NULL", (storage,)).rowcount
            staged = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reindex_staging'").fetchone()
            if staged:
                self.conn.execute("UPDATE reindex_staging SET embedding = "
                                  "findling_convert_embedding(embedding, ?)", (storage,))
            self.conn.execute("DELETE FROM vector_log WHERE seq > ?", (before,))
            self.meta_set("embedding_storage", storage)
        return converted

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads that see one committed state (a read transaction), for a reader catching up."""
        if self.conn.in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    # -- the vector change log (schema 8) ------------------------------------------------------------
    def log_seq(self) -> int:
        """The position of the newest entry of the vector change log (0: none ever)."""
        row = self.conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'vector_log'").fetchone()
        return int(row[0]) if row else 0

    def log_floor(self) -> int:
        """Entries up to this position have been trimmed: a vector file older than it cannot catch up."""
        return int(self.meta_get("vector_log_floor") or 0)

    def changed_since(self, seq: int) -> np.ndarray:
        """The chunk ids whose embedding appeared, changed or went after log position `seq`."""
        rows = self.conn.execute("SELECT DISTINCT chunk_id FROM vector_log WHERE seq > ?", (seq,))
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    def trim_log(self, seq: int) -> None:
        """Forget the log up to `seq`: a vector file covering it is saved."""
        with self.transaction():
            if seq > self.log_floor():
                self.conn.execute("DELETE FROM vector_log WHERE seq <= ?", (seq,))
                self.meta_set("vector_log_floor", str(seq))

    def embedded_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks WHERE embedding IS NOT NULL").fetchone()[0]

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- meta ---------------------------------------------------------------------------
    def meta_get(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def meta_set(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def embedding_backends(self) -> dict[str, int]:
        """Passages embedded by each backend (e.g. {"PyTorch": 120, "ONNX int8": 900}) since the index
        was made, emptied or last re-embedded (passages deleted since are not taken off); {} for an index
        from before this record (meta.embedding_backends)."""
        try:
            counts = json.loads(self.meta_get("embedding_backends") or "{}")
        except ValueError:
            return {}
        return {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else {}

    def count_embedded_by(self, backend: str, passages: int, reset: bool = False) -> None:
        """Add `passages` to what `backend` embedded (`reset`: it embedded everything); in the caller's
        transaction, so the record and the embeddings it counts commit together."""
        counts = {} if reset else self.embedding_backends()
        counts[backend] = counts.get(backend, 0) + passages
        self.meta_set("embedding_backends", json.dumps(counts, ensure_ascii=False, sort_keys=True))

    @property
    def generation(self) -> int:
        return int(self.meta_get("generation") or 0)

    def bump_generation(self) -> None:
        self.conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    # -- files ---------------------------------------------------------------------------
    def file(self, path: str) -> FileRow | None:
        row = self.conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path = ?", (path,)).fetchone()
        return _file_row(row) if row else None

    def files_with_status(self, status: str) -> list[FileRow]:
        rows = self.conn.execute(
            f"SELECT {_FILE_COLUMNS} FROM files WHERE status = ? ORDER BY path", (status,)
        )
        return [_file_row(r) for r in rows]

    def files(self, under: str | None = None) -> list[FileRow]:
        if under is None:
            rows = self.conn.execute(f"SELECT {_FILE_COLUMNS} FROM files ORDER BY path")
        else:
            prefix = under.rstrip("/") + "/"
            rows = self.conn.execute(  # a range on the unique path index: every path below `under`
                f"SELECT {_FILE_COLUMNS} FROM files WHERE path >= ? AND path < ? ORDER BY path",
                (prefix, prefix[:-1] + chr(ord("/") + 1)),
            )
        return [_file_row(r) for r in rows]

    def old_chunks(self, file_id: int) -> list[tuple[int, str, bytes | None]]:
        """(id, hash, embedding) of a file's chunks: what an edit can reuse."""
        return self.conn.execute(
            "SELECT id, hash, embedding FROM chunks WHERE file_id = ? ORDER BY ordinal", (file_id,)
        ).fetchall()

    def embeddings_by_hash(self, hashes: Iterable[str]) -> dict[str, bytes]:
        """Stored embeddings of any chunks with these text hashes: identical text is never re-embedded."""
        found: dict[str, bytes] = {}
        wanted = list(set(hashes))
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            marks = ",".join("?" * len(part))
            found.update(self.conn.execute(
                f"SELECT hash, embedding FROM chunks WHERE hash IN ({marks}) AND embedding IS NOT NULL",
                part,
            ).fetchall())
        return found

    def status_counts(self) -> dict[str, int]:
        counts = {"indexed": 0, "skipped": 0, "error": 0}
        for status, count in self.conn.execute("SELECT status, count(*) FROM files GROUP BY status"):
            counts[status] = count
        return counts

    def chunk_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    # -- writes (call inside `transaction()`) ------------------------------------------------
    def put_file(
        self,
        path: str,
        name: str,
        size: int,
        mtime_ns: int,
        content_hash: str | None,
        kind: str | None,
        status: str,
        reason: str | None,
        chunks: Sequence[NewChunk],
        priority: int = 0,
        dev: int | None = None,
        mode: int | None = None,
        signature: tuple[bytes, int] | None = None,
        ocr: str | None = None,
        parent_id: int | None = None,
    ) -> Change:
        """Store a file and exactly these chunks, keeping old chunk ids whose text is unchanged;
        `signature` is the file's MinHash `(blob, shingles)` when the caller computed it already;
        `ocr` is its OCR state (`indexer.store.ocr_results`; None: OCR does not apply);
        `parent_id`: the file that carries this one (an attachment); None for a file on disk."""
        existing = self.file(path)
        change = Change.empty()
        reusable: dict[str, list[int]] = {}
        storage = self.storage
        if existing:
            self.conn.execute(
                "UPDATE files SET name=?, size=?, mtime_ns=?, hash=?, kind=?, status=?, reason=?, "
                "n_chunks=?, indexed_at=?, priority=max(priority, ?), dev=?, mode=?, ocr=?, parent_id=? "
                "WHERE id=?",
                (name, size, mtime_ns, content_hash, kind, status, reason, len(chunks), time.time(),
                 priority, dev, mode, ocr, parent_id, existing.id),
            )
            file_id = existing.id
            for chunk_id, chunk_hash, _ in self.old_chunks(file_id):
                reusable.setdefault(chunk_hash, []).append(chunk_id)
        else:
            file_id = self.conn.execute(
                "INSERT INTO files (path, name, size, mtime_ns, hash, kind, status, reason, n_chunks, "
                "indexed_at, priority, dev, mode, ocr, parent_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (path, name, size, mtime_ns, content_hash, kind, status, reason, len(chunks), time.time(),
                 priority, dev, mode, ocr, parent_id),
            ).lastrowid
        for chunk in chunks:
            kept = reusable.get(chunk.hash)
            if kept:
                chunk_id = kept.pop(0)
                self.conn.execute(
                    "UPDATE chunks SET ordinal=?, page=?, char_start=?, char_end=?, is_name=?, source=?, "
                    "page_label=? WHERE id=?",
                    (chunk.ordinal, chunk.page, chunk.char_start, chunk.char_end, chunk.is_name,
                     chunk.origin, chunk.page_label, chunk_id),
                )
                self.conn.execute("UPDATE chunks_fts SET name=? WHERE rowid=?", (name, chunk_id))
                continue
            blob = None if chunk.embedding is None else to_blob(chunk.embedding, storage)
            chunk_id = self.conn.execute(
                "INSERT INTO chunks (file_id, ordinal, text, page, char_start, char_end, n_tokens, hash, "
                "is_name, embedding, source, page_label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (file_id, chunk.ordinal, chunk.text, chunk.page, chunk.char_start, chunk.char_end,
                 chunk.n_tokens, chunk.hash, chunk.is_name, blob, chunk.origin, chunk.page_label),
            ).lastrowid
            self.conn.execute(
                "INSERT INTO chunks_fts (rowid, text, name) VALUES (?, ?, ?)", (chunk_id, chunk.text, name)
            )
            if has_cjk(chunk.text):
                self.conn.execute("INSERT INTO chunks_trigram (rowid, text) VALUES (?, ?)",
                                  (chunk_id, chunk.text))
            if chunk.embedding is not None:
                change.added_ids.append(chunk_id)
                change.added_vectors.append(np.asarray(chunk.embedding, dtype=np.float32))
        stale = [chunk_id for ids in reusable.values() for chunk_id in ids]
        self._delete_chunks(stale)
        change.removed_ids += stale
        summaries.after_put(self.conn, file_id,
                            ((c.text, c.char_start, c.char_end, c.is_name) for c in chunks), signature)
        if change.added_ids or change.removed_ids:
            self.bump_generation()
        return change

    def move_file(self, old_path: str, new_path: str, name: str, mtime_ns: int) -> None:
        """Give a file (and the files it carries) its new path; chunks and embeddings stay as they are."""
        row = self.file(old_path)
        if row is None:
            return
        for child in self.children(row.id):
            child_path = new_path + child.path[len(old_path):]
            self.move_file(child.path, child_path, display_name(child_path), mtime_ns)
        self.conn.execute("DELETE FROM files WHERE path = ? AND id != ?", (new_path, row.id))
        self.conn.execute(
            "UPDATE files SET path=?, name=?, mtime_ns=?, indexed_at=? WHERE id=?",
            (new_path, name, mtime_ns, time.time(), row.id),
        )
        self.conn.execute(
            "UPDATE chunks_fts SET name=? WHERE rowid IN (SELECT id FROM chunks WHERE file_id=?)",
            (name, row.id),
        )

    def touch_file(self, file_id: int, mtime_ns: int) -> None:
        self.conn.execute("UPDATE files SET mtime_ns=? WHERE id=?", (mtime_ns, file_id))

    def record_stats(self, stats: Iterable[tuple[str, int | None, int | None]]) -> None:
        """Record the (path, dev, mode) a scan saw for files whose content did not change."""
        self.conn.executemany("UPDATE files SET dev=?, mode=? WHERE path=?",
                              [(dev, mode, path) for path, dev, mode in stats])

    # -- folders out of reach ----------------------------------------------------------------
    def unavailable(self) -> list[Unavailable]:
        """Folders whose files are kept although the last scan could not read them, by path."""
        rows = self.conn.execute("SELECT path, reason FROM unavailable ORDER BY path")
        return [Unavailable(path, reason) for path, reason in rows]

    def set_unavailable(self, scanned: Iterable[str], found: Iterable[Unavailable]) -> None:
        """Replace what is recorded at or below the `scanned` paths with what this scan `found`
        (a folder still out of reach keeps the time it was first found so)."""
        found = list(found)
        keep = [u.path for u in found]
        for path in scanned:
            prefix = path.rstrip("/") + "/"
            marks = ",".join("?" * len(keep))
            self.conn.execute(
                "DELETE FROM unavailable WHERE (path = ? OR (path >= ? AND path < ?))"
                + (f" AND path NOT IN ({marks})" if keep else ""),
                (path, prefix, prefix[:-1] + chr(ord("/") + 1), *keep),
            )
        now = time.time()
        self.conn.executemany(
            "INSERT INTO unavailable (path, reason, since) VALUES (?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET reason = excluded.reason",
            [(u.path, u.reason, now) for u in found],
        )

    def children(self, file_id: int) -> list[FileRow]:
        """The files `file_id` carries (a mail's attachments), by path."""
        rows = self.conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE parent_id = ? ORDER BY path",
                                 (file_id,))
        return [_file_row(r) for r in rows]

    def delete_children(self, file_id: int, keep: Iterable[str] = ()) -> list[int]:
        """Delete the files `file_id` carries, except those at the paths `keep`; their chunk ids."""
        keep = set(keep)
        return [chunk_id for child in self.children(file_id) if child.path not in keep
                for chunk_id in self.delete_file(child.path)]

    def delete_file(self, path: str) -> list[int]:
        """Delete a file, the files it carries, their chunks; the chunk ids removed."""
        row = self.file(path)
        if row is None:
            return []
        ids = self.delete_children(row.id)
        ids += [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE file_id=?", (row.id,))]
        self._delete_chunks(ids)
        self.conn.execute("DELETE FROM files WHERE id=?", (row.id,))
        if ids:
            self.bump_generation()
        return ids

    def _delete_chunks(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            self.conn.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", part)
            self.conn.execute(f"DELETE FROM chunks_trigram WHERE rowid IN ({marks})", part)
            self.conn.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)

    def pending_chunks(self, limit: int) -> list[tuple[int, str, str]]:
        """(id, hash, text) of chunks without an embedding, most wanted first: by file priority,
        then newest file, then in file order."""
        return self.conn.execute(
            "SELECT c.id, c.hash, c.text FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.embedding IS NULL ORDER BY f.priority DESC, f.mtime_ns DESC, c.file_id, c.ordinal "
            "LIMIT ?", (limit,),
        ).fetchall()

    def embedding_progress(self) -> tuple[int, int, int]:
        """(embedded chunks, pending chunks, pending tokens)."""
        embedded, pending, tokens = self.conn.execute(
            "SELECT sum(embedding IS NOT NULL), sum(embedding IS NULL), "
            "sum(CASE WHEN embedding IS NULL THEN n_tokens ELSE 0 END) FROM chunks"
        ).fetchone()
        return embedded or 0, pending or 0, tokens or 0

    def prioritize(self, path: str, priority: int) -> bool:
        """Raise a file's embedding priority (e.g. the user opened it); False if unknown."""
        return self.conn.execute(
            "UPDATE files SET priority = max(priority, ?) WHERE path = ?", (priority, path)
        ).rowcount > 0

    def set_embeddings(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        storage = self.storage
        self.conn.executemany(
            "UPDATE chunks SET embedding=? WHERE id=?",
            [(to_blob(v, storage), int(i)) for i, v in zip(ids, vectors)],
        )
        summaries.after_embedding(self.conn, ids)
        self.bump_generation()

    def backfill_summaries(self, limit: int = 500) -> int:
        """Summarise up to `limit` more files of a catalog from before file summaries (schema 6);
        0 once none is left (`indexer.store.summaries`)."""
        if not summaries.needs_backfill(self.conn):
            return 0
        with self.transaction():
            return summaries.backfill(self.conn, limit)

    # -- OCR (schema 7; `indexer.store.ocr_results`) ------------------------------------------
    def ocr_cached(self, content_hash: str | None) -> str | None:
        return ocr_results.cached(self.conn, content_hash)

    def ocr_pending(self, limit: int = 1, skip: tuple[int, ...] = ()) -> list[ocr_results.PendingFile]:
        return ocr_results.next_pending(self.conn, limit, skip)

    def ocr_counts(self) -> dict[str, int]:
        return ocr_results.counts(self.conn)

    def ocr_failures(self) -> list[tuple[str, str | None]]:
        return ocr_results.failures(self.conn)

    def ocr_seconds_per_file(self) -> float | None:
        return ocr_results.seconds_per_file(self.conn)

    def put_ocr_result(self, content_hash: str, status: str, reason: str | None, result_json: str,
                       seconds: float) -> None:
        ocr_results.put(self.conn, content_hash, status, reason, result_json, seconds)

    def set_ocr_state(self, file_id: int, state: str | None) -> None:
        self.conn.execute("UPDATE files SET ocr = ? WHERE id = ?", (state, file_id))

    def stored_chunks(self, file_id: int) -> list[NewChunk]:
        """A file's chunks as they are stored, in order, without their embeddings (`put_file` keeps
        those of a chunk whose text it stores again)."""
        rows = self.conn.execute(
            "SELECT ordinal, text, page, char_start, char_end, n_tokens, hash, is_name, page_label, source "
            "FROM chunks WHERE file_id = ? ORDER BY ordinal", (file_id,))
        return [NewChunk(*row[:7], None, bool(row[7]), row[8], row[9]) for row in rows]

    def ocr_result_of_chunk(self, chunk_id: int) -> str | None:
        return ocr_results.result_of_chunk(self.conn, chunk_id)

    def file_by_id(self, file_id: int) -> FileRow | None:
        row = self.conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE id = ?", (file_id,)).fetchone()
        return _file_row(row) if row else None

    # -- reads for search and the vector index ---------------------------------------------------
    def iter_embeddings(self, batch: int = 20_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) of every embedded chunk, in id order, in batches."""
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT id, embedding FROM chunks WHERE id > ? AND embedding IS NOT NULL "
                "ORDER BY id LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.vstack([from_blob(r[1]) for r in rows])
            yield ids, vectors
            last = int(ids[-1])

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        found: dict[int, ChunkRow] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(
                "SELECT c.id, c.file_id, f.path, c.ordinal, c.text, c.page, c.char_start, c.char_end, "
                "c.is_name, f.status, f.reason, c.source, c.page_label, p.path FROM chunks c "
                "JOIN files f ON f.id = c.file_id LEFT JOIN files p ON p.id = f.parent_id "
                f"WHERE c.id IN ({marks})",
                part,
            )
            for row in rows:
                found[row[0]] = ChunkRow(*row[:8], bool(row[8]), *row[9:])
        return found

    def file_ids(self, ids: Sequence[int]) -> dict[int, int]:
        """The file id of each chunk id."""
        found: dict[int, int] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            found.update(self.conn.execute(
                f"SELECT id, file_id FROM chunks WHERE id IN ({','.join('?' * len(part))})", part))
        return found

    def stored_embeddings(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Embeddings of those chunks that have one."""
        found: dict[int, np.ndarray] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 500):
            part = ids[start:start + 500]
            rows = self.conn.execute(
                f"SELECT id, embedding FROM chunks WHERE id IN ({','.join('?' * len(part))}) "
                "AND embedding IS NOT NULL", part,
            )
            found.update((i, from_blob(blob)) for i, blob in rows)
        return found
