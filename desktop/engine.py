"""The one door from the Qt app to the engine: a QObject whose work runs off the UI thread.

    UI thread ── calls ──▶ Engine ── posts ──▶ search thread: SearchJobs (models, Searcher, the stages)
                             │     └─ posts ──▶ index thread: Indexing (the Watcher), RootsAndSettings
                             │                     Watcher thread: indexing (callbacks)
    UI thread ◀──────────── queued signals ◀──────────────┘

The Engine owns the signals and the two threads; each job lives in its own module:
`desktop.search_jobs` (search staging and the models), `desktop.indexing` (the watcher's life,
busy retry, pause, progress and stats), `desktop.roots_settings` (roots, excludes, settings) and
`desktop.progress` (progress with an ETA). Every search runs on the one search thread, in order,
so the Searcher (one SQLite connection, one model) is never used by two threads at once.
"""

from __future__ import annotations

import dataclasses
import os
import traceback
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from desktop.indexing import Indexing
from desktop.progress import IndexProgress
from desktop.roots_settings import RootsAndSettings
from desktop.search_jobs import SearchJobs, SearchOutcome
from desktop.settings import read_backend
from desktop.similar_jobs import SimilarJobs
from desktop.workers import SerialThread
from indexer.config import Config
from indexer.store.stats import IndexStats

if TYPE_CHECKING:
    from indexer.datadir import DataDir
    from indexer.search.searcher import FileResult, Similarity

__all__ = ["DEFAULT_K", "Engine", "IndexProgress", "IndexStats", "SearchOutcome"]

