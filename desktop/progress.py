"""Indexing progress as the windows show it: the watcher's status turned into an `IndexProgress` with an ETA,
sent at most every `PROGRESS_INTERVAL` seconds (a state change or the end of a batch always goes out)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.write.watcher import WatchStatus

PROGRESS_INTERVAL = 0.1  # seconds between two progress signals, at most


@dataclass(frozen=True)
class IndexProgress:
    """Live indexing progress, for the progress bar and the status line."""

    # starting | reconciling | running | reindexing | paused | idle | stopped | busy | off | shared
    state: str
    done: int = 0
    total: int = 0
    current: str | None = None
    eta_seconds: float | None = None
    queued: int = 0
    pause_reason: str | None = None
    unit: str = "files"  # what done/total count: files (reading, keywords), passages (embedding) or
    # images (OCR: images and scanned PDFs)

    @property
    def working(self) -> bool:
        return self.state in ("starting", "reconciling", "running", "reindexing")

    @property
    def embedding_behind(self) -> bool:
        """All files are read, and the run goes on: it is embedding their passages (unreported)."""
        return self.working and self.unit == "files" and self.total > 0 and self.done >= self.total


def status_unit(status: WatchStatus) -> str:
    """What the watcher counts: its embedding phase counts passages and names no current file; its
    OCR phase counts images (and scanned PDFs)."""
    phase = getattr(status, "phase", None)
    if phase is not None:
        return {"embed": "passages", "ocr": "images"}.get(phase, "files")
    return "passages" if status.state == "running" and status.total and status.current is None else "files"


class ProgressRate:
    """The ETA of a batch or phase, from its own rate (measured anew when the batch or phase changes)."""

    def __init__(self) -> None:
        self._origin: tuple[object, int, float] = (None, 0, 0.0)  # (unit and total, done, time)
        self._last_sent = 0.0

    def progress(self, status: WatchStatus, now: float | None = None) -> IndexProgress:
        now = time.monotonic() if now is None else now
        unit = status_unit(status)
        phase, origin_done, origin_time = self._origin
        if (unit, status.total) != phase or status.done < origin_done:  # a new batch or phase: rate anew
            self._origin = ((unit, status.total), status.done, now)
            origin_done, origin_time = status.done, now
        eta = None
        done, elapsed = status.done - origin_done, now - origin_time
        if status.total and done >= 2 and elapsed > 0.5:
            eta = (status.total - status.done) * elapsed / done
        return IndexProgress(status.state, status.done, status.total, status.current, eta,
                             status.queued, status.pause_reason, unit)

    def worth_sending(self, progress: IndexProgress, last: IndexProgress, now: float | None = None) -> bool:
        """A state change, the end of a batch, or `PROGRESS_INTERVAL` since the last one sent."""
        now = time.monotonic() if now is None else now
        changed = (progress.state, progress.pause_reason) != (last.state, last.pause_reason)
        if changed or progress.done >= progress.total or now - self._last_sent >= PROGRESS_INTERVAL:
            self._last_sent = now
            return True
        return False
