"""One file's work before the catalog: read, hash and extract (in worker processes), then chunk.

Reading and extraction are CPU-bound for PDF and HTML and need no model, so they run in
worker processes; chunking needs only the embedder's tokenizer and runs in the writer.
Nothing here raises for bad input: the reason is recorded on the file instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from indexer.config import Config
from indexer.ingest.chunking import Chunk, chunk_units
from indexer.ingest.extract import ExtractionError, TextUnit, extract
from indexer.ingest.scan import Found, is_decodable, safe_path
from indexer.models.embedding import Embedder

LOOKAHEAD = 64
PROCESS_POOL_MIN_FILES = 64  # below this, worker processes cost more to start than they save


@dataclass(frozen=True)
class Prepared:
    """A file ready to commit: its chunks, or one name chunk when it has no text."""

    found: Found
    path: str
    content_hash: str | None
    kind: str | None
    status: str
    reason: str | None
    chunks: list[Chunk]
    name_only: bool


@dataclass(frozen=True)
class Extracted:
    """A file's text, not yet chunked."""

    found: Found
    path: str
    content_hash: str
    kind: str
    units: list[TextUnit]


@dataclass(frozen=True)
class Unchanged:
    """Content already in the catalog: an mtime-only change, or a moved file."""

    found: Found
    content_hash: str


@dataclass(frozen=True)
class Vanished:
    path: str


Outcome = Prepared | Extracted | Unchanged | Vanished


def file_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def name_chunk(name: str) -> list[Chunk]:
    """A file with no text is still found by its name."""
    return [Chunk(name, None, 0, len(name), max(1, len(name.split())))]


def _recorded(found: Found, status: str, reason: str, kind: str | None = None,
              content_hash: str | None = None) -> Prepared:
    key = safe_path(found.path)
    return Prepared(found, key, content_hash, kind, status, reason, name_chunk(Path(key).name), True)


def read_and_extract(found: Found, max_file_mb: float, known_hashes: set[str] | frozenset = frozenset()
                     ) -> Outcome:
    """Read, hash and extract one file (no model, no tokenizer: safe in a worker process)."""
    path, key = found.path, safe_path(found.path)
    if not is_decodable(path):
        return _recorded(found, "error", "file name is not valid UTF-8; rename it to index its contents")
    if found.size > max_file_mb * 1024 * 1024:
        return _recorded(found, "skipped", f"larger than the {max_file_mb:g} MB size cap")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return Vanished(key)
    except OSError as exc:
        return _recorded(found, "error", f"cannot read file: {exc.strerror or exc}")
    content_hash = file_hash(data)
    if content_hash in known_hashes:
        return Unchanged(found, content_hash)
    try:
        extraction = extract(Path(path))
    except ExtractionError as exc:
        if not os.path.exists(path):
            return Vanished(key)
        return _recorded(found, "error", str(exc), content_hash=content_hash)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the run
        return _recorded(found, "error", f"unexpected error while reading: {type(exc).__name__}: {exc}",
                         content_hash=content_hash)
    if not any(u.text.strip() for u in extraction.units):
        return _recorded(found, "skipped", extraction.skip_reason or "no text", extraction.kind, content_hash)
    return Extracted(found, key, content_hash, extraction.kind, extraction.units)


def chunk_extracted(item: Extracted, config: Config, embedder: Embedder) -> Prepared:
    budget = max(16, min(config.chunk_tokens, embedder.info.max_seq_length - 16))
    chunks = chunk_units(item.units, embedder.tokenizer, budget, config.chunk_overlap)
    if not chunks:
        return _recorded(item.found, "skipped", "no text", item.kind, item.content_hash)
    return Prepared(item.found, item.path, item.content_hash, item.kind, "indexed", None, chunks, False)


def prepare(found: Found, config: Config, embedder: Embedder,
            known_hashes: set[str] | frozenset = frozenset()) -> Prepared | Unchanged | Vanished:
    """Read, extract and chunk one file in this process."""
    outcome = read_and_extract(found, config.max_file_mb, known_hashes)
    return chunk_extracted(outcome, config, embedder) if isinstance(outcome, Extracted) else outcome


_worker_known_hashes: frozenset[str] = frozenset()


def _init_worker(known_hashes: frozenset[str]) -> None:
    global _worker_known_hashes
    _worker_known_hashes = known_hashes
    with contextlib.suppress(OSError):
        os.nice(5)  # extraction is background work


def _extract_in_worker(found: Found, max_file_mb: float) -> Outcome:
    return read_and_extract(found, max_file_mb, _worker_known_hashes)


def extracted_in_order(work: list[Found], max_file_mb: float, known_hashes: frozenset[str],
                       workers: int | None = None) -> Iterator[tuple[Found, Outcome]]:
    """Read and extract files in parallel worker processes, yielded in order with a bounded
    lookahead, so extraction runs ahead of the writer but never piles up in memory."""
    executor: Executor
    if len(work) >= PROCESS_POOL_MIN_FILES:
        executor = ProcessPoolExecutor(
            max_workers=workers or os.cpu_count() or 2, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(known_hashes,),
        )
        task = _extract_in_worker
        args: tuple = (max_file_mb,)
    else:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="findling-extract")
        task = read_and_extract
        args = (max_file_mb, known_hashes)
    with executor:
        pending: list[tuple[Found, Future]] = []
        for found in work:
            pending.append((found, executor.submit(task, found, *args)))
            if len(pending) >= LOOKAHEAD:
                head, future = pending.pop(0)
                yield head, future.result()
        for head, future in pending:
            yield head, future.result()
