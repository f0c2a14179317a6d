"""One summary per file, kept by the writer beside its chunks: a vector and a text signature.

- `file_vectors`: the normalised mean of the file's passage embeddings (name chunks excluded),
  present only once every passage is embedded. `findling similar` ranks files by it.
- `file_signatures`: the MinHash signature of the file's text (`indexer.similar.signature`),
  rebuilt from its chunks. `findling duplicates` finds candidate pairs by it.

Both change in the transaction that changes the file's chunks or embeddings (`after_put`,
`after_embedding`), and go with the file (ON DELETE CASCADE). A catalog that predates them
(schema 5) is filled in by `backfill`, run by the writer a batch at a time until nothing is
missing. `meta.summary_generation` moves whenever a vector changes outside a transaction that
also moves `meta.generation`, so `stamp()` tells a saved copy of the vectors whether it is current.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.store import embedding_codec

BACKFILL_DONE = "summaries_backfilled"
SUMMARY_GENERATION = "summary_generation"


@dataclass(frozen=True)
class SummaryFile:
    id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    kind: str | None


def _vector_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _vector(blob: bytes) -> np.ndarray:
    return embedding_codec.decode(blob)


def _write_signature(conn: sqlite3.Connection, file_id: int, signed: tuple[bytes, int] | None) -> None:
    """Store a file's signature `(blob, shingles)`; None (no content) removes it."""
    if signed is None:
        conn.execute("DELETE FROM file_signatures WHERE file_id = ?", (file_id,))
        return
    blob, shingles = signed
    conn.execute(
        "INSERT OR REPLACE INTO file_signatures (file_id, minhash, shingles) VALUES (?, ?, ?)",
        (file_id, blob, shingles),
    )


def _refresh_vector(conn: sqlite3.Connection, file_id: int) -> bool:
    """Recompute a file's vector (or drop it while a passage waits for its embedding); True if it changed."""
    pending = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM chunks WHERE file_id = ? AND embedding IS NULL AND is_name = 0)",
        (file_id,),
    ).fetchone()[0]
    rows = (
        []
        if pending
        else conn.execute(
            "SELECT embedding FROM chunks WHERE file_id = ? AND is_name = 0", (file_id,)
        ).fetchall()
    )
    if not rows:
        return conn.execute("DELETE FROM file_vectors WHERE file_id = ?", (file_id,)).rowcount > 0
    mean = np.vstack([_vector(r[0]) for r in rows]).mean(axis=0)
    mean /= max(float(np.linalg.norm(mean)), 1e-12)
    conn.execute(
        "INSERT OR REPLACE INTO file_vectors (file_id, vector, passages) VALUES (?, ?, ?)",
        (file_id, _vector_blob(mean), len(rows)),
    )
    return True


def after_put(conn: sqlite3.Connection, file_id: int, chunks: Iterable[tuple[str, int, int, bool]],
              computed: tuple[bytes, int] | None = None) -> None:
    """A file's chunks `(text, char_start, char_end, is_name)` were just stored: summarise them
    (with the MinHash signature `computed` by a worker, when there is one)."""
    from indexer.similar import signature  # the writer's and `similar`'s: not on the search path

    content = [(text, start, end) for text, start, end, is_name in chunks if not is_name]
    if not content:
        _write_signature(conn, file_id, None)
    else:
        _write_signature(conn, file_id, computed or signature.stored(signature.document_text(content)))
    _refresh_vector(conn, file_id)


def after_embedding(conn: sqlite3.Connection, chunk_ids: Sequence[int]) -> None:
    """These chunks were just embedded: files whose passages are now all embedded get their vector."""
    file_ids: set[int] = set()
    ids = [int(i) for i in chunk_ids]
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        file_ids.update(
            r[0]
            for r in conn.execute(
                f"SELECT DISTINCT file_id FROM chunks WHERE id IN ({','.join('?' * len(part))})", part
            )
        )
    for file_id in sorted(file_ids):
        _refresh_vector(conn, file_id)


def forget_vectors(conn: sqlite3.Connection) -> None:
    """Every embedding was replaced (a reindex with another model): drop the file vectors of the
    old one and let the backfill make the new ones."""
    conn.execute("DELETE FROM file_vectors")
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '0')", (BACKFILL_DONE,))


def needs_backfill(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (BACKFILL_DONE,)).fetchone()
    return row is not None and row[0] != "1"