DEFAULT_K = 20
STARTUP_SCAN_WAIT = 30.0  # seconds the startup scan waits at most for the models to load


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
    reindexOffered = Signal(object)  # ReindexOffer (its model stands in for the configured one), or None
    duplicatesFound = Signal(object)  # indexer.similar.duplicates.Duplicates, or the error's text
    sharedState = Signal(object)  # desktop.shared_index.SharedState: what the shared index (`store`) holds

    def __init__(self, data_dir: Path, model: str | None = None, k: int = DEFAULT_K,
                 watcher_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.data_path = data_dir
        self.config = Config.load(data_dir)  # one small file: the UI needs it to pick its first page
        self.backend = read_backend(data_dir, self.config)
        self.model_override = model
        self.k = k
        self.watcher_options = watcher_options or {}
        self.closing = False
        self.searches = SearchJobs(self)
        self.similar = SimilarJobs(self)
        self.indexing = Indexing(self)
        self.settings = RootsAndSettings(self)
        self._search_thread: SerialThread | None = None
        self._index_thread: SerialThread | None = None

    @property
    def shared(self) -> bool:
        """The app searches a shared index (config `store`) and does not index."""
        from desktop.shared_index import is_shared

        return is_shared(self.config)

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
        self._search_thread.post(self.searches.load_models)
        if self.shared:
            self.indexing.set_progress(IndexProgress("shared"))
        elif self.config.roots:
            # The startup scan waits for the model: a search typed into the new window comes first.
            self._index_thread.post(lambda: self.searches.settled.wait(STARTUP_SCAN_WAIT))
            self._index_thread.post(self.indexing.start)
        else:
            self.indexing.set_progress(IndexProgress("off"))
        self._index_thread.post(self.indexing.refresh_stats)

    def shutdown(self) -> bool:
        """Stop indexing between two commits (vector file saved, lock released) and end the threads.

        False when the watcher did not stop in time (it was inside a long embedding batch): the
        caller should then end the process without running interpreter shutdown; every commit is
        already durable, and the vector file is rebuilt from the catalog at the next start.
        """
        self.closing = True
        self.searches.cancel_all()  # queued searches are skipped
        watcher = self.indexing.watcher
        if self._index_thread is not None:
            self._index_thread.stop(self.indexing.stop)
        if self._search_thread is not None:
            self._search_thread.stop(self._close_readers)
        return watcher is None or watcher.status().state == "stopped"

    def _close_readers(self) -> None:
        self.searches.close_searcher()
        self.similar.close()

    def post_search(self, task: Callable[[], None]) -> None:
        if self._search_thread is not None:
            self._search_thread.post(task)

    def post_index(self, task: Callable[[], None]) -> None:
        """Run `task` on the index thread; an exception is reported, and the thread goes on."""
        if self._index_thread is None:
            raise RuntimeError("Engine.start() first")

        def guarded() -> None:
            try:
                task()
            except Exception as exc:  # noqa: BLE001 - one failed action must not end the thread
                traceback.print_exc()
                self.message.emit(f"{type(exc).__name__}: {exc}", True)

        self._index_thread.post(guarded)

    @property
    def started(self) -> bool:
        return self._index_thread is not None and not self.closing

    # -- search --------------------------------------------------------------------------------------
    @property
    def model_state(self) -> str:
        """loading | ready | error"""
        return self.searches.model_state

    @property
    def generation(self) -> int:
        return self.searches.generation

    def search(self, text: str, k: int | None = None, details: bool = True, channel: str = "main") -> int:
        """Queue a search; its outcome comes with `searchFinished`. Returns its generation.

        A newer search on the same `channel` supersedes it; other channels' searches do not.
        With `details`, the reranked order, the similarity matrix and the best sentences follow the
        results (`resultsReranked`, `similarityReady`, `resultsRefined`); the quick box does without.
        """
        generation = self.searches.ask(channel)
        k = k or self.k
        self.post_search(lambda: self.searches.run(generation, text, k, details, channel))
        return generation

    def find_similar(self, path: str, k: int | None = None) -> int:
        """Queue "more like this" for an indexed file: answered like a main-window search (its
        generation is returned), then with the file-to-file matrix."""
        generation = self.searches.ask("main")
        self.post_search(lambda: self.similar.similar(generation, path, k or self.k))
        return generation

    def find_duplicates(self) -> None:
        """Queue the duplicate groups of the whole index; answered with `duplicatesFound`."""
        self.post_search(self.similar.duplicates)

    def cancel_search(self, channel: str = "main") -> None:
        """Forget the channel's search in flight (its answer, if any, is ignored)."""
        self.searches.cancel(channel)

    def similarity_now(self, text: str, results: list[FileResult]) -> Similarity:
        """The engine's own matrix, computed on the calling thread (for checks, not for the UI)."""
        searcher = self.searches.ensure_searcher()
        if searcher is None:
            raise RuntimeError("no index")
        return searcher.similarity(text, results)

    # -- indexing --------------------------------------------------------------------------------------
    @property
    def last_progress(self) -> IndexProgress:
        return self.indexing.last_progress

    def add_root(self, path: str) -> None:
        from indexer.write.roots import root_path

        self.post_index(lambda: self.settings.add_root(root_path(path)))

    def remove_root(self, path: str) -> None:
        self.post_index(lambda: self.settings.remove_root(path))

    def set_roots(self, paths: list[str]) -> None:
        """The welcome page's choice: these folders, indexed from now on."""
        self.post_index(lambda: self.settings.set_roots([os.path.abspath(p) for p in paths]))

    def set_excludes(self, patterns: list[str]) -> None:
        self.post_index(lambda: self.settings.set_excludes(patterns))

    def apply_settings(self, config: Config, backend: str) -> None:
        """Save settings to config.toml; reload the models and restart indexing when they changed."""
        self.post_index(lambda: self.settings.apply_settings(config, backend))

    def agree_to_share(self, shown: str) -> None:
        """The user agreed that passage text goes to the shared index `shown`: kept in the config, as
        the CLI keeps it, and the models reload for it."""
        if shown in self.config.store_consent:
            return
        config = dataclasses.replace(self.config, store_consent=[*self.config.store_consent, shown])
        self.config = config  # at once: the search asked next must not ask again
        self.searches.info_ready.clear()
        self.post_search(self.searches.reload_models)  # the store's own model, now that it may be read
        self.post_index(lambda: self.settings.save(config))
        self.post_index(self.indexing.refresh_stats)

    def reindex(self, model: str | None = None) -> None:
        """Re-embed the index with `model` (default: the configured one) in the background."""
        self.reindexOffered.emit(None)
        self.post_index(lambda: self.indexing.reindex(model or self.config.model))

    def prioritize(self, path: str) -> None:
        """The user opened this file: embed it next if it is not yet (thread-safe, returns at once)."""
        watcher = self.indexing.watcher
        if watcher is not None:
            watcher.prioritize(path)

    @property
    def paused(self) -> bool:
        """Indexing is held by a user: Pause in this app, or `findling pause` (not a low battery)."""
        return self.indexing.paused

    def pause(self) -> None:
        self.indexing.set_manual_pause(True)

    def resume(self) -> None:
        """Go on indexing; also lifts a `findling pause` (a low battery still holds it)."""
        self.indexing.set_manual_pause(False)

    def toggle_pause(self) -> None:
        if self.paused:
            self.resume()
        else:
            self.pause()

    def refresh_stats(self) -> None:
        self.post_index(self.indexing.refresh_stats)
