"""Worker threads for the engine facade: a serial task thread; an embedder remembering its last
query; a reranker that gives way to newer searches."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

if TYPE_CHECKING:
    from indexer.models.embedding import Embedder


class _Runner(QObject):
    """Lives in a worker thread and runs the callables posted to it, one after the other."""

    posted = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.posted.connect(self._run)

    @Slot(object)
    def _run(self, task: Callable[[], None]) -> None:
        task()


class LastQueryEmbedder:
    """The embedder, remembering the last query's vector.

    One search embeds its query for retrieval, again for the similarity matrix and again
    for the best sentences; with this it is embedded once.
    """

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder
        self._last: tuple[str | None, Any] = (None, None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._embedder, name)

    def encode_queries(self, texts: list[str]):  # noqa: ANN201 - np.ndarray
        if len(texts) == 1 and texts[0] == self._last[0]:
            return self._last[1]
        vectors = self._embedder.encode_queries(texts)
        if len(texts) == 1:
            self._last = (texts[0], vectors)
        return vectors


class Superseded(Exception):
    """A newer search came in while this one was being reranked."""


class InterruptibleReranker:
    """The reranker, scoring a few pairs at a time and giving up as soon as `still_wanted()` says no.

    Reranking 30 pairs costs seconds on a laptop CPU; on the one search thread, a rerank that
    ran to the end would make the next query wait for it.
    """

    def __init__(self, reranker: Any, pairs_per_step: int = 8) -> None:
        self._reranker = reranker
        self.pairs_per_step = pairs_per_step
        self.still_wanted: Callable[[], bool] = lambda: True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reranker, name)

    def score(self, query: str, passages: list[str]):  # noqa: ANN201 - np.ndarray
        import numpy as np

        scores = []
        for start in range(0, len(passages), self.pairs_per_step):
            if not self.still_wanted():
                raise Superseded
            scores.append(self._reranker.score(query, passages[start:start + self.pairs_per_step]))
        return np.concatenate(scores) if scores else np.zeros(0, dtype=np.float32)


class SerialThread:
    """A QThread that runs posted callables in order (a one-worker executor with a Qt event loop)."""

    def __init__(self, name: str) -> None:
        self.thread = QThread()
        self.thread.setObjectName(name)
        self.runner = _Runner()
        self.runner.moveToThread(self.thread)
        self.thread.start()

    def post(self, task: Callable[[], None]) -> None:
        self.runner.posted.emit(task)

    def stop(self, last: Callable[[], None] | None = None, timeout_ms: int = 15_000) -> None:
        """Run `last` after everything already posted, then end the thread (waiting up to `timeout_ms`)."""

        def finish() -> None:
            try:
                if last is not None:
                    last()
            finally:
                self.thread.quit()

        self.post(finish)
        self.thread.wait(timeout_ms)
