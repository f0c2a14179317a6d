"""The user's changes to what is indexed and how: roots, excludes and settings, saved to config.toml.

Each change runs on the index thread: the watcher stops between two commits, the config is
saved, and the watcher starts again on the new config. A changed model, reranker or backend
also reloads the models on the search thread.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from desktop.progress import IndexProgress
from desktop.settings import save_config

if TYPE_CHECKING:
    from desktop.engine import Engine
    from indexer.config import Config


class RootsAndSettings:
    """Roots and settings for the engine; every method runs on the index thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _read_only(self, what: str) -> bool:
        """On a shared index the app does not index: said, and True."""
        if not self.engine.shared:
            return False
        from desktop.shared_index import READ_ONLY

        self.engine.message.emit(f"{what} is not available while the app shows a shared index. {READ_ONLY}",
                                 True)
        return True

    def add_root(self, path: str) -> None:
        from indexer.write.roots import excluded_root_problem, folder_problem, with_roots

        if self._read_only("Adding a folder"):
            return
        config = self.engine.config
        problem = folder_problem(path) or excluded_root_problem(path, config, self.engine.data_path)
        if problem:
            self.engine.message.emit(problem, True)
            return
        if path in config.roots:
            self.engine.message.emit(f"{path} is already indexed.", False)
            return
        self.restart_with(dataclasses.replace(config, roots=with_roots(config.roots, [path])))

    def set_roots(self, paths: list[str]) -> None:
        from indexer.write.roots import folder_problem, with_roots

        readable = []
        for path in paths:
            problem = folder_problem(path)
            if problem:
                self.engine.message.emit(problem, True)
            else:
                readable.append(path)
        self.restart_with(dataclasses.replace(self.engine.config, roots=with_roots([], readable)))

    def remove_root(self, path: str) -> None:
        """Stop watching `path` and purge its files from the index."""
        engine = self.engine
        if path not in engine.config.roots or self._read_only("Removing a folder"):
            return
        engine.indexing.stop()
        searches = engine.searches
        if engine.data.exists() and searches.info_ready.wait() and searches.info is not None:
            from indexer.datadir import APP_HOLDER
            from indexer.models.embedding import TorchEmbedder
            from indexer.write.roots import purge_roots

            engine.indexing.set_progress(IndexProgress("running", current=f"Removing {path} from the index"))
            with engine.data.writer_lock(APP_HOLDER):  # removing embeds nothing: the model never loads
                removed = purge_roots(engine.data, engine.config, TorchEmbedder(searches.info), [path])
            engine.message.emit(f"Removed {path} and its {removed} files from the index.", False)
            engine.indexChanged.emit()
        roots = [r for r in engine.config.roots if r != path]
        self.restart_with(dataclasses.replace(engine.config, roots=roots))

    def set_excludes(self, patterns: list[str]) -> None:
        self.restart_with(dataclasses.replace(self.engine.config, excludes=patterns))

    def restart_with(self, config: Config, backend: str | None = None) -> None:
        """Save `config` and index by it from now on."""
        indexing = self.engine.indexing
        indexing.stop()
        self.save(config, backend)
        if self.engine.shared:
            indexing.set_progress(IndexProgress("shared"))
        elif config.roots:
            indexing.start()
        else:
            indexing.set_progress(IndexProgress("off"))
        indexing.refresh_stats()

    def apply_settings(self, config: Config, backend: str) -> None:
        """Save the settings; reload the models (search thread) when they changed, and restart indexing."""
        engine = self.engine
        old, engine.backend = engine.config, backend
        # another shared index (or none) may have another model, and the searcher reads another store
        models_changed = (config.model, config.reranker, config.threads, config.store, config.path_map) != (
            old.model, old.reranker, old.threads, old.store, old.path_map)
        if not models_changed:
            self.restart_with(config, backend)
            return
        engine.indexing.stop()
        self.save(config, backend)
        recorded = None if engine.shared else engine.data.recorded_model()
        if recorded and config.model != old.model and config.model != recorded:
            engine.message.emit(
                f"The index was built with {recorded}. It keeps using that model until it is re-embedded: "
                f"run `findling reindex --model {config.model}`.", False)
        engine.searches.info_ready.clear()
        engine.post_search(engine.searches.reload_models)
        if engine.shared:
            engine.indexing.set_progress(IndexProgress("shared"))
        elif config.roots:
            engine.indexing.start()
        else:
            engine.indexing.set_progress(IndexProgress("off"))
        engine.indexing.refresh_stats()

    def save(self, config: Config, backend: str | None = None) -> None:
        from indexer.config import ensure_private_dir

        engine = self.engine
        ensure_private_dir(engine.data_path)
        save_config(config, engine.data_path, backend)
        engine.config = config
        engine.configChanged.emit(config)
