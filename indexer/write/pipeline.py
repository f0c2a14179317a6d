"""Index files in two phases: text first (keyword search works at once), embeddings behind.

    text phase:  scan → read, hash, extract (worker processes) → chunk → commit (FTS5 + chunks)
    embed phase: pending chunks (no embedding yet), most wanted first → embed → commit

Each batch is one SQLite transaction holding every change to its files, so an interruption
(kill -9 included) loses at most the batch in flight and never leaves a half-written file.
The embedding phase's state is the catalog itself: a chunk without an embedding is pending,
so a stopped phase resumes where it left off. The vector index follows the catalog and is
saved at the end; if that never happens, the next open rebuilds it from the catalog.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from indexer.config import Config
from indexer.datadir import DataDir, ModelMismatch
from indexer.ingest.ocr.result import OcrResult
from indexer.ingest.prepare import (
    WRITER_CHUNKS_UP_TO,
    Extracted,
    Prepared,
    Unchanged,
    Vanished,
    chunk_extracted,
    chunk_spec,
    extracted_in_order,
    prepare,
)
from indexer.ingest.recent import recently_used
from indexer.ingest.scan import Excludes, Found, scan
from indexer.models.protocols import Embedder
from indexer.paths import display_name, key
from indexer.store.catalog import Catalog, Change, FileRow, NewChunk, Unavailable, from_blob
from indexer.store.search_store import shared_log_floor
from indexer.store.vectors import VectorStore, open_vectors
from indexer.write.availability import Availability, unreadable_reason
from indexer.write.control import RunControl
from indexer.write.ocr_phase import OcrRun, apply_result, ocr_state
from indexer.write.vector_upkeep import VectorUpkeep, record

BATCH_CHUNKS = 256
EXPORT_POLL_S = 0.2  # how often a held embedding phase looks at a background ONNX export
SWITCH_BATCH_CHUNKS = 32  # chunks per batch while embedding on PyTorch waits to switch to an ONNX export
BATCH_FILES = 128

# Embedding order: what people search for first.
PRIORITY_OPENED = 4  # opened from the results
PRIORITY_RECENTLY_USED = 3  # in the desktop's recently-used list
PRIORITY_RECENTLY_MODIFIED = 2  # modified in the last RECENT_DAYS
PRIORITY_SMALL = 1  # small documents before huge ones
RECENT_DAYS = 30
SMALL_BYTES = 256 * 1024


class StoreMirror(Protocol):
    """A shared store kept in step with the catalog after each commit (`indexer.store.milvus_mirror`)."""

    def apply_change(self, change: Change) -> None: ...

    def files_changed(self, file_ids: list[int]) -> None: ...

    def catch_up(self, force: bool = False) -> bool:
        """While behind (the store was out of reach), try again once due; whether it is in step."""

    def close(self) -> None: ...


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
    chunks_pending: int = 0
    vanished: list[str] = field(default_factory=list)
    interrupted: bool = False  # stopped at a commit point (a `RunControl`) before the end
    unavailable: list[Unavailable] = field(default_factory=list)  # folders out of reach, files kept
    kept: int = 0  # files kept because their folder is unavailable
    ocr_read: int = 0  # files the OCR engine read (a result kept for their content is not read again)
    ocr_text: int = 0  # of the files OCR judged, those with text

    def count(self, status: str) -> None:
        attribute = "errors" if status == "error" else status
        setattr(self, attribute, getattr(self, attribute) + 1)


def still_current(row: FileRow | None, found: Found) -> bool:
    """Whether the catalog's record of a file holds without reading it again: same size and
    mtime, not in error (an error is retried by every run that scans the file: a chmod or a
    fixed disk changes neither size nor mtime), and a symlink judged as before."""
    if row is None or row.status == "error":
        return False
    if (row.size, row.mtime_ns) != (found.size, found.mtime_ns):
        return False
    return found.skip is None or row.reason == found.skip


def priority_of(found: Found, recent: set[str], now_ns: int) -> int:
    if found.path in recent:
        return PRIORITY_RECENTLY_USED
    if now_ns - found.mtime_ns < RECENT_DAYS * 86400 * 1_000_000_000:
        return PRIORITY_RECENTLY_MODIFIED
    return PRIORITY_SMALL if found.size <= SMALL_BYTES else 0


class Indexer:
    """Writes one index. Use as a context manager while holding the data dir's writer lock.

    With a `control`, every commit point of a run (after each transaction) waits out a pause
    there and ends the run on a stop.
    """

    def __init__(
        self,
        data_dir: DataDir,
        config: Config,
        embedder: Embedder,
        progress: Progress | None = None,
        control: RunControl | None = None,
        mirror: StoreMirror | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.mirror = mirror  # a shared store kept in step with each commit (`--store`), else None
        self.config = config
        self.embedder = embedder
        self.progress = progress or _Silent()
        self.control = control
        self.catalog: Catalog = data_dir.open_catalog()
        self._vectors: VectorStore | None = None
        self._vectors_dirty = False
        self.upkeep = VectorUpkeep(data_dir.catalog_path, config.compress_above)
        if config.embedding_storage != self.catalog.storage:
            self.progress.message(f"Storing the embeddings as {config.embedding_storage} (no re-embedding)…")
            self.catalog.convert_embeddings(config.embedding_storage)

    def __enter__(self) -> Indexer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Save the vector file, waiting for a compressed build still running (a one-shot `findling
        index` ends with the index it needs) unless the run control says stop: then the build is
        abandoned, and the next writer start builds again."""
        try:
            self.save_vectors(wait_for_build=not (self.control is not None and self.control.stopping))
        finally:
            self.upkeep.abandon()
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

    def _record_model(self, with_dim: bool) -> None:
        """Record the model (its tokenizer cut the chunks); the dimension only once embedding
        starts, since knowing it means loading the weights."""
        missing_model = self.catalog.meta_get("model") is None
        missing_dim = with_dim and self.catalog.meta_get("dim") is None
        if missing_model or missing_dim:
            dim = str(self.embedder.dim) if missing_dim else None
            with self.catalog.transaction():
                self.catalog.meta_set("model", self.embedder.model_id)
                if dim:
                    self.catalog.meta_set("dim", dim)

    @property
    def vectors(self) -> VectorStore | None:
        """The writer's vector index, loaded (or rebuilt) on first use once a model is recorded."""
        dim = self.catalog.meta_get("dim")
        if self._vectors is None and dim is not None:
            self._vectors, rebuilt = open_vectors(self.catalog, self.data_dir.vectors_path, int(dim))
            self._vectors_dirty = rebuilt
        return self._vectors

    def _apply(self, change: Change) -> None:
        """Bring the in-memory vector index up to a change the catalog has just committed."""
        if not (change.added_ids or change.removed_ids):
            return
        if self.mirror is not None:
            self.mirror.apply_change(change)
        if self._vectors is None:
            # Loading now rebuilds from the catalog, which already holds this change.
            if self.vectors is not None:
                self._vectors_dirty = True
            return
        self._vectors.apply(change, self.catalog.generation, self.catalog.log_seq())
        self._vectors_dirty = True

    def _go_on(self) -> bool:
        """A commit point: wait out a pause (the vector file saved first), and whether to go on."""
        return self.control is None or self.control.checkpoint(self.save_vectors)

    def save_vectors(self, wait_for_build: bool = False) -> None:
        """Save the vector file when it is behind, trim the catalog's vector log it covers, and see to
        the index's kind (`VectorUpkeep`): take a finished background build (waiting for a running
        one with `wait_for_build`, after the current index is saved), start one that is needed, or
        go back to exact below the size."""
        if self.vectors is None:
            return
        self._save_current()
        taken = self.upkeep.take(self.catalog, wait=wait_for_build)
        if taken is not None:
            self._vectors, report = taken
            self._vectors_dirty = True
            self._save_current()
            record(self.catalog, self._vectors, report)
        replacement = self.upkeep.consider(self._vectors, self.catalog)
        if replacement is not None:
            self._vectors, self._vectors_dirty = replacement, True
            self._save_current()
            record(self.catalog, replacement, None)
        if wait_for_build and self.upkeep.building:
            self.save_vectors(wait_for_build=True)

    def _save_current(self) -> None:
        vectors = self._vectors
        path = self.data_dir.vectors_path
        if vectors is not None and (self._vectors_dirty or not path.exists()):
            vectors.save(path)
            self._vectors_dirty = False
            covered = vectors.seq if vectors.exact else vectors.base_seq  # type: ignore[attr-defined]
            shared = shared_log_floor(self.catalog)  # a shared store replays from there (`--store`)
            self.catalog.trim_log(self.upkeep.trim_floor(covered if shared is None else min(covered, shared)))

    # -- indexing ------------------------------------------------------------------------------
    def run(self, roots: Iterable[str], phase: str = "all",
            should_stop: Callable[[], bool] | None = None, within: Iterable[str] | None = None) -> Report:
        """Bring the catalog in line with the files below `roots` (files or folders).

        `phase="text"` stops after the keyword phase; "embed" also embeds every pending chunk;
        "all" then reads images and scanned pages (OCR) and embeds their text.
        A path that no longer exists is removed; a vanished path given together with its new
        path (a move) keeps its chunks and embeddings. Nothing is removed that could not be read
        (`indexer.availability`): `within` names the indexed folders the paths belong to (the
        watcher's roots, when it passes the files and folders of a live batch); by default the
        configured roots, and each path that no configured root holds.
        """
        self.check_model()
        roots = [os.path.abspath(r) for r in roots]
        excludes = self.excludes(roots, within or ())
        report = Report()
        seen: set[str] = set()
        work: list[Found] = []
        unreadable: dict[str, str] = {}
        renumbered: dict[int, int] = {}  # device numbers that changed since files were seen
        restat: list[tuple[str, int | None, int | None]] = []

        def not_read(err: OSError) -> None:
            if not isinstance(err, FileNotFoundError):  # a missing path is judged by `Availability`
                unreadable.setdefault(os.fsdecode(err.filename), unreadable_reason(err))

        for root in roots:
            for found in scan(root, excludes, on_error=not_read):
                report.scanned += 1
                stored = key(found.path)
                seen.add(stored)
                row = self.catalog.file(stored)
                if row and row.dev is not None and found.dev is not None and row.dev != found.dev:
                    renumbered.setdefault(row.dev, found.dev)
                if still_current(row, found):
                    report.unchanged += 1
                    if (row.dev, row.mode) != (found.dev, found.mode):
                        restat.append((stored, found.dev, found.mode))
                else:
                    work.append(found)
        candidates = {
            row.path: row
            for root in map(key, roots)
            for row in (self.catalog.files(under=root) + [r for r in [self.catalog.file(root)] if r])
            if row.path not in seen and row.parent_id is None  # attachments go with their mail
        }
        judged = [os.path.abspath(r) for r in within] if within is not None else self._judging_roots(roots)
        availability = Availability(judged, unreadable, renumbered)
        missing = {path: row for path, row in candidates.items() if not availability.kept(row)}
        report.unavailable = sorted(availability.found.values(), key=lambda u: u.path)
        report.kept = len(candidates) - len(missing)
        with self.catalog.transaction():
            self.catalog.record_stats(restat)
            self.catalog.set_unavailable([key(r) for r in roots], report.unavailable)
        self.progress.start(len(work))
        if not self._text_phase(work, missing, report, should_stop):
            report.interrupted = True
            self.save_vectors()
            return report  # stopped between two batches; a later run picks up the rest
        self._remove(list(missing), report)
        if phase in ("embed", "all"):
            self.embed_pending(report, should_stop)
        if phase == "all" and self.ocr_pending(report, should_stop):
            self.embed_pending(report, should_stop)
        self.backfill_summaries(should_stop)
        report.chunks_pending = self.catalog.embedding_progress()[1]
        self.save_vectors()
        return report

    def backfill_summaries(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Give files indexed before file summaries existed theirs, a batch per transaction."""
        while not (should_stop and should_stop()) and self.catalog.backfill_summaries():
            pass

    def _judging_roots(self, roots: list[str]) -> list[str]:
        """The roots a missing file is judged under: the configured roots, and the run's own
        paths where no configured root holds them (a live run passes single files)."""
        configured = [os.path.abspath(r) for r in self.config.roots]
        return configured + [r for r in roots if not any(
            r == c or r.startswith(c.rstrip(os.sep) + os.sep) for c in configured)]

    def excludes(self, paths: Iterable[str] = (), within: Iterable[str] = ()) -> Excludes:
        """The exclude rules of this index. The folders a symlink may point into: the configured
        roots, `within` (a watcher's roots) and the run's own `paths`, except those that are
        symlinks themselves (a live batch naming a new link), which are judged as links."""
        within = [os.path.abspath(r) for r in within]
        own = [p for p in paths if p in within or not os.path.islink(p)]
        return Excludes.for_config(self.config, self.data_dir.path, [*within, *own])

    def _text_phase(self, work: list[Found], missing: dict[str, object], report: Report,
                    should_stop: Callable[[], bool] | None = None) -> bool:
        """Commit the text of `work` in batches; False when `should_stop` ended it early."""
        missing_by_hash = {row.hash: path for path, row in missing.items() if row.hash}
        known_hashes = frozenset(row.hash for row in self.catalog.files()  # errors are read again
                                 if row.hash and row.status != "error")
        recent = recently_used() if work else set()
        now_ns = time.time_ns()
        batch: list[tuple[Prepared, int]] = []
        spec = chunk_spec(self.config, self.embedder) if len(work) > WRITER_CHUNKS_UP_TO else None
        for found, outcome in extracted_in_order(work, self.config, known_hashes, spec=spec):
            if isinstance(outcome, Vanished):
                report.vanished.append(outcome.path)
                self._remove([outcome.path], report, count=False)
                self.progress.advance(outcome.path, 0)
                if not self._go_on():
                    return False
                continue
            if isinstance(outcome, Unchanged):
                if self._moved_or_touched(found, outcome, missing, missing_by_hash, report):
                    if not self._go_on():
                        return False
                    continue
                outcome = prepare(found, self.config, self.embedder)  # hash matched nothing: index it
                if isinstance(outcome, Vanished):
                    continue
            if isinstance(outcome, Extracted):
                outcome = chunk_extracted(outcome, self.config, self.embedder)
            batch.append((outcome, priority_of(found, recent, now_ns)))
            if sum(len(p.chunks) for p, _ in batch) >= BATCH_CHUNKS or len(batch) >= BATCH_FILES:
                self._commit_text(batch, report)
                batch = []
                if (should_stop and should_stop()) or not self._go_on():
                    return False
        if batch:
            self._commit_text(batch, report)
            return self._go_on()
        return True

    def _moved_or_touched(self, found: Found, outcome: Unchanged, missing: dict, missing_by_hash: dict,
                          report: Report) -> bool:
        """Handle content the catalog already has: a move, or an mtime-only change."""
        stored = key(found.path)
        row = self.catalog.file(stored)
        old_path = missing_by_hash.get(outcome.content_hash)
        if row is None and old_path in missing:
            with self.catalog.transaction():
                self.catalog.move_file(old_path, stored, display_name(stored), found.mtime_ns)
                self.catalog.record_stats([(stored, found.dev, found.mode)])
            if self.mirror is not None:
                self.mirror.files_changed([self.catalog.file(stored).id])
            del missing[old_path]
            report.moved += 1
        elif row is not None and row.hash == outcome.content_hash and row.status != "error":
            with self.catalog.transaction():
                self.catalog.touch_file(row.id, found.mtime_ns)
                self.catalog.record_stats([(stored, found.dev, found.mode)])
            if self.mirror is not None:
                self.mirror.files_changed([row.id])
            report.unchanged += 1
        else:
            return False
        self.progress.advance(stored, 0)
        return True

    def _commit_text(self, batch: list[tuple[Prepared, int]], report: Report) -> None:
        """Store files and chunks; a chunk whose text was embedded before keeps that embedding,
        the others are left pending for the embedding phase."""
        self._record_model(with_dim=False)
        stored = self.catalog.embeddings_by_hash(
            c.hash for p, _ in batch for f in (p, *p.children) for c in f.chunks)
        change = Change.empty()
        final: dict[str, str] = {}  # a status changed by an OCR result kept for the same content
        with self.catalog.transaction():
            for item, priority in batch:
                change.extend(self._put(item, priority, stored, report, final))
                parent_id = self.catalog.file(item.path).id
                kept = []
                for child in item.children:
                    existing = self.catalog.file(child.path)
                    if existing is not None and existing.parent_id != parent_id:
                        continue  # a file on disk has that very name: it keeps it
                    change.extend(self._put(child, priority, stored, report, final, parent_id))
                    kept.append(child.path)
                change.removed_ids += self.catalog.delete_children(parent_id, kept)
        self._apply(change)
        for item, _ in batch:
            report.count(final.get(item.path, item.status))
            self.progress.advance(item.path, len(item.chunks))

    def _put(self, item: Prepared, priority: int, stored: dict[str, bytes], report: Report,
             final: dict[str, str], parent_id: int | None = None) -> Change:
        """Store one file and its chunks; a chunk whose text was embedded before keeps that embedding.
        A picture or PDF whose content was read by OCR before (a copy) gets that result at once,
        never read again (`final` receives its new status); a mail's attachments are not OCR'd."""
        new_chunks = [
            NewChunk(i, c.text, c.page, c.char_start, c.char_end, c.n_tokens, c.hash,
                     from_blob(stored[c.hash]) if c.hash in stored else None, is_name=item.name_only,
                     page_label=c.page_label)
            for i, c in enumerate(item.chunks)
        ]
        report.chunks_reused += sum(1 for c in new_chunks if c.embedding is not None)
        ocr = ocr_state(self.config, item.path, item.kind, item.content_hash) if parent_id is None else None
        change = self.catalog.put_file(
            item.path, display_name(item.path), item.found.size, item.found.mtime_ns,
            item.content_hash, item.kind, item.status, item.reason, new_chunks, priority,
            dev=item.found.dev, mode=item.found.mode, signature=item.signature, ocr=ocr,
            parent_id=parent_id,
        )
        cached = self.catalog.ocr_cached(item.content_hash) if ocr else None
        if cached is not None:
            change.extend(apply_result(self.catalog, self.config, self.embedder,
                                       self.catalog.file(item.path), OcrResult.from_json(cached)))
            final[item.path] = self.catalog.file(item.path).status
        return change

    def embed_pending(self, report: Report | None = None, should_stop: Callable[[], bool] | None = None,
                      on_batch: Callable[[int, int], None] | None = None,
                      batch_chunks: int | None = None) -> int:
        """Embed chunks that have no embedding yet, most wanted first, one transaction per batch.

        `should_stop` (a reason to yield) and the control are checked between batches;
        `on_batch(done, total)` reports progress. Returns the number of chunks embedded.
        """
        embedded_before, total, _ = self.catalog.embedding_progress()
        done = 0
        while not (should_stop and should_stop()) and self._go_on():
            limit = batch_chunks or BATCH_CHUNKS
            if getattr(self.embedder, "may_switch", False):  # PyTorch until the ONNX export is ready:
                limit = min(limit, SWITCH_BATCH_CHUNKS)  # small batches, so the switch comes soon after
            rows = self.catalog.pending_chunks(limit)
            if not rows or not self._embedder_ready(should_stop):
                break
            self._record_model(with_dim=True)
            texts = {chunk_hash: text for _, chunk_hash, text in rows}
            started = time.perf_counter()
            vectors = dict(zip(texts, self.embedder.encode_passages(list(texts.values()))))
            ids = [chunk_id for chunk_id, _, _ in rows]
            embedded = np.vstack([vectors[chunk_hash] for _, chunk_hash, _ in rows])
            with self.catalog.transaction():
                self.catalog.set_embeddings(ids, embedded)
                # Nothing embedded before (a new or emptied index): these passages start the record.
                self.catalog.count_embedded_by(self.embedder.backend, len(ids),
                                               reset=embedded_before == 0 and done == 0)
                rate = len(rows) / (time.perf_counter() - started)
                self.catalog.meta_set("embed_chunks_per_s", f"{rate:.2f}")
            self._apply(Change(ids, list(embedded), []))
            done += len(rows)
            if report is not None:
                report.chunks_embedded += len(texts)
            if on_batch:
                on_batch(done, max(total, done))
        return done

    def _embedder_ready(self, should_stop: Callable[[], bool] | None) -> bool:
        """With a background ONNX export running (`auto_export.ExportingEmbedder`): take it once it is
        ready, and hold embedding while it runs if the embedder says so (pauses and stops obeyed,
        keyword search unaffected). Whether to embed now."""
        settle = getattr(self.embedder, "settle", None)
        if settle is None:
            return True
        told = False
        while True:
            if note := settle():
                self.progress.message(note)
            if not self.embedder.waiting:
                return True
            if not told:
                self.progress.message(f"Embedding waits for the ONNX export of {self.embedder.model_id!r} "
                                      "(running in the background; keyword search works meanwhile)…")
                told = True
            if (should_stop and should_stop()) or not self._go_on():
                return False
            time.sleep(EXPORT_POLL_S)

    def ocr_can_run(self) -> bool:
        """OCR is on in the config and installed here."""
        return OcrRun(self.catalog, self.config, self.embedder).available()

    def ocr_pending(self, report: Report | None = None, should_stop: Callable[[], bool] | None = None,
                    on_file: Callable[[int, int, str], None] | None = None) -> int:
        """Read the pending images and scanned pages (`indexer.write.ocr_phase`), most wanted first,
        one file per transaction; `should_stop` and the control are asked between files, and
        `on_file(done, total, path)` after each. Returns the number of files judged."""
        run = OcrRun(self.catalog, self.config, self.embedder)
        if not run.available():
            return 0
        total = self.catalog.ocr_counts()["pending"]
        done, gone = 0, ()
        while not (should_stop and should_stop()) and self._go_on():
            pending = run.next_file(gone)
            if pending is None:
                break
            self._record_model(with_dim=False)
            status = run.one(pending, self._apply)
            if status is not None:
                done += 1
                if report is not None and status == "text":
                    report.ocr_text += 1
            else:
                gone += (pending.id,)
            if on_file:
                on_file(done, max(total, done), pending.path)
        if report is not None:
            report.ocr_read += run.read
        return done

    def prioritize(self, path: str) -> bool:
        """Embed this file next (the user opened it from the results)."""
        with self.catalog.transaction():
            return self.catalog.prioritize(path, PRIORITY_OPENED)

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
        root = key(os.path.abspath(root))
        paths = [row.path for row in self.catalog.files(under=root)]
        row = self.catalog.file(root)
        if row:
            paths.append(row.path)
        report = Report()
        self._remove(paths, report)
        with self.catalog.transaction():
            self.catalog.set_unavailable([root], [])
        self.save_vectors()
        return report.removed
