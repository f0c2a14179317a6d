"""A model download the user asked for in Settings, on a background thread, with progress."""

from __future__ import annotations

import io
import threading
from typing import Any

from PySide6.QtCore import QObject, Signal

from indexer.models.download import DownloadFailed, download_model


class ModelDownload(QObject):
    """Downloads one model; `progress(done, total)` (files) and `finished(ok, message)` follow."""

    progress = Signal(int, int)
    finished = Signal(bool, str)

    def __init__(self, name: str, parent: QObject | None = None, snapshot: Any = None) -> None:
        super().__init__(parent)
        self.name = name
        self._snapshot = snapshot  # tests pass a local fake of huggingface_hub.snapshot_download
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"download {self.name}", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            done = download_model(self.name, tqdm_class=_reporting_tqdm(self.progress.emit),
                                  snapshot=self._snapshot)
        except DownloadFailed as exc:
            self.finished.emit(False, str(exc))
            return
        self.finished.emit(bool(done.runs_on), done.note)


def _reporting_tqdm(report):  # noqa: ANN001, ANN202 - a callable(done, total); a tqdm class
    """A tqdm class for huggingface_hub that reports to `report` instead of a terminal."""
    from tqdm import tqdm

    class Reporting(tqdm):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)  # huggingface_hub's own keyword
            super().__init__(*args, **{**kwargs, "disable": False, "file": io.StringIO()})

        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            report(int(self.n), int(self.total or 0))
            return shown

    return Reporting
