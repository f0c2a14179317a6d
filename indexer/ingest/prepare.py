"""One file's work before the catalog: read, hash, extract, chunk and sign (in worker processes).

Reading and extraction parse untrusted content and need no model, so they always run in the
budgeted worker processes of `indexer.ingest.workers` (a file that exhausts its memory or time is
recorded as an error and the run goes on). Chunking needs only the embedder's tokenizer: when
the embedder names its tokenizer file (`Embedder.tokenizer_file`), a run of more than a few
files has the workers load it once and cut the chunks and the file's MinHash signature there
too, so the writer only writes; otherwise (a live change of one file, a tokenizer without a
file) the writer chunks, over bounded windows of text, with the very same tokenizer. A file's
text is capped like its size (`max_file_mb`), so what reaches the writer is bounded too.
Nothing here raises for bad input: the reason is recorded on the file instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from indexer.config import Config
from indexer.ingest.budget import OverBudget
from indexer.ingest.chunking import Chunk, chunk_units
from indexer.ingest.extract import Attachment, Extraction, ExtractionError, TextUnit, extract
from indexer.ingest.extract.opening import open_regular
from indexer.ingest.private_keys import PRIVATE_KEY, is_private_key
from indexer.ingest.scan import Found
from indexer.ingest.workers import Budget, Task, TaskFailed, WorkerPool, shared_pool
from indexer.paths import ATTACHMENT_MARK, as_text, display_name, key
from indexer.similar import signature

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from indexer.models.protocols import Embedder

LOOKAHEAD = 64
# Runs of at most this many files chunk in the writer, whose tokenizer is loaded already (a live
# change stays as fresh as before); longer runs chunk in the workers, which load it once each.
WRITER_CHUNKS_UP_TO = 4
# A worker that chunks holds the tokenizer (about 280 MB for XLM-R's 250k pieces), and on a home
# folder the writer spends a fifth of the workers' time committing what they make: more workers
# than this would cost memory for little speed.
MAX_WORKERS = 4
_HASH_BLOCK = 1 << 20


@dataclass(frozen=True)
class Prepared:
    """A file ready to commit: its chunks, or one name chunk when it has no text; `signature`
    is its MinHash `(blob, shingles)` when a worker computed it (else the catalog does)."""

    found: Found
    path: str
    content_hash: str | None
    kind: str | None
    status: str
    reason: str | None
    chunks: list[Chunk]
    name_only: bool
    signature: tuple[bytes, int] | None = None
    children: tuple[Prepared, ...] = ()  # the files it carries (a mail's attachments)


@dataclass(frozen=True)
class ChunkSpec:
    """How workers cut chunks: the tokenizer file the writer's embedder counts with, the budget."""

    tokenizer_file: str
    budget: int
    overlap: int


@dataclass(frozen=True)
class Extracted:
    """A file's text, not yet chunked; `note` says what was left out of it."""

    found: Found
    path: str
    content_hash: str
    kind: str
    units: list[TextUnit]
    note: str | None = None
    attachments: tuple[Attachment, ...] = ()


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


def _hash_file(path: str, max_bytes: int) -> tuple[str | None, bytes]:
    """The content hash of `path`, read a block at a time (None if it grew past `max_bytes`),
    and its first block (for `is_private_key`)."""
    digest = hashlib.blake2b(digest_size=20)
    read, head = 0, b""
    with open_regular(path) as fh:
        while block := fh.read(_HASH_BLOCK):
            head = head or block
            read += len(block)
            if read > max_bytes:
                return None, head
            digest.update(block)
    return digest.hexdigest(), head


def name_chunk(name: str) -> list[Chunk]:
    """A file with no text is still found by its name."""
    return [Chunk(name, None, 0, len(name), max(1, len(name.split())))]


def _recorded(found: Found, status: str, reason: str, kind: str | None = None,
              content_hash: str | None = None) -> Prepared:
    stored = key(found.path)
    name = display_name(stored)
    return Prepared(found, stored, content_hash, kind, status, as_text(reason), name_chunk(name), True)


