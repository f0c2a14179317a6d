"""The OCR phase: read the text of images and scanned PDF pages, after text and embedding.

    pending files (files.ocr = 'pending'), most wanted first
      → the result kept for that content hash, or the OCR worker (one process, one thread,
        lowest priority, killed past `ocr_timeout_s`)
      → one transaction: the result kept by hash, the file's OCR chunks (source "ocr"), its state

A file is one transaction, so a kill -9 loses at most the file in flight, and the phase resumes
from the catalog. Once OCR finds text in a file known only by its name, the name chunk goes and
the file is indexed; an image without text is "skipped: no text found"; a failure ("image too
large: …", "OCR failed: …") leaves the file as it was (found by its name) and is listed by
`findling status`. A result, failures included, is kept for its content: the file is read again
once it changes. The chunks it adds are embedded by the embedding phase that follows.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from indexer.config import Config
from indexer.ingest.chunking import chunk_units
from indexer.ingest.extract import OCR_IMAGE_EXTENSIONS
from indexer.ingest.ocr.availability import ocr_installed
from indexer.ingest.ocr.result import ERROR, NO_TEXT, TEXT, OcrResult
from indexer.ingest.prepare import chunk_budget, name_chunk
from indexer.ingest.workers import Budget, TaskFailed, WorkerPool
from indexer.paths import display_name, os_path
from indexer.store.catalog import Change, FileRow, NewChunk, from_blob
from indexer.store.ocr_results import PENDING

if TYPE_CHECKING:
    from indexer.models.protocols import Embedder
    from indexer.store.catalog import Catalog

OCR_KINDS = ("image", "pdf")
OCR_MEMORY_MB = 1536  # per file, above the worker's start-up size (models, a 40 MP picture, the detector)
IMAGE_SKIP_REASON = "image file"  # what the text phase records for an image (no text layer)

_pool: WorkerPool | None = None
_pool_lock = threading.Lock()


def ocr_applies(config: Config, path: str) -> bool:
    """Whether OCR reads files at `path` (a catalog key): on, and under `ocr_roots` when set."""
    if not config.ocr:
        return False
    if not config.ocr_roots:
        return True
    roots = [os.path.abspath(os.path.expanduser(r)).rstrip(os.sep) for r in config.ocr_roots]
    return any(path == r or path.startswith(r + os.sep) for r in roots)


def ocr_state(config: Config, path: str, kind: str | None, content_hash: str | None) -> str | None:
    """A file's OCR state as the text phase records it: pending for a PDF or an image of a format
    OCR reads, under the roots OCR applies to; else None (OCR does not apply)."""
    if not content_hash or kind not in OCR_KINDS or not ocr_applies(config, path):
        return None
    if kind == "image" and os.path.splitext(path)[1].lower() not in OCR_IMAGE_EXTENSIONS:
        return None
    return PENDING


def ocr_pool(config: Config) -> WorkerPool:
    """The OCR worker: one process, its own pool (so it never takes an extraction worker's place)."""
    global _pool
    budget = Budget(max(OCR_MEMORY_MB, config.extract_memory_mb), config.ocr_timeout_s)
    with _pool_lock:
        if _pool is not None and (_pool.budget != budget or not _pool.alive()):
            _pool.close()
            _pool = None
        if _pool is None:
            _pool = WorkerPool(1, budget, preload=("indexer.ingest.ocr.task",))
        return _pool


def read_file(config: Config, path: str, kind: str) -> tuple[OcrResult, float]:
    """OCR one file in the worker: (result, seconds). A worker that died or overran is an error."""
    from indexer.ingest.ocr.task import ocr_file

    started = time.monotonic()
    task = ocr_pool(config).submit(ocr_file, path, kind, config.ocr_min_side_px)
    try:
        result = task.result()
    except TaskFailed as exc:
        reason = str(exc).replace("extraction", "OCR")
        result = OcrResult(ERROR, f"OCR failed: {reason}")
    return result, time.monotonic() - started


def apply_result(catalog: Catalog, config: Config, embedder: Embedder, row: FileRow,
                 result: OcrResult) -> Change:
    """Give a file the chunks of its OCR result, in the caller's transaction: its own text chunks
    stay, OCR chunks (source "ocr") follow them, and a name chunk goes once OCR found text."""
    stored = catalog.stored_chunks(row.id)
    own = [c for c in stored if not c.is_name and c.source == "text"]
    chunks = [replace(c, ordinal=i) for i, c in enumerate(own)]
    status, reason = row.status, row.reason
    if result.status == TEXT:
        read = chunk_units(result.units(), embedder.tokenizer, chunk_budget(config, embedder),
                           config.chunk_overlap)
        known = catalog.embeddings_by_hash(c.hash for c in read)
        chunks += [NewChunk(len(own) + i, c.text, c.page, c.char_start, c.char_end, c.n_tokens, c.hash,
                            from_blob(known[c.hash]) if c.hash in known else None, source="ocr")
                   for i, c in enumerate(read)]
        if not own:
            status, reason = "indexed", None
    else:
        chunks = [replace(c, ordinal=i) for i, c in enumerate(c for c in stored if c.source != "ocr")]
        if not own and result.status == NO_TEXT:
            status, reason = "skipped", result.reason
        # A failure (ERROR) leaves the file as the text phase recorded it, still found by its
        # name; the reason is kept with the result (`findling status` lists OCR failures).
    if not chunks:  # never a file without a chunk: it is still found by its name
        named = name_chunk(display_name(row.path))[0]
        chunks = [NewChunk(0, named.text, None, 0, named.char_end, named.n_tokens, named.hash, None,
                           is_name=True)]
    return catalog.put_file(row.path, display_name(row.path), row.size, row.mtime_ns, row.hash, row.kind,
                            status, reason, chunks, dev=row.dev, mode=row.mode, ocr=result.status)


class OcrRun:
    """The OCR phase of one writer (`Indexer.ocr_pending` drives it)."""

    def __init__(self, catalog: Catalog, config: Config, embedder: Embedder) -> None:
        self.catalog, self.config, self.embedder = catalog, config, embedder
        self.read = 0  # files the engine read this run (a cached result is not read again)

    def available(self) -> bool:
        return self.config.ocr and ocr_installed()

    def next_file(self, skip: tuple[int, ...] = ()):
        pending = self.catalog.ocr_pending(1, skip)
        return pending[0] if pending else None

    def one(self, pending, apply: Callable[[Change], None]) -> str | None:
        """OCR one pending file and commit it: the result's status, or None when the file could
        not be judged (gone, or changed while it was read)."""
        cached = self.catalog.ocr_cached(pending.hash)
        if cached is not None:
            result, seconds = OcrResult.from_json(cached), 0.0
        else:
            path = os_path(pending.path)
            result, seconds = read_file(self.config, path, pending.kind)
            self.read += 1
            if result.status == ERROR and not os.path.lexists(path):
                with self.catalog.transaction():  # gone while read: the next scan removes it
                    self.catalog.set_ocr_state(pending.id, None)
                return None
        with self.catalog.transaction():
            row = self.catalog.file(pending.path)
            if row is None or row.hash != pending.hash:
                return None  # changed meanwhile: its new content is pending on its own
            if cached is None:
                self.catalog.put_ocr_result(pending.hash, result.status, result.reason, result.to_json(),
                                            seconds)
            change = apply_result(self.catalog, self.config, self.embedder, row, result)
        apply(change)
        return result.status
