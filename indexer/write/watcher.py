"""Keep the index true to disk, live: watchdog observers feed one indexing worker.

    observers, one per root ──▶ PendingPaths ──▶ worker ──▶ Indexer.run(the paths of a batch)
    (native, or polling)        debounced,         └──────▶ Indexer.run(roots): the reconcile
                                coalesced,                  at start, a rescan on overflow
                                bounded

The worker thread owns everything that writes: the data dir's writer lock and one
`Indexer`, for the engine's whole life. Observers start before the reconcile scan, so
changes made during the scan wait in the queue rather than being lost. Each batch is one
`Indexer.run(paths)`, which reads the truth from disk: new or changed files are indexed,
missing ones removed, and both ends of a move given together are recorded as a move (the
chunks and embeddings stay). A run commits the text first (keyword search sees it at once),
then the worker embeds in quiet moments, in small batches that yield to a stop, a pause, due
live changes or a file the user opened (`prioritize`, embedded next). Runs save the vector
file, so `findling search` in another process stays current and cheap; a stop or a pause
takes effect between two commits, never inside one: the pipeline asks the watcher's
`RunControl` at each commit point."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import psutil

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.ingest.scan import Excludes, scan
from indexer.models.protocols import Embedder
from indexer.paths import key, os_path
from indexer.store.catalog import Catalog, FileRow
from indexer.write.control import RunControl
from indexer.write.pipeline import Indexer, Progress, Report, StoreMirror
from indexer.write.watch.observers import Notice, RootWatch
from indexer.write.watch.pending import Dirty, Pending, PendingPaths
from indexer.write.watch.power import PauseGate, lower_priority, pause_flag, request_resume

State = Literal["starting", "reconciling", "running", "paused", "idle", "stopped"]
DEFAULT_DEBOUNCE = 0.5
RETRY_DELAY = 60.0  # a batch that failed unexpectedly is tried again after this long
RETRY_WATCH = 10.0  # seconds between looks for a root that could not be watched (gone, unplugged)
# Paths per live batch. Kept under the pipeline's process-pool threshold (64 files): a pool
# costs about 2 s to start on every run, far more than a live batch of small files takes.
BATCH_PATHS = 48
# Chunks per embedding transaction in the watcher: small enough that a stop, a pause or an
# opened file waits a few seconds at most, large enough for length-sorted batches to pay.
EMBED_BATCH_CHUNKS = 64
Phase = Literal["text", "embed", "ocr"]


@dataclass(frozen=True)
class WatchStatus:
    """A snapshot of the engine, for a status line or a progress bar."""

    state: State
    queued: int  # paths waiting for a batch
    done: int  # files done in the current batch (reconcile included)
    total: int  # files to do in the current batch
    current: str | None  # the file last done
    last_error: str | None
    pause_reason: str | None
    queue_peak: int  # the most paths ever queued at once (bounded by `max_queue`)
    roots: tuple[str, ...] = ()
    polling: tuple[str, ...] = ()  # roots watched by polling
    phase: Phase | None = None  # while working: reading files (text), embedding passages (embed)
    # or reading images and scanned pages (ocr: `done`/`total` count files, over the whole index)


@dataclass(frozen=True)
class PathChange:
    """What one batch did to one file in the catalog (unchanged files are not reported)."""

    action: Literal["added", "updated", "moved", "removed"]
    path: str
    old_path: str | None = None  # for "moved"
    status: str | None = None  # indexed / skipped / error (None for "removed")
    reason: str | None = None


@dataclass(frozen=True)
class Batch:
    """One finished run: the reconcile or rescan of whole roots, or a batch of live changes."""

    kind: Literal["reconcile", "live", "embed", "ocr"]  # embed: passages embedded (report.chunks_embedded);
    # ocr: files read (report.ocr_read)
    paths: tuple[str, ...]
    report: Report
    changes: list[PathChange] = field(default_factory=list)
    seconds: float = 0.0


@dataclass(frozen=True)
class WatchOptions:
    """How the watcher works. Polled roots (`Config.poll_roots`) are polled every `Config.poll_interval`."""

    debounce: float = DEFAULT_DEBOUNCE  # seconds a path must stay unchanged before it is indexed
    max_delay: float = 10.0  # a path that keeps changing is indexed after this long anyway
    max_queue: int = 10_000  # paths queued at most; past that, a root is rescanned instead
    batch_paths: int = BATCH_PATHS
    embed_batch_chunks: int = EMBED_BATCH_CHUNKS
    low_priority: bool = True  # lower the worker's CPU and I/O priority
    battery: Callable[[], Any] = psutil.sensors_battery  # for the low-battery pause
    holder: str = "findling watch"  # named in the busy message of a second writer
    # A shared store to mirror each commit into (`--store`): opened by the worker on its Indexer
    # (connected, leased, caught up) before `start()` returns, closed (lease released) at stop.
    mirror: Callable[[Indexer], StoreMirror] | None = None


@dataclass(frozen=True)
class WatchCallbacks:
    """What the watcher tells, from its worker thread: `on_status` on every state change and file
    done, `on_batch` after every run, `on_message` for things to tell the user, and
    `reconcile_progress` (the pipeline's Progress protocol, e.g. a tqdm bar) during the reconcile
    and rescans."""

    on_status: Callable[[WatchStatus], None] | None = None
    on_batch: Callable[[Batch], None] | None = None
    on_message: Callable[[str], None] | None = None
    reconcile_progress: Progress | None = None


class Watcher:
    """The live indexer: watches `roots` and keeps the data dir's index in step with them.

    `start()` takes the writer lock (IndexBusy if another process writes) and returns once
    the worker holds it; everything else happens in the background, told through `callbacks`.
    `stop()` and `pause()` reach a run through a `RunControl`, at its next commit point.
    """

    def __init__(
        self,
        data_dir: DataDir,
        config: Config,
        embedder: Embedder,
        roots: Iterable[str] | None = None,
        options: WatchOptions | None = None,
        callbacks: WatchCallbacks | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.config = config
        self.embedder = embedder
        self.options = options = options or WatchOptions()
        self.callbacks = callbacks or WatchCallbacks()
        self.roots = _outermost(os.path.abspath(os.path.expanduser(r)) for r in (roots or config.roots))
        self.poll_roots = {os.path.abspath(os.path.expanduser(r)) for r in config.poll_roots}
        self.excludes = Excludes.for_config(config, data_dir.path, self.roots)  # the data dir included
        self._pending = PendingPaths(options.debounce, options.max_delay, options.max_queue)
        self._gate = PauseGate(pause_flag(data_dir.path), config.battery_pause_below, options.battery)
        self._control = RunControl(self._gate.reason, self._pending.wait, self._paused, self._resumed)
        self._resume_state: State = "running"
        self._watches: list[RootWatch] = []
        self._unwatched: dict[str, float] = {}  # roots not watched now -> when last tried
        self._worker: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._lock = threading.Lock()
        self._state: State = "stopped"
        self._pause_reason: str | None = None
        self._done = self._total = 0
        self._current: str | None = None
        self._last_error: str | None = None
        self._reconciling = False
        self._embeddings_pending = False
        self._ocr_pending = True  # the index may hold files waiting for OCR from an earlier run
        self._phase: Phase | None = None
        self._wanted: deque[str] = deque()  # files to embed next, from `prioritize`

    # -- public API --------------------------------------------------------------------------------
    def start(self) -> None:
        """Start watching and indexing in the background. Raises IndexBusy or ModelMismatch at once."""
        if self._worker is not None:
            raise RuntimeError("This watcher was already started; make a new one.")
        self._state = "starting"
        self._worker = threading.Thread(target=self._main, name="findling-watcher", daemon=True)
        self._worker.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._worker.join()
            raise self._startup_error

    def stop(self, timeout: float | None = None) -> None:
        """Stop between two commits, save the vector file and release the lock. Safe to call twice."""
        self._control.stop()
        self._pending.wake()
        if self._worker is not None and self._worker is not threading.current_thread():
            self._worker.join(timeout)

    def pause(self) -> None:
        """Hold indexing (events keep queuing); a run in hand waits at its next commit point."""
        self._gate.manual = True
        self._pending.wake()

    def resume(self) -> None:
        """Go on indexing. Also lifts a `findling pause`; a low battery still holds it."""
        self._gate.manual = False
        request_resume(self.data_dir.path)
        self._gate.refresh()
        self._pending.wake()

    def prioritize(self, path: str) -> None:
        """Embed this file next (the user opened it): after the batch in hand, before the rest.
        `path` is a result's path, i.e. its catalog key."""
        self._wanted.append(os.path.abspath(path))
        self._pending.wake()

    def status(self) -> WatchStatus:
        with self._lock:
            working = self._state in ("reconciling", "running")
            return WatchStatus(
                self._state, len(self._pending), self._done, self._total, self._current, self._last_error,
                self._pause_reason, self._pending.peak, tuple(self.roots),
                tuple(w.root for w in self._watches if w.polling), self._phase if working else None,
            )

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued and the worker is idle (or stopped); whether that happened."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._state in ("idle", "stopped") and not self._pending.has_work():
                return True
            time.sleep(0.02)
        return False

    def __enter__(self) -> Watcher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the worker thread ------------------------------------------------------------------------
    def _main(self) -> None:
        try:
            if self.options.low_priority:
                lower_priority()
            with self.data_dir.writer_lock(self.options.holder):
                indexer = Indexer(self.data_dir, self.config, self.embedder, _Tracker(self), self._control)
                try:
                    indexer.check_model()
                    if self.options.mirror is not None:
                        indexer.mirror = self.options.mirror(indexer)
                    self._ready.set()
                    self._serve(indexer)
                finally:
                    for watch in self._watches:
                        watch.stop()
                    try:
                        if indexer.mirror is not None:
                            indexer.mirror.close()  # releases the shared index's lease
                    finally:
                        indexer.close()  # saves the vector file
        except BaseException as exc:  # noqa: BLE001 - reported to start() or through the status
            if not self._ready.is_set():
                self._startup_error = exc
            else:
                self._error(f"The watcher stopped on an unexpected error: {type(exc).__name__}: {exc}")
        finally:
            self._set_state("stopped")
            self._ready.set()

    def _serve(self, indexer: Indexer) -> None:
        self._set_state("reconciling", phase="text")
        self._start_watches()
        while not self._control.stopping and self._held():
            pass  # started paused: the reconcile waits too (its events queue meanwhile)
        if self.roots and not self._control.stopping:
            # Every root, watched or not: a root that is gone or cannot be read keeps its files
            # and is recorded as unavailable (`Indexer.run` decides what may be purged).
            self._run(indexer, self.roots, reconcile=True)
        while not self._control.stopping:
            if self._held():
                continue
            if indexer.mirror is not None:
                indexer.mirror.catch_up()  # a shared store out of reach: retried once due (backoff)
            self._check_watches()
            self._take_wanted(indexer)
            rescans = self._pending.take_rescans()
            if rescans:
                self._run(indexer, rescans, reconcile=True)
                self._pending.finish()
                continue
            batch = self._pending.take(self.options.batch_paths)
            if batch:
                self._run_live(indexer, batch)
                self._pending.finish()
                continue
            if self._embeddings_pending:
                self._embed(indexer)
                continue
            if self._ocr_pending:
                self._ocr(indexer)
                continue
            if indexer.upkeep.finished:  # a compressed build done in the background: swap it in
                indexer.save_vectors()
            self._set_state("idle")
            due = self._pending.next_due()
            self._pending.wait(1.0 if due is None else min(1.0, due - time.monotonic()))

    def _start_watches(self) -> None:
        """Observers first (so nothing is missed during the reconcile). A root that cannot be
        watched now (gone, unplugged) is tried again every `RETRY_WATCH` seconds."""
        for root in self.roots:
            self._watch(root, quiet_if_missing=True)

    def _watch(self, root: str, quiet_if_missing: bool = False) -> bool:
        watch = RootWatch(root, self._pending.add, self._excluded, poll=root in self.poll_roots,
                          poll_interval=self.config.poll_interval)
        try:
            message = watch.start()
        except OSError as exc:
            self._unwatched[root] = time.monotonic()
            if not (quiet_if_missing and isinstance(exc, FileNotFoundError)):  # the reconcile reports it
                self._error(f"Not watching {root}: {exc.strerror or exc}. "
                            "Its files stay in the index as they are.")
            return False
        self._unwatched.pop(root, None)
        if message:
            self._error(message)
        self._watches.append(watch)
        return True

    def _retry_unwatched(self) -> None:
        """Start watching a root that is back (a drive plugged in again) and rescan it."""
        now = time.monotonic()
        for root, since in list(self._unwatched.items()):
            if now - since >= RETRY_WATCH and os.path.isdir(root):
                if self._watch(root):
                    self._say(f"{root} is back: updating its files.")
                    self._pending.request_rescan(root)
            elif now - since >= RETRY_WATCH:
                self._unwatched[root] = now

    def _check_watches(self) -> None:
        """Act on what the observers noticed: refusals (now polling), lost events, a vanished root."""
        for watch in list(self._watches):
            try:
                notice = watch.check()
            except OSError as exc:
                notice = Notice(f"Stopped watching {watch.root}: {exc.strerror or exc}.", is_error=True)
                watch.stop()
            if notice is None:
                continue
            if notice.is_error:
                self._error(notice.text)
            else:
                self._say(notice.text)
            if not watch.watching:  # the root went away: record it as unavailable, watch it once back
                if watch in self._watches:
                    self._watches.remove(watch)
                self._unwatched.setdefault(watch.root, time.monotonic())
                self._pending.request_rescan(watch.root)
            elif notice.rescan:
                self._pending.request_rescan(watch.root)
        self._retry_unwatched()

    def _excluded(self, path: str, is_dir: bool) -> bool:
        return self.excludes.excluded_anywhere(self.roots, path, is_dir)

    def _held(self) -> bool:
        """While paused: wait (about a second at a time) and say True; False when free to work."""
        reason = self._gate.reason()
        if reason is None:
            return False
        self._set_state("paused", reason)
        self._pending.wait(1.0)
        return True

    def _yield_now(self) -> bool:
        """Whether embedding should stop now: stopping, paused, live changes due, or a file wanted next."""
        return (self._control.stopping or self._gate.reason() is not None or self._pending.due_now()
                or bool(self._wanted))

    def _take_wanted(self, indexer: Indexer) -> None:
        """Move the files asked for by `prioritize` to the front of the embedding queue."""
        while self._wanted:
            path = self._wanted.popleft()
            try:
                if indexer.prioritize(path):
                    self._embeddings_pending = True
            except Exception as exc:  # noqa: BLE001 - a wish, not a reason to stop watching
                self._error(f"Could not move {path} ahead in the embedding queue: {exc}")

    def _embed(self, indexer: Indexer) -> None:
        """Embed the chunks still waiting for it, between live batches, until done or told to yield."""
        self._set_state("running", total=0, phase="embed")
        started = time.monotonic()
        report = Report()
        embedded, pending, _ = indexer.catalog.embedding_progress()

        def progress(done: int, _total: int) -> None:  # counted over the whole index, not this call
            self._embedded(embedded + done, embedded + pending)

        try:
            indexer.embed_pending(report, should_stop=self._yield_now, on_batch=progress,
                                  batch_chunks=self.options.embed_batch_chunks)
            indexer.backfill_summaries(self._yield_now)
            indexer.save_vectors()
            report.chunks_pending = indexer.catalog.embedding_progress()[1]
            self._embeddings_pending = report.chunks_pending > 0
        except Exception as exc:  # noqa: BLE001 - the next run embeds what is left
            self._error(f"Embedding failed ({type(exc).__name__}: {exc}); retried with the next change.")
            self._embeddings_pending = False
            return
        if self.callbacks.on_batch and report.chunks_embedded:
            self.callbacks.on_batch(Batch("embed", (), report, [], time.monotonic() - started))

    def _ocr(self, indexer: Indexer) -> None:
        """Read images and scanned pages (`Indexer.ocr_pending`) once every passage is embedded:
        a file per transaction, yielding as embedding does; their text is embedded next."""
        counts = indexer.catalog.ocr_counts()
        self._ocr_pending = False
        if not counts["pending"] or not indexer.ocr_can_run():
            return  # nothing to read, or OCR is off or not installed (`findling status` says so)
        judged = counts["done"] + counts["no_text"] + counts["errors"]
        self._set_state("running", total=0, phase="ocr")
        started = time.monotonic()
        report = Report()

        def progress(done: int, _total: int, path: str) -> None:
            with self._lock:
                self._done, self._total, self._current = judged + done, judged + counts["pending"], path
            self._emit()

        try:
            indexer.ocr_pending(report, should_stop=self._yield_now, on_file=progress)
        except Exception as exc:  # noqa: BLE001 - the next change tries again
            self._error(f"Text recognition failed ({type(exc).__name__}: {exc}); "
                        "retried with the next change.")
            self._ocr_pending = False
            return
        # Yielded (a live change, a pause, a stop): come back once that is done; else finished.
        self._ocr_pending = self._yield_now() and indexer.catalog.ocr_counts()["pending"] > 0
        self._embeddings_pending = indexer.catalog.embedding_progress()[1] > 0
        if self.callbacks.on_batch and report.ocr_read:
            self.callbacks.on_batch(Batch("ocr", (), report, [], time.monotonic() - started))

    def _embedded(self, done: int, total: int) -> None:
        with self._lock:
            self._done, self._total, self._current = done, total, None
        self._emit()

    def _paused(self, reason: str) -> None:
        """A run waits out a pause at a commit point (the control's `on_pause`)."""
        if self._state != "paused":
            self._resume_state = self._state
        self._set_state("paused", reason)

    def _resumed(self) -> None:
        self._set_state(self._resume_state)

    # -- runs --------------------------------------------------------------------------------------
    def _run_live(self, indexer: Indexer, batch: dict[str, Pending]) -> None:
        paths = self._run_paths(indexer.catalog, batch)
        failed = self._run(indexer, paths, reconcile=False, folders=[p for p, e in batch.items() if e.is_dir])
        if failed:
            for path, entry in batch.items():
                self._pending.add(entry.root, [Dirty(path, entry.is_dir)], delay=RETRY_DELAY)

    def _run(self, indexer: Indexer, paths: Sequence[str], reconcile: bool,
             folders: Sequence[str] | None = None) -> bool:
        """One `Indexer.run`, reported; whether it failed unexpectedly."""
        folders = list(paths) if reconcile else list(folders or ())
        self._set_state("reconciling" if reconcile else "running", total=0, phase="text")
        self._reconciling = reconcile
        started = time.monotonic()
        before = _rows(indexer.catalog, paths, folders)
        try:  # the text only (the serve loop embeds, in batches that yield); a stop or a pause
            # acts between two commits (the RunControl). Live changes wait: a run cut short would
            # have to be redone in full, and the text of a whole folder takes seconds, not minutes.
            report = indexer.run(paths, phase="text", within=self.roots)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not end the watcher
            self._error(f"Indexing failed ({type(exc).__name__}: {exc}); "
                        f"trying again in {RETRY_DELAY:.0f} s.")
            return True
        finally:
            self._reconciling = False
        if report.interrupted:  # stopped: the next start reconciles what is left
            return False
        self._embeddings_pending = report.chunks_pending > 0
        self._ocr_pending = True
        changes = _changes(before, _rows(indexer.catalog, paths, folders))
        if self.callbacks.on_batch:
            self.callbacks.on_batch(Batch("reconcile" if reconcile else "live", tuple(paths), report, changes,
                                time.monotonic() - started))
        return False

    def _run_paths(self, catalog: Catalog, batch: dict[str, Pending]) -> list[str]:
        """The paths to hand to `Indexer.run`: folders cover what is below them.

        `run` applies the excludes relative to the paths it is given; a folder whose contents
        would be judged differently relative to its root is given as its files instead.
        """
        paths: list[str] = []
        for path, entry in batch.items():
            if any(parent in batch for parent in _parents(path, entry.root)):
                continue
            root = entry.root
            if entry.is_dir and os.path.isdir(path) and not _same_excludes_below(root, path, self.excludes):
                known = [os_path(r.path) for r in catalog.files(under=key(path))]
                paths += _walk(root, path, self.excludes) + known
            else:
                paths.append(path)
        return list(dict.fromkeys(paths))

    # -- state -------------------------------------------------------------------------------------
    def _set_state(self, state: State, pause_reason: str | None = None, total: int | None = None,
                   phase: Phase | None = None) -> None:
        with self._lock:
            changed = (state, pause_reason) != (self._state, self._pause_reason) or total is not None
            self._state, self._pause_reason = state, pause_reason
            if phase is not None:
                self._phase = phase
            if total is not None:
                self._done, self._total, self._current = 0, total, None
        if changed:
            self._hold_export(state == "paused")
            self._emit()

    def _hold_export(self, held: bool) -> None:
        """A background ONNX export this watcher started pauses and resumes with its indexing (and is
        never left suspended once the watcher stops)."""
        job = getattr(self.embedder, "job", None)
        if job is not None:
            job.pause() if held else job.resume()

    def _advance(self, path: str) -> None:
        with self._lock:
            self._done += 1
            self._current = path
        self._emit()

    def _start_batch(self, total: int) -> None:
        with self._lock:
            self._done, self._total = 0, total
        self._emit()

    def _emit(self) -> None:
        if self.callbacks.on_status:
            self.callbacks.on_status(self.status())

    def _error(self, message: str) -> None:
        with self._lock:
            self._last_error = message
        self._say(message)

    def _say(self, message: str) -> None:
        if self.callbacks.on_message:
            self.callbacks.on_message(message)


class _Tracker:
    """The pipeline's progress, turned into status updates (and the reconcile's progress bar)."""

    def __init__(self, watcher: Watcher) -> None:
        self.watcher = watcher

    def _bar(self) -> Progress | None:
        return self.watcher.callbacks.reconcile_progress if self.watcher._reconciling else None

    def start(self, total: int) -> None:
        self.watcher._start_batch(total)
        if bar := self._bar():
            bar.start(total)

    def advance(self, path: str, chunks: int) -> None:
        self.watcher._advance(path)
        if bar := self._bar():
            bar.advance(path, chunks)

    def message(self, text: str) -> None:
        self.watcher._say(text)


def _outermost(roots: Iterable[str]) -> list[str]:
    """The roots without duplicates and without roots inside other roots (their watch covers them)."""
    unique = list(dict.fromkeys(roots))
    return [r for r in unique if not any(r != o and r.startswith(o.rstrip(os.sep) + os.sep) for o in unique)]


def _parents(path: str, root: str) -> Iterable[str]:
    parent = os.path.dirname(path)
    while len(parent) > len(root) and parent != path:
        yield parent
        path, parent = parent, os.path.dirname(parent)


def _same_excludes_below(root: str, folder: str, excludes: Excludes) -> bool:
    """Whether the exclude rules judge everything below `folder` alike relative to it and to `root`."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for names, is_dir in ((dirnames, True), (filenames, False)):
            for name in names:
                path = os.path.join(dirpath, name)
                if excludes.excluded(root, path, is_dir) != excludes.excluded(folder, path, is_dir):
                    return False
        dirnames[:] = [d for d in dirnames if not excludes.excluded(root, os.path.join(dirpath, d), True)]
    return True


def _walk(root: str, folder: str, excludes: Excludes) -> list[str]:
    """The files below `folder`, with the exclude rules applied relative to `root` (the same
    walk as the pipeline's; what it cannot read is judged again by `Indexer.run`)."""
    return [found.path for found in scan(folder, excludes, relative_to=root)]


def _rows(catalog: Catalog, paths: Iterable[str], folders: Iterable[str]) -> dict[int, FileRow]:
    """The catalog rows at `paths` and below `folders` (OS paths), by file id (ids survive moves)."""
    rows: dict[int, FileRow] = {}
    for path in paths:
        row = catalog.file(key(path))
        if row:
            rows[row.id] = row
    for folder in folders:
        rows.update((row.id, row) for row in catalog.files(under=key(folder)))
    return rows


def _changes(before: dict[int, FileRow], after: dict[int, FileRow]) -> list[PathChange]:
    changes = []
    for file_id, new in after.items():
        old = before.get(file_id)
        if old is None:
            changes.append(PathChange("added", new.path, None, new.status, new.reason))
        elif old.path != new.path:
            changes.append(PathChange("moved", new.path, old.path, new.status, new.reason))
        elif (old.hash, old.size, old.status, old.reason) != (new.hash, new.size, new.status, new.reason):
            changes.append(PathChange("updated", new.path, None, new.status, new.reason))
    changes += [PathChange("removed", old.path) for file_id, old in before.items() if file_id not in after]
    return sorted(changes, key=lambda c: c.path)

