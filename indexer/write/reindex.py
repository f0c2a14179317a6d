"""Re-embed every stored chunk with another model, without extracting any file again.

New vectors go to a staging table first, in batches, and replace the old ones in one
final transaction together with the model recorded in `meta`. An interrupted reindex
therefore leaves the index working on the old model, and resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from indexer.models.embedding import Embedder
from indexer.store.catalog import Catalog, to_blob

_STAGING = "reindex_staging"


def reindex(catalog: Catalog, embedder: Embedder, on_batch: Callable[[int, int], None] | None = None,
            batch: int = 512) -> int:
    """Re-embed all chunks with `embedder`; returns the number of chunks embedded in this run."""
    conn = catalog.conn
    with catalog.transaction():
        conn.execute(f"CREATE TABLE IF NOT EXISTS {_STAGING} (id INTEGER PRIMARY KEY, embedding BLOB)")
        if catalog.meta_get("reindex_model") != embedder.model_id:
            conn.execute(f"DELETE FROM {_STAGING}")
            catalog.meta_set("reindex_model", embedder.model_id)
    total = catalog.chunk_count()
    done = conn.execute(f"SELECT count(*) FROM {_STAGING}").fetchone()[0]
    embedded = 0
    while True:
        rows = conn.execute(
            f"SELECT id, text FROM chunks WHERE id NOT IN (SELECT id FROM {_STAGING}) ORDER BY id LIMIT ?",
            (batch,),
        ).fetchall()
        if not rows:
            break
        vectors = embedder.encode_passages([text for _, text in rows])
        with catalog.transaction():
            conn.executemany(
                f"INSERT OR REPLACE INTO {_STAGING} (id, embedding) VALUES (?, ?)",
                [(chunk_id, to_blob(v)) for (chunk_id, _), v in zip(rows, vectors)],
            )
        embedded += len(rows)
        done += len(rows)
        if on_batch:
            on_batch(done, total)
    with catalog.transaction():
        conn.execute(
            f"UPDATE chunks SET embedding = (SELECT s.embedding FROM {_STAGING} s WHERE s.id = chunks.id)"
        )
        conn.execute(f"DROP TABLE {_STAGING}")
        conn.execute("DELETE FROM meta WHERE key = 'reindex_model'")
        catalog.meta_set("model", embedder.model_id)
        catalog.meta_set("dim", str(embedder.dim))
        catalog.bump_generation()
    return embedded
