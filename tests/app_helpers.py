"""Opening the app's main window on a data dir, as a user starts it (Qt tests only)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from desktop.engine import Engine
from desktop.main_window import MainWindow

WAIT = 20_000  # ms
FAST_WATCHER = {"debounce": 0.05, "low_priority": False}


def open_window(qtbot, data: Path, model: str | None = None, wait_for_model: bool = True,  # noqa: ANN001
                size: tuple[int, int] | None = None, wait: int = WAIT) -> MainWindow:
    """The main window on `data`, shown and its engine started (with the model recorded in the index
    when `model` is None); waits until the model has loaded or failed unless told not to."""
    window = MainWindow(Engine(data, model, watcher_options=FAST_WATCHER))
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    window.show()
    window.engine.start()
    if wait_for_model:
        qtbot.waitUntil(lambda: window.model_state != "loading", timeout=wait)
    return window


@contextmanager
def app_window(qtbot, data: Path, model: str | None = None, **options: object) -> Iterator[MainWindow]:  # noqa: ANN001
    """`open_window`, its engine shut down afterwards."""
    window = open_window(qtbot, data, model, **options)
    try:
        yield window
    finally:
        window.engine.shutdown()