def backfill(conn: sqlite3.Connection, limit: int = 500) -> int:
    """Summarise up to `limit` files that have none yet (a catalog from before schema 6); the number
    done. When none is left, records that the backfill is over."""
    from indexer.similar import signature  # the writer's and `similar`'s: not on the search path

    unsigned = [
        r[0]
        for r in conn.execute(
            "SELECT f.id FROM files f "
            "WHERE NOT EXISTS (SELECT 1 FROM file_signatures s WHERE s.file_id = f.id) "
            "AND EXISTS (SELECT 1 FROM chunks c WHERE c.file_id = f.id AND c.is_name = 0) LIMIT ?",
            (limit,),
        )
    ]
    for file_id in unsigned:
        pieces = conn.execute(
            "SELECT text, char_start, char_end FROM chunks WHERE file_id = ? AND is_name = 0", (file_id,)
        ).fetchall()
        _write_signature(conn, file_id, signature.stored(signature.document_text(pieces)))
    unvectored = [
        r[0]
        for r in conn.execute(
            "SELECT f.id FROM files f WHERE NOT EXISTS (SELECT 1 FROM file_vectors v WHERE v.file_id = f.id) "
            "AND EXISTS (SELECT 1 FROM chunks c WHERE c.file_id = f.id AND c.is_name = 0) "
            "AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.file_id = f.id AND c.is_name = 0 "
            "AND c.embedding IS NULL) LIMIT ?",
            (limit,),
        )
    ]
    changed = sum(_refresh_vector(conn, file_id) for file_id in unvectored)
    if changed:
        conn.execute(
            "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", (SUMMARY_GENERATION,)
        )
    done = len(unsigned) + len(unvectored)
    if not done:
        conn.execute("UPDATE meta SET value = '1' WHERE key = ?", (BACKFILL_DONE,))
    return done


# -- reads ----------------------------------------------------------------------------------------


def stamp(conn: sqlite3.Connection) -> str:
    """Changes whenever any file vector may have changed."""
    values = dict(
        conn.execute("SELECT key, value FROM meta WHERE key IN ('generation', ?)", (SUMMARY_GENERATION,))
    )
    return f"{values.get('generation', '0')}.{values.get(SUMMARY_GENERATION, '0')}"


def all_vectors(conn: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray]:
    """(file ids, their vectors as rows), by file id."""
    rows = conn.execute("SELECT file_id, vector FROM file_vectors ORDER BY file_id").fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.vstack([_vector(r[1]) for r in rows]) if rows else np.zeros((0, 0), dtype=np.float32)
    return ids, vectors


def sample_passages(conn: sqlite3.Connection, limit: int) -> np.ndarray:
    """Up to about `limit` embedded passages (name chunks excluded), every n-th by id: the same sample
    for the same catalog."""
    embedded = "FROM chunks WHERE is_name = 0 AND embedding IS NOT NULL"
    total = conn.execute(f"SELECT count(*) {embedded}").fetchone()[0]
    step = max(1, -(-total // max(limit, 1)))
    rows = conn.execute(f"SELECT embedding {embedded} AND id % ? = 0", (step,)).fetchall()
    return np.vstack([_vector(r[0]) for r in rows]) if rows else np.zeros((0, 0), dtype=np.float32)


def vector_of(conn: sqlite3.Connection, file_id: int) -> np.ndarray | None:
    row = conn.execute("SELECT vector FROM file_vectors WHERE file_id = ?", (file_id,)).fetchone()
    return None if row is None else _vector(row[0])


def passage_embeddings(conn: sqlite3.Connection, file_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, embeddings) of a file's embedded passages (name chunks excluded), in file order."""
    rows = conn.execute(
        "SELECT id, embedding FROM chunks WHERE file_id = ? AND is_name = 0 "
        "AND embedding IS NOT NULL ORDER BY ordinal",
        (file_id,),
    ).fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    vectors = np.vstack([_vector(r[1]) for r in rows]) if rows else np.zeros((0, 0), dtype=np.float32)
    return ids, vectors


def content_progress(conn: sqlite3.Connection, file_id: int) -> tuple[int, int]:
    """(passages, of which embedded) of one file, name chunks excluded."""
    total, embedded = conn.execute(
        "SELECT count(*), count(embedding) FROM chunks WHERE file_id = ? AND is_name = 0", (file_id,)
    ).fetchone()
    return total, embedded


def all_signatures(conn: sqlite3.Connection) -> tuple[np.ndarray, np.ndarray]:
    """(file ids, signatures as rows) of every file with words, by file id."""
    from indexer.similar import signature  # the writer's and `similar`'s: not on the search path

    rows = conn.execute(
        "SELECT file_id, minhash FROM file_signatures WHERE shingles > 0 ORDER BY file_id"
    ).fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    matrix = (
        np.vstack([signature.from_blob(r[1]) for r in rows])
        if rows
        else np.zeros((0, signature.NUM_PERM), dtype=np.uint32)
    )
    return ids, matrix


def same_content_groups(conn: sqlite3.Connection) -> list[list[int]]:
    """File ids sharing a content hash, per hash held by two files or more (empty files left out)."""
    rows = conn.execute(
        "SELECT hash, id FROM files WHERE hash IN (SELECT hash FROM files WHERE hash IS NOT "
        "NULL AND size > 0 GROUP BY hash HAVING count(*) > 1) AND size > 0 "
        "ORDER BY hash, id"
    ).fetchall()
    groups: dict[str, list[int]] = {}
    for content_hash, file_id in rows:
        groups.setdefault(content_hash, []).append(file_id)
    return list(groups.values())


def files(conn: sqlite3.Connection, ids: Iterable[int]) -> dict[int, SummaryFile]:
    found: dict[int, SummaryFile] = {}
    ids = [int(i) for i in ids]
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        rows = conn.execute(
            f"SELECT id, path, size, mtime_ns, hash, kind FROM files WHERE id IN "
            f"({','.join('?' * len(part))})",
            part,
        )
        found.update((row[0], SummaryFile(*row)) for row in rows)
    return found
