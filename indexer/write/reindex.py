"""Re-embed every stored chunk with another model, without extracting any file again.

New vectors go to a staging table first, in batches, and replace the old ones in one
final transaction together with the model recorded in `meta`. An interrupted reindex
therefore leaves the index working on the old model, and resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable

from indexer.models.protocols import Embedder
from indexer.store.catalog import Catalog
from indexer.store.staging import EmbeddingStaging


def reindex(catalog: Catalog, embedder: Embedder, on_batch: Callable[[int, int], None] | None = None,
            batch: int = 512, should_stop: Callable[[], bool] | None = None) -> int | None:
    """Re-embed all chunks with `embedder`; returns the number of chunks embedded in this run, or None
    when `should_stop()` said so between two batches (the staged vectors are kept: the next run resumes,
    and the index answers with its old model meanwhile)."""
    staging = EmbeddingStaging(catalog)
    staging.start(embedder.model_id)
    total = catalog.chunk_count()
    done = staging.staged()
    embedded = 0
    while rows := staging.unstaged(batch):
        if should_stop is not None and should_stop():
            return None
        vectors = embedder.encode_passages([text for _, text in rows])
        staging.stage([chunk_id for chunk_id, _ in rows], vectors)
        embedded += len(rows)
        done += len(rows)
        if on_batch:
            on_batch(done, total)
    staging.swap_in(embedder.model_id, embedder.dim, embedder.backend)
    while catalog.backfill_summaries():  # the file vectors of the new model
        pass
    return embedded
