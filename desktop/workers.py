"""Worker threads for the engine facade: a serial task thread with a Qt event loop."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QThread, Signal, Slot


class _Runner(QObject):
    """Lives in a worker thread and runs the callables posted to it, one after the other."""

    posted = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.posted.connect(self._run)

    @Slot(object)
    def _run(self, task: Callable[[], None]) -> None:
        task()


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