def read_and_extract(found: Found, max_file_mb: float, known_hashes: set[str] | frozenset = frozenset()
                     ) -> Outcome:
    """Read, hash and extract one file (no model, no tokenizer: safe in a worker process)."""
    path, stored = found.path, key(found.path)
    if found.skip:  # a symlink: judged by its target in the scan, never read
        return _recorded(found, "skipped", found.skip)
    max_bytes = int(max_file_mb * 1024 * 1024)
    too_large = _recorded(found, "skipped", f"larger than the {max_file_mb:g} MB size cap")
    if found.size > max_bytes:
        return too_large
    try:
        content_hash, head = _hash_file(path, max_bytes)
    except FileNotFoundError:
        return Vanished(stored)
    except OSError as exc:
        return _recorded(found, "error", f"cannot read file: {exc.strerror or exc}")
    if content_hash is None:
        return too_large
    if is_private_key(head):
        return _recorded(found, "skipped", PRIVATE_KEY)
    if content_hash in known_hashes:
        return Unchanged(found, content_hash)
    try:
        extraction = extract(Path(path))
    except ExtractionError as exc:
        if not os.path.exists(path):
            return Vanished(stored)
        return _recorded(found, "error", str(exc), content_hash=content_hash)
    except OverBudget as exc:
        return _recorded(found, "error", str(exc), content_hash=content_hash)
    except MemoryError:
        raise  # the worker pool records it, and replaces the worker
    except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the run
        return _recorded(found, "error", f"unexpected error while reading: {type(exc).__name__}: {exc}",
                         content_hash=content_hash)
    text_chars = sum(len(u.text) for e in _with_attachments(extraction) for u in e.units)
    if text_chars > max_bytes:
        return _recorded(found, "error", f"too large to index: {text_chars / 2**20:,.0f} MB of text, "
                         f"over the {max_file_mb:g} MB size cap", extraction.kind, content_hash)
    if not any(u.text.strip() for u in extraction.units):
        return _recorded(found, "skipped", extraction.skip_reason or "no text", extraction.kind, content_hash)
    return Extracted(found, stored, content_hash, extraction.kind, extraction.units, extraction.note,
                     extraction.attachments)


def _with_attachments(extraction: Extraction) -> list[Extraction]:
    return [extraction, *(a.extraction for a in extraction.attachments if a.extraction)]


def chunk_budget(config: Config, embedder: Embedder) -> int:
    """Tokens per chunk: the configured size, within what the model reads."""
    return max(16, min(config.chunk_tokens, embedder.info.max_seq_length - 16))


def chunk_spec(config: Config, embedder: Embedder) -> ChunkSpec | None:
    """What workers need to chunk like the writer; None when the tokenizer has no file."""
    file = getattr(embedder, "tokenizer_file", None)
    if file is None:
        return None
    return ChunkSpec(os.fspath(file), chunk_budget(config, embedder), config.chunk_overlap)


def _chunked(item: Extracted, tokenizer: Tokenizer, budget: int, overlap: int, sign: bool) -> Prepared:
    """Chunk a file's text, and its attachments' (each a file of its own, `container#name`)."""
    children = tuple(_chunked(attached, tokenizer, budget, overlap, sign) if isinstance(attached, Extracted)
                     else attached for attached in map(partial(_attached, item), item.attachments))
    chunks = chunk_units(item.units, tokenizer, budget, overlap)
    if not chunks:  # no text of its own: found by its name, its attachments kept
        return replace(_recorded(item.found, "skipped", "no text", item.kind, item.content_hash),
                       children=children)
    signed = None
    if sign:
        text = signature.document_text([(c.text, c.char_start, c.char_end) for c in chunks])
        signed = signature.stored(text)
    return Prepared(item.found, item.path, item.content_hash, item.kind, "indexed", item.note, chunks, False,
                    signed, children)


def _attached(item: Extracted, attachment: Attachment) -> Extracted | Prepared:
    """An attachment as a file of its own kind, found as `container#name`, dated as its container:
    its text to chunk, or its record when it has none."""
    path = f"{item.found.path}{ATTACHMENT_MARK}{attachment.name}"
    found = Found(path, attachment.size, item.found.mtime_ns)
    extraction = attachment.extraction
    if extraction is None:
        return _recorded(found, "error", attachment.error or "could not be read",
                         content_hash=attachment.content_hash)
    if not any(u.text.strip() for u in extraction.units):
        return _recorded(found, "skipped", extraction.skip_reason or "no text", extraction.kind,
                         attachment.content_hash)
    return Extracted(found, key(found.path), attachment.content_hash, extraction.kind, extraction.units,
                     extraction.note)


def chunk_extracted(item: Extracted, config: Config, embedder: Embedder) -> Prepared:
    """Chunk a file's text here, in the writer (its signature is left to the catalog)."""
    return _chunked(item, embedder.tokenizer, chunk_budget(config, embedder), config.chunk_overlap, False)


