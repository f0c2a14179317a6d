"""Laptop friendliness: background work at low CPU priority, and when it should wait.

Indexing waits while it is paused in the engine (`Watcher.pause()`), while a `paused` flag
file exists in the data dir (`findling pause` from another process), or while the laptop
runs on battery below a set level; it goes on once on power again.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from indexer.config import ensure_private_dir
from indexer.private import FILE_MODE

PAUSE_FILE = "paused"
BACKGROUND_NICE = 10


def lower_priority() -> None:
    """Lower the CPU priority of background work, best effort.

    On Linux the nice value belongs to the calling thread (and to the threads it starts
    later); on macOS and Windows it is the whole process's.
    """
    with contextlib.suppress(OSError, psutil.Error):
        if sys.platform == "win32":
            psutil.Process().nice(psutil.BELOW_NORMAL_PRIORITY_CLASS)
            return
        current = os.nice(0)
        if current < BACKGROUND_NICE:
            os.nice(BACKGROUND_NICE - current)


def pause_flag(data_dir: Path) -> Path:
    return data_dir / PAUSE_FILE


def request_pause(data_dir: Path) -> None:
    """Ask any watcher of this data dir (in any process) to pause; it persists until resumed."""
    ensure_private_dir(data_dir)
    pause_flag(data_dir).touch(mode=FILE_MODE)


def request_resume(data_dir: Path) -> bool:
    """Lift a pause asked with `request_pause`; whether there was one."""
    try:
        pause_flag(data_dir).unlink()
    except FileNotFoundError:
        return False
    return True


def battery_reason(battery: Any, below: float) -> str | None:
    """Why to wait for power, from a `psutil.sensors_battery()` reading (None: no battery)."""
    if battery is None or battery.power_plugged or battery.power_plugged is None:
        return None
    if battery.percent < below:
        return f"on battery at {battery.percent:.0f}% (indexing waits below {below:g}% until on power)"
    return None


class PauseGate:
    """Why indexing should wait right now, or None. Cheap to ask often: the flag file and
    the battery are read at most every `flag_poll` and `battery_poll` seconds."""

    def __init__(
        self,
        flag: Path,
        battery_below: float,
        battery: Callable[[], Any] = psutil.sensors_battery,
        flag_poll: float = 1.0,
        battery_poll: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.flag = flag
        self.battery_below = battery_below
        self.manual = False
        self._battery = battery
        self._flag_poll = flag_poll
        self.battery_poll = battery_poll
        self._clock = clock
        self._flag_at = self._battery_at = float("-inf")
        self._flagged = False
        self._on_battery: str | None = None

    def reason(self) -> str | None:
        if self.manual:
            return "paused"
        now = self._clock()
        if now - self._flag_at >= self._flag_poll:
            self._flag_at = now
            self._flagged = self.flag.exists()
        if self._flagged:
            return "paused by `findling pause` (run `findling resume` to go on)"
        if now - self._battery_at >= self.battery_poll:
            self._battery_at = now
            try:
                self._on_battery = battery_reason(self._battery(), self.battery_below)
            except Exception:  # noqa: BLE001 - a flaky sensor must not stop indexing
                self._on_battery = None
        return self._on_battery

    def refresh(self) -> None:
        """Read the flag file and the battery again on the next `reason()`."""
        self._flag_at = self._battery_at = float("-inf")
