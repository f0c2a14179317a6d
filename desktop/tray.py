"""The system-tray icon: quick search, the main window, pause/resume, a status line, quit.

Its tooltip and status line follow the engine's progress. A click on the icon opens the
quick-search box; the menu has the rest. Where the desktop has no tray (`available()` is
False), the app makes none and keeps its main window open instead.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desktop.engine import Engine, IndexProgress, IndexStats
from desktop.icon import app_icon
from desktop.index_panel import progress_text

NO_TRAY_REASON = ("This desktop has no system tray, so Findling runs as a normal window: "
                  "closing it quits Findling. `findling-desktop --quick` still opens quick search.")


def available() -> bool:
    return QSystemTrayIcon.isSystemTrayAvailable()


def status_line(progress: IndexProgress) -> str:
    """The menu's status line and the tooltip's second line: short, e.g. `Indexing: 120 / 2,000 files`."""
    if progress.state == "off":
        return "No folders indexed yet"
    if progress.state == "idle":
        return "Index up to date"
    if progress.state == "busy":
        return "Another Findling process is indexing"
    if progress.state == "shared":
        return "Searching a shared index (read only)"
    if progress.state == "paused":
        reason = progress.pause_reason
        return f"Paused: {reason}" if reason not in (None, "paused") else "Paused"
    if progress.working and progress.total:
        what = {"passages": "Embedding", "images": "Reading images (OCR)"}.get(progress.unit, "Indexing")
        percent = 100 * progress.done // max(progress.total, 1)
        return f"{what}: {progress.done:,} / {progress.total:,} {progress.unit} ({percent}%)"
    return progress_text(progress)


class Tray(QObject):
    """Owns the QSystemTrayIcon and its menu; signals ask the app to act."""

    quickSearchRequested = Signal()
    openRequested = Signal()
    quitRequested = Signal()

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.icon = QSystemTrayIcon(app_icon(), self)
        self.menu = QMenu()
        self.quick_action = self._add("Quick search", self.quickSearchRequested.emit)
        self.open_action = self._add("Open Findling", self.openRequested.emit)
        self.menu.addSeparator()
        self.status_action = self._add("", None)
        self.status_action.setEnabled(False)
        self.pause_action = self._add("Pause indexing", engine.toggle_pause)
        self.menu.addSeparator()
        self.quit_action = self._add("Quit Findling", self.quitRequested.emit)
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)
        self._unavailable: list[tuple[str, str]] = []
        engine.progress.connect(self.show_progress)
        engine.pausedChanged.connect(self.show_paused)
        engine.statsChanged.connect(self.show_stats)
        self.show_progress(engine.last_progress)
        self.show_paused(engine.paused)

    def _add(self, text: str, slot) -> QAction:  # noqa: ANN001 - a callable or None
        action = self.menu.addAction(text)
        if slot is not None:
            action.triggered.connect(lambda _checked=False: slot())
        return action

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def notify(self, title: str, text: str) -> None:
        self.icon.showMessage(title, text, app_icon(), 8000)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            self.quickSearchRequested.emit()
        elif reason == QSystemTrayIcon.ActivationReason.MiddleClick:
            self.openRequested.emit()

    def show_progress(self, progress: IndexProgress) -> None:
        self._progress = progress
        line = status_line(progress)
        if self._unavailable:
            count = len(self._unavailable)
            line += f" · {count} folder{'s' if count > 1 else ''} out of reach"
        self.status_action.setText(line)
        self.icon.setToolTip(f"Findling\n{line}" + "".join(f"\n{path}: {reason}"
                                                          for path, reason in self._unavailable[:3]))
        self.pause_action.setEnabled(progress.state not in ("off", "stopped", "busy", "shared"))

    def show_stats(self, stats: IndexStats) -> None:
        self._unavailable = list(stats.unavailable)
        self.show_progress(self._progress)

    def show_paused(self, paused: bool) -> None:
        self.pause_action.setText("Resume indexing" if paused else "Pause indexing")