def budget_of(config: Config) -> Budget:
    return Budget(config.extract_memory_mb, config.extract_timeout_s)


def extraction_pool(config: Config, workers: int | None = None) -> WorkerPool:
    """The process's extraction workers (a worker per core, at most MAX_WORKERS), with the
    budget `config` sets."""
    workers = workers or min(os.cpu_count() or 2, MAX_WORKERS)
    return shared_pool(budget_of(config), workers, preload=(__name__,))


def prepare(found: Found, config: Config, embedder: Embedder) -> Prepared | Unchanged | Vanished:
    """Read and extract one file in a worker, then chunk it here."""
    task = extraction_pool(config).submit(read_and_extract, found, config.max_file_mb)
    outcome = _collect(found, task)
    return chunk_extracted(outcome, config, embedder) if isinstance(outcome, Extracted) else outcome


_worker_known_hashes: frozenset[str] = frozenset()
_worker_spec: ChunkSpec | None = None
_worker_tokenizer: tuple[tuple[str, int, int], Tokenizer] | None = None  # (file, mtime, size), tokenizer


def _set_known_hashes(known_hashes: frozenset[str], spec: ChunkSpec | None = None) -> None:
    """A run's setup in each worker: the catalog's hashes, how to chunk (the tokenizer loaded
    here, outside the tasks' memory budget), and a lower priority."""
    global _worker_known_hashes, _worker_spec
    _worker_known_hashes, _worker_spec = known_hashes, spec
    if spec is not None:
        _tokenizer_in_worker(spec.tokenizer_file)
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            if os.nice(0) == 0:
                os.nice(5)  # extraction is background work


def _tokenizer_in_worker(file: str) -> Tokenizer | None:
    """The tokenizer in `file`, loaded once per worker (again if the file changes); None if it
    cannot be read here (the writer then chunks with its own)."""
    global _worker_tokenizer
    # One task at a time per worker, a worker per core: no thread pool, whose thread stacks and
    # malloc arenas would count against the worker's address-space budget (and abort it there).
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    from tokenizers import Tokenizer

    try:
        stat = os.stat(file)
        stamp = (file, stat.st_mtime_ns, stat.st_size)
        if _worker_tokenizer is None or _worker_tokenizer[0] != stamp:
            tokenizer = Tokenizer.from_file(file)
            tokenizer.no_padding()
            tokenizer.no_truncation()
            _worker_tokenizer = (stamp, tokenizer)
    except Exception:  # noqa: BLE001 - tokenizers raises plain Exception on bad JSON
        return None
    return _worker_tokenizer[1]


def _extract_in_worker(found: Found, max_file_mb: float) -> Outcome:
    outcome = read_and_extract(found, max_file_mb, _worker_known_hashes)
    spec = _worker_spec
    if isinstance(outcome, Extracted) and spec is not None:
        tokenizer = _tokenizer_in_worker(spec.tokenizer_file)
        if tokenizer is not None:
            return _chunked(outcome, tokenizer, spec.budget, spec.overlap, True)
    return outcome


def _collect(found: Found, task: Task) -> Outcome:
    """The outcome of a worker's task; a worker that died or overran records the file."""
    try:
        return task.result()
    except TaskFailed as exc:
        if not os.path.lexists(found.path):
            return Vanished(key(found.path))
        return _recorded(found, "error", str(exc))


def extracted_in_order(work: list[Found], config: Config, known_hashes: frozenset[str],
                       workers: int | None = None, spec: ChunkSpec | None = None,
                       ) -> Iterator[tuple[Found, Outcome]]:
    """Read and extract files in the worker processes (and chunk them there, given a `spec`),
    yielded in order with a bounded lookahead, so the workers run ahead of the writer but never
    pile up in memory."""
    if not work:
        return
    pool = extraction_pool(config, workers)
    pool.set_setup(_set_known_hashes, known_hashes, spec)
    pending: list[tuple[Found, Task]] = []
    try:
        for found in work:
            pending.append((found, pool.submit(_extract_in_worker, found, config.max_file_mb)))
            if len(pending) >= LOOKAHEAD:
                head, task = pending.pop(0)
                yield head, _collect(head, task)
        while pending:
            head, task = pending.pop(0)
            yield head, _collect(head, task)
    finally:
        for _, task in pending:  # the run stopped early
            task.cancel()
