"""Index files: scan → (read, hash, extract, chunk) in worker threads → embed in batches → commit.

Each batch of files is committed in one SQLite transaction that holds every change to
those files, so an interruption (kill -9 included) loses at most the batch in flight and
never leaves a half-written file. The vector index follows the catalog and is saved at
the end; if that never happens, the next open rebuilds it from the catalog.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from indexer.catalog import Catalog, Change, NewChunk, from_blob
from indexer.chunking import Chunk, chunk_units
from indexer.config import Config
from indexer.datadir import DataDir, ModelMismatch
from indexer.extract import ExtractionError, extract
from indexer.models import Embedder
from indexer.scan import Excludes, Found, is_decodable, safe_path, scan
from indexer.vectors import VectorIndex

BATCH_CHUNKS = 256
BATCH_FILES = 128
LOOKAHEAD = 64


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def advance(self, path: str, chunks: int) -> None: ...
    def message(self, text: str) -> None: ...


class _Silent:
    def start(self, total: int) -> None:
        pass

    def advance(self, path: str, chunks: int) -> None:
        pass

    def message(self, text: str) -> None:
        pass


@dataclass
class Report:
    scanned: int = 0
    unchanged: int = 0
    indexed: int = 0
    skipped: int = 0
    errors: int = 0
    moved: int = 0
    removed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    vanished: list[str] = field(default_factory=list)

    def count(self, status: str) -> None:
        attribute = "errors" if status == "error" else status
        setattr(self, attribute, getattr(self, attribute) + 1)


@dataclass(frozen=True)
class Prepared:
    """A file read and extracted, ready to embed and commit."""

    found: Found
    path: str
    content_hash: str | None
    kind: str | None
    status: str
    reason: str | None
    chunks: list[Chunk]
    name_only: bool


@dataclass(frozen=True)
class Unchanged:
    found: Found
    content_hash: str


@dataclass(frozen=True)
class Vanished:
    path: str


def file_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


def _name_chunk(name: str) -> list[Chunk]:
    """A file with no text is still found by its name."""
    return [Chunk(name, None, 0, len(name), max(1, len(name.split())))]


class Indexer:
    """Writes one index. Use as a context manager while holding the data dir's writer lock."""

    def __init__(
        self,
        data_dir: DataDir,
        config: Config,
        embedder: Embedder,
        progress: Progress | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.embedder = embedder
        self.progress = progress or _Silent()
        self.catalog: Catalog = data_dir.open_catalog()
        self._vectors: VectorIndex | None = None
        self._vectors_dirty = False

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            self.save_vectors()
        finally:
            self.catalog.close()

    # -- model and vectors -------------------------------------------------------------------
    def check_model(self) -> None:
        recorded = self.catalog.meta_get("model")
        if recorded is not None and recorded != self.embedder.model_id:
            raise ModelMismatch(
                f"This index was built with the model {recorded!r}, not {self.embedder.model_id!r}. "
                f"To switch, run `findling reindex --model {self.embedder.model_id}` "
                f"(or use another --data-dir)."
            )

    def _ensure_model_recorded(self) -> None:
        if self.catalog.meta_get("model") is None:
            with self.catalog.transaction():
                self.catalog.meta_set("model", self.embedder.model_id)
                self.catalog.meta_set("dim", str(self.embedder.dim))

    @property
    def vectors(self) -> VectorIndex | None:
        """The writer's vector index, loaded (or rebuilt) on first use once a model is recorded."""
        dim = self.catalog.meta_get("dim")
        if self._vectors is None and dim is not None:
            self._vectors, rebuilt = VectorIndex.load(self.catalog, self.data_dir.vectors_path, int(dim))
            self._vectors_dirty = rebuilt
        return self._vectors

    def _apply(self, change: Change) -> None:
        """Bring the in-memory vector index up to a change the catalog has just committed."""
        if not (change.added_ids or change.removed_ids):
            return
        if self._vectors is None:
            # Loading now rebuilds from the catalog, which already holds this change.
            if self.vectors is not None:
                self._vectors_dirty = True
            return
        self._vectors.apply(change, self.catalog.generation)
        self._vectors_dirty = True

    def save_vectors(self) -> None:
        vectors = self.vectors
        if vectors is not None and (self._vectors_dirty or not self.data_dir.vectors_path.exists()):
            vectors.save(self.data_dir.vectors_path)
            self._vectors_dirty = False

    # -- indexing ------------------------------------------------------------------------------
    def run(self, roots: Iterable[str]) -> Report:
        """Bring the catalog in line with the files below `roots`."""
        self.check_model()
        roots = [os.path.abspath(r) for r in roots]
        excludes = Excludes(self.config.all_excludes())
        report = Report()
        seen: set[str] = set()
        work: list[Found] = []
        for root in roots:
            for found in scan(root, excludes):
                report.scanned += 1
                key = safe_path(found.path)
                seen.add(key)
                row = self.catalog.file(key)
                if row and row.size == found.size and row.mtime_ns == found.mtime_ns:
                    report.unchanged += 1
                else:
                    work.append(found)
        missing = {
            row.path: row
            for root in roots
            for row in (self.catalog.files(under=root) + [r for r in [self.catalog.file(root)] if r])
            if row.path not in seen
        }
        self.progress.start(len(work))
        self._process(work, missing, report)
        self._remove(list(missing), report)
        self.save_vectors()
        return report

    def _process(self, work: list[Found], missing: dict[str, object], report: Report) -> None:
        missing_by_hash = {row.hash: path for path, row in missing.items() if row.hash}
        batch: list[Prepared] = []
        for found, result in self._prepared(work):
            if isinstance(result, Vanished):
                report.vanished.append(result.path)
                self._remove([result.path], report, count=False)
                self.progress.advance(result.path, 0)
                continue
            if isinstance(result, Unchanged):
                key = safe_path(found.path)
                row = self.catalog.file(key)
                old_path = missing_by_hash.get(result.content_hash)
                if row is None and old_path in missing:
                    with self.catalog.transaction():
                        self.catalog.move_file(old_path, key, Path(key).name, found.mtime_ns)
                    del missing[old_path]
                    report.moved += 1
                    self.progress.advance(key, 0)
                    continue
                if row is not None and row.hash == result.content_hash:
                    with self.catalog.transaction():
                        self.catalog.touch_file(row.id, found.mtime_ns)
                    report.unchanged += 1
                    self.progress.advance(key, 0)
                    continue
                result = prepare(found, self.config, self.embedder)  # hash matched nothing: index it
                if isinstance(result, Vanished):
                    continue
            batch.append(result)
            if sum(len(p.chunks) for p in batch) >= BATCH_CHUNKS or len(batch) >= BATCH_FILES:
                self._commit(batch, report)
                batch = []
        if batch:
            self._commit(batch, report)

    def _prepared(self, work: list[Found]) -> Iterator[tuple[Found, Prepared | Unchanged | Vanished]]:
        """Files prepared in worker threads, in order, with a bounded lookahead."""
        known_hashes = {row.hash for row in self.catalog.files() if row.hash}
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="findling-extract") as pool:
            pending: list[tuple[Found, Future]] = []
            for found in work:
                pending.append((found, pool.submit(prepare, found, self.config, self.embedder,
                                                   known_hashes)))
                if len(pending) >= LOOKAHEAD:
                    head, future = pending.pop(0)
                    yield head, future.result()
            for head, future in pending:
                yield head, future.result()

    def _commit(self, batch: list[Prepared], report: Report) -> None:
        hashes = [c.hash for p in batch for c in p.chunks]
        stored = self.catalog.embeddings_by_hash(hashes)
        todo = sorted({c.hash: c.text for p in batch for c in p.chunks if c.hash not in stored}.items())
        fresh: dict[str, np.ndarray] = {}
        if todo:
            self._ensure_model_recorded()
            vectors = self.embedder.encode_passages([text for _, text in todo])
            fresh = {h: v for (h, _), v in zip(todo, vectors)}
        report.chunks_embedded += len(fresh)
        report.chunks_reused += len(hashes) - sum(1 for h in hashes if h in fresh)
        change = Change.empty()
        with self.catalog.transaction():
            for item in batch:
                new_chunks = [
                    NewChunk(i, c.text, c.page, c.char_start, c.char_end, c.n_tokens, c.hash,
                             fresh[c.hash] if c.hash in fresh else from_blob(stored[c.hash]),
                             is_name=item.name_only)
                    for i, c in enumerate(item.chunks)
                ]
                change.extend(self.catalog.put_file(
                    item.path, Path(item.path).name, item.found.size, item.found.mtime_ns,
                    item.content_hash, item.kind, item.status, item.reason, new_chunks,
                ))
        self._apply(change)
        for item in batch:
            report.count(item.status)
            self.progress.advance(item.path, len(item.chunks))

    def _remove(self, paths: list[str], report: Report, count: bool = True) -> None:
        if not paths:
            return
        change = Change.empty()
        with self.catalog.transaction():
            for path in paths:
                change.removed_ids += self.catalog.delete_file(path)
        self._apply(change)
        if count:
            report.removed += len(paths)

    def remove_under(self, root: str) -> int:
        """Purge every file below `root` (when a root is removed from the config)."""
        root = os.path.abspath(root)
        paths = [row.path for row in self.catalog.files(under=root)]
        row = self.catalog.file(root)
        if row:
            paths.append(row.path)
        report = Report()
        self._remove(paths, report)
        self.save_vectors()
        return report.removed


