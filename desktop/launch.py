"""Opening and revealing off the UI thread: `desktop.actions` waits up to 2 s for the launcher's exit,
and `Launcher.done` brings the outcome back to the UI thread, where the window says it."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from desktop import actions


@dataclass(frozen=True)
class LaunchOutcome:
    action: str  # "open" | "reveal"
    path: str  # the result's path (its catalog key)
    ok: bool
    message: str = ""  # why it failed

    def failure_text(self) -> str:
        """What the window says when it failed (the path is on the clipboard by then)."""
        verb = "open" if self.action == "open" else "show in its folder"
        return (f"Could not {verb} {Path(self.path).name}: {self.message}. "
                f"Its path is copied to the clipboard: {self.path}")

    def success_text(self) -> str:
        return f"Opening {self.path}" if self.action == "open" else f"Showing {self.path} in its folder"


class Launcher(QObject):
    """Runs `actions.open_file` / `actions.reveal_in_folder` in a short-lived thread each."""

    done = Signal(object)  # LaunchOutcome, delivered on the thread that owns the Launcher

    def open(self, path: str, page: int | None = None) -> None:
        self._start("open", path, lambda: actions.open_file(path, page))

    def reveal(self, path: str) -> None:
        self._start("reveal", path, lambda: actions.reveal_in_folder(path))

    def _start(self, action: str, path: str, work) -> None:  # noqa: ANN001 - () -> actions.Launch
        def run() -> None:
            try:
                launch = work()
            except Exception as exc:  # noqa: BLE001 - said to the user like any failure
                launch = actions.Launch(False, f"{type(exc).__name__}: {exc}")
            self.done.emit(LaunchOutcome(action, path, launch.ok, launch.message))

        threading.Thread(target=run, daemon=True, name=f"findling-{action}").start()


def copy_failed_path(outcome: LaunchOutcome) -> None:
    """A failed open or reveal leaves the path on the clipboard, to paste into a file manager."""
    actions.copy_path(outcome.path)
