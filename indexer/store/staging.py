"""Re-embedding beside the live embeddings: new vectors wait in a staging table until all are made.

`EmbeddingStaging` is the SQL side of `indexer.write.reindex`: the staging table survives an
interruption (a later run for the same model resumes; another model starts over), and
`swap_in` replaces every embedding and the recorded model in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from indexer.store import summaries
from indexer.store.catalog import Catalog, to_blob

TABLE = "reindex_staging"


class EmbeddingStaging:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.conn = catalog.conn

    def start(self, model_id: str) -> None:
        """Create the staging table, or keep what an interrupted run for `model_id` staged."""
        with self.catalog.transaction():
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, embedding BLOB)")
            if self.catalog.meta_get("reindex_model") != model_id:
                self.conn.execute(f"DELETE FROM {TABLE}")
                self.catalog.meta_set("reindex_model", model_id)

    def staged(self) -> int:
        return self.conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]

    def unstaged(self, limit: int) -> list[tuple[int, str]]:
        """(id, text) of chunks without a staged embedding, in id order."""
        return self.conn.execute(
            f"SELECT id, text FROM chunks WHERE id NOT IN (SELECT id FROM {TABLE}) ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()

    def stage(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        """Keep new embeddings, stored as the catalog stores its own (`Catalog.convert_embeddings`
        converts the staged ones too)."""
        storage = self.catalog.storage
        with self.catalog.transaction():
            self.conn.executemany(f"INSERT OR REPLACE INTO {TABLE} (id, embedding) VALUES (?, ?)",
                                  [(int(i), to_blob(v, storage)) for i, v in zip(ids, vectors)])

    def swap_in(self, model_id: str, dim: int, backend: str | None = None) -> None:
        """Every staged embedding replaces the chunk's, and `model_id` becomes the index's model
        (`backend`: what embedded them, recorded as the one backend of every passage)."""
        with self.catalog.transaction():
            if backend is not None:
                self.catalog.count_embedded_by(backend, self.catalog.chunk_count(), reset=True)
            self.conn.execute(
                f"UPDATE chunks SET embedding = (SELECT s.embedding FROM {TABLE} s WHERE s.id = chunks.id)")
            self.conn.execute(f"DROP TABLE {TABLE}")
            self.conn.execute("DELETE FROM meta WHERE key = 'reindex_model'")
            self.catalog.meta_set("model", model_id)
            self.catalog.meta_set("dim", str(dim))
            summaries.forget_vectors(self.conn)  # the new model's file vectors come from the backfill
            self.catalog.bump_generation()
