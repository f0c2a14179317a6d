"""The SQL of OCR (schema 7): each file's OCR state and the results kept by content hash.

`files.ocr` is NULL when OCR does not apply to a file, else one of `PENDING` and the result
statuses of `indexer.ingest.ocr.result` (text, no_text, error, none). `ocr_results` holds one
result per content hash (JSON), so a copy or a moved file takes the result it already has, and
a reindex never reads a picture again; the migration's triggers drop a result with the last
file of its hash (as deleted files leave nothing else behind).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

PENDING = "pending"


@dataclass(frozen=True)
class PendingFile:
    id: int
    path: str
    hash: str
    kind: str


def cached(conn: sqlite3.Connection, content_hash: str | None) -> str | None:
    """The stored result (JSON) for this content, or None."""
    if not content_hash:
        return None
    row = conn.execute("SELECT result FROM ocr_results WHERE hash = ?", (content_hash,)).fetchone()
    return row[0] if row else None


def put(conn: sqlite3.Connection, content_hash: str, status: str, reason: str | None, result_json: str,
        seconds: float) -> None:
    conn.execute("INSERT OR REPLACE INTO ocr_results (hash, status, reason, result, seconds, done_at) "
                 "VALUES (?, ?, ?, ?, ?, ?)",
                 (content_hash, status, reason, result_json, seconds, time.time()))


def next_pending(conn: sqlite3.Connection, limit: int = 1, skip: tuple[int, ...] = ()) -> list[PendingFile]:
    """Files waiting for OCR, most wanted first (as embedding: priority, then newest)."""
    marks = ",".join("?" * len(skip))
    rows = conn.execute(
        "SELECT id, path, hash, kind FROM files WHERE ocr = 'pending' AND hash IS NOT NULL "
        + (f"AND id NOT IN ({marks}) " if skip else "")
        + "ORDER BY priority DESC, mtime_ns DESC LIMIT ?", (*skip, limit)).fetchall()
    return [PendingFile(*row) for row in rows]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """`findling status`'s OCR figures: files pending, read with text, without text, failed."""
    found = dict(conn.execute(
        "SELECT ocr, count(*) FROM files WHERE ocr IS NOT NULL GROUP BY ocr").fetchall())
    return {"pending": found.get(PENDING, 0), "done": found.get("text", 0),
            "no_text": found.get("no_text", 0), "errors": found.get("error", 0)}


def failures(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
    """(path, reason) of the files OCR could not read, by path."""
    return conn.execute("SELECT f.path, r.reason FROM files f JOIN ocr_results r ON r.hash = f.hash "
                        "WHERE f.ocr = 'error' ORDER BY f.path").fetchall()


def seconds_per_file(conn: sqlite3.Connection) -> float | None:
    """The mean time of the last 50 files read (for an ETA), or None before any."""
    row = conn.execute("SELECT avg(seconds) FROM (SELECT seconds FROM ocr_results WHERE seconds > 0 "
                       "ORDER BY done_at DESC LIMIT 50)").fetchone()
    return row[0] if row and row[0] else None


def result_of_chunk(conn: sqlite3.Connection, chunk_id: int) -> str | None:
    """The OCR result (JSON) a chunk's text came from, when its source is OCR."""
    row = conn.execute("SELECT r.result FROM chunks c JOIN files f ON f.id = c.file_id "
                       "JOIN ocr_results r ON r.hash = f.hash WHERE c.id = ? AND c.source = 'ocr'",
                       (chunk_id,)).fetchone()
    return row[0] if row else None
