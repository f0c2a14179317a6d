"""More like this, and duplicates, for the app: `indexer.similar` run on the search thread.

`similar` answers like a search on the main channel (a `SearchOutcome` with `searchFinished`,
then the file-to-file matrix with `similarityReady`), so the result list, the preview and the
similarity view show it as they show a search. `duplicates` answers with `duplicatesFound`.
Both read the catalog only: no model runs, and nothing is ever deleted. On a shared index both are
refused with the CLI's message (they need the writer's file vectors, which the store does not hold).
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from desktop.search_jobs import SearchOutcome
from desktop.shared_index import refusal

if TYPE_CHECKING:
    from desktop.engine import Engine
    from indexer.similar.find import SimilarFinder


SIMILAR_PREFIX = "like: "


def similar_label(path: str) -> str:
    """The query a "more like this" answer carries, for the result list to say what it shows."""
    return f"{SIMILAR_PREFIX}{Path(path).name}"


class SimilarJobs:
    """Runs on the search thread only (the finder holds one SQLite connection)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.finder: SimilarFinder | None = None

    def close(self) -> None:
        if self.finder is not None:
            self.finder.close()
            self.finder = None

    def _open(self) -> SimilarFinder:
        from indexer.similar.find import SimilarFinder

        if self.finder is None:
            self.finder = SimilarFinder(self.engine.data)
        return self.finder

    def similar(self, generation: int, path: str, k: int) -> None:
        from indexer.search.searcher import Similarity
        from indexer.similar.find import NotComparable

        engine = self.engine
        if not engine.searches.current("main", generation):
            return
        started = time.perf_counter()
        label = similar_label(path)

        def outcome(kind: str, message: str = "", results: list | None = None) -> SearchOutcome:
            seconds = time.perf_counter() - started
            return SearchOutcome(generation, label, results or [], seconds, kind, message)

        refused = refusal(engine.config, "similar")
        if refused:
            engine.searchFinished.emit(outcome("error", refused))
            return
        try:
            finder = self._open()
            found = finder.similar(path, k)
        except NotComparable as exc:
            engine.searchFinished.emit(outcome("no-results", str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - said plainly; the app goes on
            traceback.print_exc()
            engine.searchFinished.emit(outcome("error", f"Similar files could not be found: {exc}"))
            return
        if not found.results:
            engine.searchFinished.emit(outcome("no-results", f"No other file to compare {Path(path).name} "
                                                             "with yet."))
            return
        engine.searchFinished.emit(outcome("ok", results=found.results))
        if engine.searches.current("main", generation):
            labels, matrix = finder.matrix(found)
            engine.similarityReady.emit(generation, Similarity(labels, matrix))

    def duplicates(self) -> None:
        from indexer.similar.duplicates import find_duplicates

        refused = refusal(self.engine.config, "duplicates")
        if refused:
            self.engine.duplicatesFound.emit(refused)
            return
        try:
            finder = self._open()
            found = find_duplicates(finder.catalog, finder.vectors)
        except Exception as exc:  # noqa: BLE001 - said plainly; the app goes on
            traceback.print_exc()
            self.engine.duplicatesFound.emit(f"Duplicates could not be found: {exc}")
            return
        self.engine.duplicatesFound.emit(found)
