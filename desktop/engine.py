"""The one door from the Qt app to the engine: a QObject whose work runs off the UI thread.

    UI thread ── calls ──▶ Engine ── posts ──▶ search thread: models, Searcher, similarity
                             │     └─ posts ──▶ index thread: start/stop the Watcher, root removal
                             │                     Watcher thread: indexing (callbacks)
    UI thread ◀──────────── queued signals ◀──────────────┘

Every search runs on the one search thread, in order, so the Searcher (one SQLite
connection, one model) is never used by two threads at once. A search is tagged with a
generation number and a channel (the main window, the quick box); one that is no longer its
channel's newest when its turn comes is skipped, and each window ignores any answer that is
not for its newest query. The Watcher writes with its own
copy of the embedder, so a long indexing batch never makes a search wait.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop.results import model_label
from desktop.settings import read_backend, save_config
from desktop.workers import InterruptibleReranker, LastQueryEmbedder, SerialThread
from indexer.config import Config

if TYPE_CHECKING:
    from indexer.datadir import DataDir
    from indexer.models.embedding import Embedder, ModelInfo
    from indexer.search.searcher import FileResult, Searcher, Similarity
    from indexer.write.watcher import Watcher, WatchStatus

DEFAULT_K = 20
MARKED_RESULTS = 3  # results whose best sentence is marked, after the results are shown
PROGRESS_INTERVAL = 0.1  # seconds between two progress signals, at most
STOP_TIMEOUT = 10.0  # seconds to wait for the watcher to stop between two commits
BUSY_RETRY_SECONDS = 5.0  # while another process writes the index, try to take over this often


@dataclass(frozen=True)
class SearchOutcome:
    """The answer to one search: results, or why there are none."""

    generation: int
    query: str
    results: list[FileResult]
    seconds: float
    kind: str = "ok"  # ok | no-results | empty-index | no-model | error
    message: str = ""


@dataclass(frozen=True)
class IndexProgress:
    """Live indexing progress, for the progress bar and the status line."""

    state: str  # starting | reconciling | running | paused | idle | stopped | busy | off
    done: int = 0
    total: int = 0
    current: str | None = None
    eta_seconds: float | None = None
    queued: int = 0
    pause_reason: str | None = None
    unit: str = "files"  # what done/total count: files (reading, keywords) or passages (embedding)

    @property
    def working(self) -> bool:
        return self.state in ("starting", "reconciling", "running")

    @property
    def embedding_behind(self) -> bool:
        """All files are read, and the run goes on: it is embedding their passages (unreported)."""
        return self.working and self.unit == "files" and self.total > 0 and self.done >= self.total


@dataclass(frozen=True)
class IndexStats:
    indexed: int = 0
    skipped: int = 0
    errors: int = 0
    chunks: int = 0
    model: str | None = None
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # folders out of reach: (path, reason)


def _unit(status: WatchStatus) -> str:
    """What the watcher counts: its embedding phase counts passages and names no current file."""
    phase = getattr(status, "phase", None)
    if phase is not None:
        return "passages" if phase == "embed" else "files"
    return "passages" if status.state == "running" and status.total and status.current is None else "files"


def folder_problem(path: str) -> str | None:
    """Why `path` cannot be indexed, or None when it is a readable folder."""
    if not os.path.exists(path):
        return f"The folder {path} does not exist."
    if not os.path.isdir(path):
        return f"{path} is not a folder."
    if not os.access(path, os.R_OK | os.X_OK):
        return f"The folder {path} cannot be read (permission denied)."
    try:
        with os.scandir(path) as entries:
            next(entries, None)
    except OSError as exc:
        return f"The folder {path} cannot be read: {exc.strerror or exc}."
    return None


class Engine(QObject):
    """Search and live indexing for one data dir, driven from the UI thread, run on worker threads."""

    modelStatus = Signal(str, str)  # state (loading | ready | error), text for the user
    searchFinished = Signal(object)  # SearchOutcome
    resultsRefined = Signal(int, object)  # generation, copies of the top results with their best sentence
    resultsReranked = Signal(int, object)  # generation, the results in the cross-encoder's order
    similarityReady = Signal(int, object)  # generation, Similarity
    progress = Signal(object)  # IndexProgress
    statsChanged = Signal(object)  # IndexStats
    indexChanged = Signal()  # a batch was committed: results may have changed
    configChanged = Signal(object)  # Config
    message = Signal(str, bool)  # text, is_error
    pausedChanged = Signal(bool)  # indexing held by the user (from any window, the tray or the CLI)

    def __init__(self, data_dir: Path, model: str | None = None, k: int = DEFAULT_K,
                 watcher_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.data_path = data_dir
        self.config = Config.load(data_dir)  # one small file: the UI needs it to pick its first page
        self.backend = read_backend(data_dir, self.config)
        self.model_override = model
        self.k = k
        self.watcher_options = watcher_options or {}
        self.model_state = "loading"
        self.last_progress = IndexProgress("off")
        self._manual_pause = False  # Pause pressed in this app (kept across watcher restarts)
        self._held = False  # last value of `paused` sent with pausedChanged
        self._generation = 0  # numbers every search, all channels
        self._newest: dict[str, int] = {}  # channel → its newest search's generation
        self._closing = False
        self._info: ModelInfo | None = None
        self._info_ready = threading.Event()
        self._embedder: Embedder | None = None
        self._reranker = None
        self._searcher: Searcher | None = None
        self._watcher: Watcher | None = None
        self._search_thread: SerialThread | None = None
        self._index_thread: SerialThread | None = None
        self._last_emit = 0.0
        self._rate_origin: tuple[object, int, float] = (None, 0, 0.0)  # (unit and total, done, time)

    @cached_property
    def data(self) -> DataDir:
        """The data dir, made on first use in a worker: its module pulls in NumPy and FAISS."""
        from indexer.datadir import DataDir

        return DataDir(self.data_path)

    # -- life ----------------------------------------------------------------------------------------
    def start(self) -> None:
        """Load the models and start indexing the configured roots, all in the background."""
        self._search_thread = SerialThread("findling-search")
        self._index_thread = SerialThread("findling-index")
        self._search_thread.post(self._load_models)
        if self.config.roots:
            self._index_thread.post(self._start_watcher)
        else:
            self._set_progress(IndexProgress("off"))
        self._index_thread.post(self._refresh_stats)

    def shutdown(self) -> bool:
        """Stop indexing between two commits (vector file saved, lock released) and end the threads.

        False when the watcher did not stop in time (it was inside a long embedding batch): the
        caller should then end the process without running interpreter shutdown; every commit is
        already durable, and the vector file is rebuilt from the catalog at the next start.
        """
        self._closing = True
        self._generation += 1
        self._newest = dict.fromkeys(self._newest, -1)  # queued searches are skipped
        watcher = self._watcher
        if self._index_thread is not None:
            self._index_thread.stop(self._stop_watcher)
        if self._search_thread is not None:
            self._search_thread.stop(self._close_searcher)
        return watcher is None or watcher.status().state == "stopped"

    # -- models (search thread) ----------------------------------------------------------------------
    def _model_name(self) -> str:
        return self.model_override or self._recorded_model() or self.config.model

    def _recorded_model(self) -> str | None:
        return self.data.recorded_model()

    def _load_models(self) -> None:
        from indexer.models.embedding import ModelUnavailable, resolve_model
        from indexer.models.rerank import resolve_reranker

        self.model_state = "loading"
        name = self._model_name()
        self.modelStatus.emit("loading", f"Loading the model {model_label(name)}…")
        try:
            info = resolve_model(name)
        except ModelUnavailable as exc:
            self.model_state = "error"
            self._info_ready.set()
            self.modelStatus.emit("error", str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app keeps running
            self.model_state = "error"
            self._info_ready.set()
            self.modelStatus.emit("error", f"The model {name!r} could not be loaded: {exc}")
            return
        self._info = info
        self._info_ready.set()
        if info.note:
            self.message.emit(info.note, False)
        try:
            embedder = self._open_embedder(info, announce=True)
            embedder.encode_queries(["warm up"])  # loads the weights now, not on the first query
            self._embedder = LastQueryEmbedder(embedder)
        except Exception as exc:  # noqa: BLE001
            self.model_state = "error"
            self.modelStatus.emit("error", f"The model {info.model_id!r} could not be loaded: {exc}")
            return
        self._reranker = self._load_reranker(resolve_reranker)
        self.model_state = "ready"
        ranked = " + reranker" if self._reranker is not None else ""
        self.modelStatus.emit("ready", f"Model: {model_label(info.model_id)}{ranked}")

    def _load_reranker(self, resolve_reranker: Callable) -> InterruptibleReranker | None:
        """The configured reranker, ready; None (search works without it) when it cannot be loaded."""
        reranker, note = resolve_reranker(self.config.reranker)
        if reranker is not None:
            from indexer.models.onnx_runtime import open_reranker

            self.modelStatus.emit("loading", f"Loading the reranker {model_label(reranker.model_id)}…")
            try:
                reranker, onnx_note = open_reranker(reranker, self.backend, self.config.threads)
                reranker.score("warm up", ["warm up"])
            except Exception as exc:  # noqa: BLE001 - e.g. no PyTorch in this build and no ONNX export
                self.message.emit(f"Reranking is off: the reranker {reranker.model_id!r} could not be "
                                  f"loaded ({type(exc).__name__}: {exc}).", True)
                return None
            reranker = InterruptibleReranker(reranker)
            note = note or onnx_note
        if note and self.config.reranker:
            self.message.emit(note, False)
        return reranker

    def _open_embedder(self, info: ModelInfo, announce: bool = False) -> Embedder:
        """The configured backend's embedder: ONNX Runtime when an export is registered (auto), else torch."""
        from indexer.models.onnx_runtime import open_embedder

        embedder, note = open_embedder(info, self.backend, self.config.embed_batch_size, self.config.threads)
        if note and announce:
            self.message.emit(note, False)
        return embedder

    def _close_searcher(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def _ensure_searcher(self) -> Searcher | None:
        """The searcher, opened once the index exists (None while there is no index)."""
        if self._searcher is None and self.data.exists():
            from indexer.search.searcher import Searcher

            self._searcher = Searcher(self.data, self._embedder, self.config, self._reranker)
        return self._searcher

    # -- search --------------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self._generation

    def search(self, text: str, k: int | None = None, details: bool = True, channel: str = "main") -> int:
        """Queue a search; its outcome comes with `searchFinished`. Returns its generation.

        A newer search on the same `channel` supersedes it; other channels' searches do not.
        With `details`, the similarity matrix and the best sentences follow the results
        (`similarityReady`, `resultsRefined`); the quick-search box does without them.
        """
        self._generation += 1
        generation = self._newest[channel] = self._generation
        if self._search_thread is not None:
            k = k or self.k
            self._search_thread.post(lambda: self._run_search(generation, text, k, details, channel))
        return generation

    def cancel_search(self, channel: str = "main") -> None:
        """Forget the channel's search in flight (its answer, if any, is ignored)."""
        self._generation += 1
        self._newest[channel] = self._generation

    def _current(self, channel: str, generation: int) -> bool:
        return self._newest.get(channel) == generation

    def _run_search(self, generation: int, text: str, k: int, details: bool = True,
                    channel: str = "main") -> None:
        if not self._current(channel, generation):
            return  # a newer query is queued behind this one
        started = time.perf_counter()

        def outcome(kind: str, message: str = "", results: list | None = None) -> SearchOutcome:
            seconds = time.perf_counter() - started
            return SearchOutcome(generation, text, results or [], seconds, kind, message)

        if self.model_state == "error" or self._embedder is None:
            self.searchFinished.emit(outcome(
                "no-model", "Search is unavailable: no embedding model could be loaded. See Settings."))
            return
        try:
            searcher = self._ensure_searcher()
            if searcher is None or searcher.catalog.chunk_count() == 0:
                self.searchFinished.emit(outcome(
                    "empty-index", "Nothing is indexed yet. Add a folder in the Index tab."))
                return
            # Best sentences cost an embedding batch and reranking seconds: both follow the results.
            results = searcher.search(text, k=k, mark_sentences=0, rerank=False)
        except Exception as exc:  # noqa: BLE001 - e.g. ModelMismatch, CatalogOutdated: said plainly
            traceback.print_exc()
            self.searchFinished.emit(outcome("error", str(exc)))
            return
        if not results:
            self.searchFinished.emit(outcome("no-results", f"No results for “{text}”."))
            return
        self.searchFinished.emit(outcome("ok", results=results))
        if details and self._reranker is not None and self._current(channel, generation):
            results = self._rerank(searcher, generation, text, k, channel) or results
        if details and self._current(channel, generation):
            try:
                self.similarityReady.emit(generation, searcher.similarity(text, results))
            except Exception as exc:  # noqa: BLE001
                self.message.emit(f"The similarity matrix could not be computed: {exc}", True)
        if details and self._current(channel, generation):
            self._mark_best_sentences(searcher, generation, text, results, channel)

    def _rerank(self, searcher: Searcher, generation: int, text: str, k: int,
                channel: str) -> list[FileResult] | None:
        """The cross-encoder's order of the results, sent with `resultsReranked`; None when a newer
        search came in meanwhile (the reranker gives way between small batches) or it failed."""
        from desktop.workers import Superseded

        self._reranker.still_wanted = lambda: self._current(channel, generation)
        try:
            reranked = searcher.search(text, k=k, mark_sentences=0, rerank=True)
        except Superseded:
            return None
        except Exception as exc:  # noqa: BLE001 - the unreranked results stand
            self.message.emit(f"Reranking failed: {exc}", True)
            return None
        if not self._current(channel, generation):
            return None
        self.resultsReranked.emit(generation, reranked)
        return reranked

    def _mark_best_sentences(self, searcher: Searcher, generation: int, text: str,
                             results: list[FileResult], channel: str = "main") -> None:
        """Mark the top results' sentences closest to the query, on copies (the UI holds the originals).

        One result at a time, so a newer query waits for one small embedding batch at most.
        """
        from indexer.search.query import parse

        query = parse(text)
        if not query.text.strip():
            return
        rows = searcher.catalog.chunks([r.chunk_id for r in results[:MARKED_RESULTS]])
        for result in results[:MARKED_RESULTS]:
            if not self._current(channel, generation):
                return
            marked = copy.deepcopy(result)
            searcher.mark_best_sentences([marked], rows, query, searcher.embed_query(query.text))
            self.resultsRefined.emit(generation, [marked])

    def similarity_now(self, text: str, results: list[FileResult]) -> Similarity:
        """The engine's own matrix, computed on the calling thread (for checks, not for the UI)."""
        searcher = self._ensure_searcher()
        if searcher is None:
            raise RuntimeError("no index")
        return searcher.similarity(text, results)

    # -- indexing (index thread) ---------------------------------------------------------------------
    def add_root(self, path: str) -> None:
        self._post_index(lambda: self._add_root(os.path.abspath(os.path.expanduser(path))))

    def remove_root(self, path: str) -> None:
        self._post_index(lambda: self._remove_root(path))

    def set_roots(self, paths: list[str]) -> None:
        """The welcome page's choice: these folders, indexed from now on."""
        self._post_index(lambda: self._set_roots([os.path.abspath(p) for p in paths]))

    def set_excludes(self, patterns: list[str]) -> None:
        self._post_index(lambda: self._restart_with(dataclasses.replace(self.config, excludes=patterns)))

    def apply_settings(self, config: Config, backend: str) -> None:
        """Save settings to config.toml; reload the models and restart indexing when they changed."""
        self._post_index(lambda: self._apply_settings(config, backend))

    def prioritize(self, path: str) -> None:
        """The user opened this file: embed it next if it is not yet (thread-safe, returns at once)."""
        watcher = self._watcher
        if watcher is not None:
            watcher.prioritize(path)

    @property
    def paused(self) -> bool:
        """Indexing is held by a user: Pause in this app, or `findling pause` (not a low battery)."""
        progress = self.last_progress
        from_cli = progress.state == "paused" and "findling pause" in (progress.pause_reason or "")
        return self._manual_pause or from_cli

    def pause(self) -> None:
        self._manual_pause = True
        self._paused_changed()
        self._post_index(lambda: self._watcher.pause() if self._watcher else None)

    def resume(self) -> None:
        """Go on indexing; also lifts a `findling pause` (a low battery still holds it)."""
        self._manual_pause = False
        self._paused_changed()
        self._post_index(lambda: self._watcher.resume() if self._watcher else None)

    def toggle_pause(self) -> None:
        if self.paused:
            self.resume()
        else:
            self.pause()

    def _paused_changed(self) -> None:
        held = self.paused
        if held != self._held:
            self._held = held
            self.pausedChanged.emit(held)

    def refresh_stats(self) -> None:
        self._post_index(self._refresh_stats)

    def _post_index(self, task: Callable[[], None]) -> None:
        if self._index_thread is None:
            raise RuntimeError("Engine.start() first")

        def guarded() -> None:
            try:
                task()
            except Exception as exc:  # noqa: BLE001 - one failed action must not end the thread
                traceback.print_exc()
                self.message.emit(f"{type(exc).__name__}: {exc}", True)

        self._index_thread.post(guarded)

    def _save(self, config: Config, backend: str | None = None) -> None:
        from indexer.config import ensure_private_dir

        ensure_private_dir(self.data_path)
        save_config(config, self.data_path, backend)
        self.config = config
        self.configChanged.emit(config)

    def _add_root(self, path: str) -> None:
        problem = folder_problem(path)
        if problem:
            self.message.emit(problem, True)
            return
        if path in self.config.roots:
            self.message.emit(f"{path} is already indexed.", False)
            return
        self._restart_with(dataclasses.replace(self.config, roots=[*self.config.roots, path]))

    def _set_roots(self, paths: list[str]) -> None:
        readable = []
        for path in paths:
            problem = folder_problem(path)
            if problem:
                self.message.emit(problem, True)
            else:
                readable.append(path)
        self._restart_with(dataclasses.replace(self.config, roots=list(dict.fromkeys(readable))))

    def _remove_root(self, path: str) -> None:
        if path not in self.config.roots:
            return
        self._stop_watcher()
        if self.data.exists() and self._info_ready.wait() and self._info is not None:
            from indexer.datadir import APP_HOLDER
            from indexer.models.embedding import Embedder
            from indexer.write.pipeline import Indexer

            self._set_progress(IndexProgress("running", current=f"Removing {path} from the index"))
            with self.data.writer_lock(APP_HOLDER), Indexer(self.data, self.config,
                                                            Embedder(self._info)) as indexer:
                removed = indexer.remove_under(path)
            self.message.emit(f"Removed {path} and its {removed} files from the index.", False)
            self.indexChanged.emit()
        roots = [r for r in self.config.roots if r != path]
        self._restart_with(dataclasses.replace(self.config, roots=roots))

    def _restart_with(self, config: Config, backend: str | None = None) -> None:
        self._stop_watcher()
        self._save(config, backend)
        if config.roots:
            self._start_watcher()
        else:
            self._set_progress(IndexProgress("off"))
        self._refresh_stats()

    def _apply_settings(self, config: Config, backend: str) -> None:
        old, self.backend = self.config, backend
        models_changed = (config.model, config.reranker, config.threads) != (
            old.model, old.reranker, old.threads)
        if not models_changed:
            self._restart_with(config, backend)
            return
        self._stop_watcher()
        self._save(config, backend)
        recorded = self._recorded_model()
        if recorded and config.model != old.model and config.model != recorded:
            self.message.emit(
                f"The index was built with {recorded}. It keeps using that model until it is re-embedded: "
                f"run `findling reindex --model {config.model}`.", False)
        self._info_ready.clear()
        self._search_thread.post(self._reload_models)
        if config.roots:
            self._start_watcher()
        self._refresh_stats()

    def _reload_models(self) -> None:
        self._close_searcher()
        self._embedder = self._reranker = self._info = None
        self._load_models()

    def _start_watcher(self) -> None:
        from indexer.datadir import APP_HOLDER, IndexBusy
        from indexer.write.watcher import WatchCallbacks, Watcher, WatchOptions

        if not self.config.roots:
            return
        self._set_progress(IndexProgress("starting"))
        self._info_ready.wait()
        if self._info is None:
            self._set_progress(IndexProgress("stopped"))
            return
        embedder = self._open_embedder(self._info)
        options = dataclasses.replace(WatchOptions(holder=APP_HOLDER), **self.watcher_options)
        callbacks = WatchCallbacks(self._on_status, self._on_batch,
                                   on_message=lambda text: self.message.emit(text, True))
        watcher = Watcher(self.data, self.config, embedder, None, options, callbacks)
        if self._manual_pause:
            watcher.pause()  # paused before (or while the model loaded): stays paused
        try:
            watcher.start()
        except IndexBusy as exc:
            if self.last_progress.state != "busy":
                self.message.emit(f"{exc} Searching still works; indexing starts once it is done.", True)
            self._set_progress(IndexProgress("busy"))
            self._retry_when_free()
            return
        except Exception as exc:  # noqa: BLE001 - ModelMismatch and the like
            self._set_progress(IndexProgress("stopped"))
            self.message.emit(str(exc), True)
            return
        self._watcher = watcher

    def _retry_when_free(self) -> None:
        """Another process writes the index (a `findling index`, an app quitting): try again later."""

        def retry() -> None:
            if not self._closing and self._watcher is None and self.last_progress.state == "busy":
                self._start_watcher()

        def post() -> None:
            if not self._closing:
                self._post_index(retry)

        timer = threading.Timer(BUSY_RETRY_SECONDS, post)
        timer.daemon = True
        timer.start()

    def _stop_watcher(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.stop(STOP_TIMEOUT)
            self._set_progress(IndexProgress("stopped"))

    # -- watcher callbacks (watcher thread) ------------------------------------------------------------
    def _on_status(self, status: WatchStatus) -> None:
        now = time.monotonic()
        unit = _unit(status)
        phase, origin_done, origin_time = self._rate_origin
        if (unit, status.total) != phase or status.done < origin_done:  # a new batch or phase: rate anew
            self._rate_origin = ((unit, status.total), status.done, now)
            origin_done, origin_time = status.done, now
        eta = None
        done, elapsed = status.done - origin_done, now - origin_time
        if status.total and done >= 2 and elapsed > 0.5:
            eta = (status.total - status.done) * elapsed / done
        progress = IndexProgress(status.state, status.done, status.total, status.current, eta,
                                 status.queued, status.pause_reason, unit)
        changed = (progress.state, progress.pause_reason) != (self.last_progress.state,
                                                              self.last_progress.pause_reason)
        if changed or status.done >= status.total or now - self._last_emit >= PROGRESS_INTERVAL:
            self._last_emit = now
            self._set_progress(progress)
        else:
            self.last_progress = progress

    def _on_batch(self, _batch: object) -> None:
        self._refresh_stats()
        self.indexChanged.emit()

    def _set_progress(self, progress: IndexProgress) -> None:
        self.last_progress = progress
        self._paused_changed()  # e.g. `findling pause` or `findling resume` from a terminal
        self.progress.emit(progress)

    def _refresh_stats(self) -> None:
        if not self.data.exists():
            self.statsChanged.emit(IndexStats())
            return
        catalog = self.data.open_catalog(readonly=True)
        try:
            counts = catalog.status_counts()
            stats = IndexStats(counts["indexed"], counts["skipped"], counts["error"], catalog.chunk_count(),
                               catalog.meta_get("model"),
                               [(f.path, f.reason or "") for f in catalog.files_with_status("error")],
                               [(u.path, u.reason) for u in catalog.unavailable()])
        finally:
            catalog.close()
        self.statsChanged.emit(stats)