def prepare(
    found: Found,
    config: Config,
    embedder: Embedder,
    known_hashes: set[str] | None = None,
) -> Prepared | Unchanged | Vanished:
    """Read, hash, extract and chunk one file. Never raises for bad input: the reason is recorded.

    When `known_hashes` (content hashes already in the catalog) holds this file's hash,
    extraction is skipped and the caller decides between an unchanged file and a move.
    """
    path = found.path
    key = safe_path(path)
    name = Path(key).name

    def record(status: str, reason: str, kind: str | None = None, content_hash: str | None = None):
        return Prepared(found, key, content_hash, kind, status, reason, _name_chunk(name), True)

    if not is_decodable(path):
        return record("error", "file name is not valid UTF-8; rename the file to index its contents")
    if found.size > config.max_file_bytes:
        return record("skipped", f"larger than the {config.max_file_mb:g} MB size cap")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return Vanished(key)
    except OSError as exc:
        return record("error", f"cannot read file: {exc.strerror or exc}")
    content_hash = file_hash(data)
    if known_hashes is not None and content_hash in known_hashes:
        return Unchanged(found, content_hash)
    try:
        extraction = extract(Path(path))
    except ExtractionError as exc:
        if not os.path.exists(path):
            return Vanished(key)
        return record("error", str(exc), content_hash=content_hash)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not stop the run
        return record("error", f"unexpected error while reading: {type(exc).__name__}: {exc}",
                      content_hash=content_hash)
    if not extraction.units or not any(u.text.strip() for u in extraction.units):
        return Prepared(found, key, content_hash, extraction.kind, "skipped",
                        extraction.skip_reason or "no text", _name_chunk(name), True)
    budget = max(16, min(config.chunk_tokens, embedder.info.max_seq_length - 16))
    chunks = chunk_units(extraction.units, embedder.tokenizer, budget, config.chunk_overlap)
    if not chunks:
        return Prepared(found, key, content_hash, extraction.kind, "skipped", "no text",
                        _name_chunk(name), True)
    return Prepared(found, key, content_hash, extraction.kind, "indexed", None, chunks, False)

