"""What the running app is made of: the main window, the quick-search box and, where there is
one, the tray icon; and how it answers requests from later launches.

    later launch ──▶ InstanceServer.requested ──▶ Shell.handle ──▶ quick box / main window
    tray menu ────────────────────────────────────────┘

With a tray, closing the main window hides it (the first time, a notification says that
Findling keeps running there) and Quit is in the tray menu. Without one, the main window is
an ordinary window: closing it quits, and the status bar says why there is no tray.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from desktop import tray as tray_module
from desktop.engine import Engine
from desktop.main_window import MainWindow
from desktop.quick_search import QuickSearch

STATE_FILE = "desktop-state.ini"
TRAY_WAIT_SECONDS = 30.0
HIDDEN_HINT_KEY = "tray/hidden_hint_shown"


class Shell(QObject):
    """Builds the windows once; `handle()` acts on a later launch's request.

    Requests are {"action": ...}: quick (the quick box), hide (it), show (the main window,
    optionally with a "query"), hidden (nothing: an autostart while running), add-roots
    ("paths", from `findling index`), quit.
    """

    def __init__(self, engine: Engine, use_tray: bool | None = None) -> None:
        super().__init__()
        self.engine = engine
        self.window = MainWindow(engine)
        self.quick = QuickSearch(engine)
        self.quick.openMainRequested.connect(self.show_main)
        self.state = QSettings(str(Path(engine.data_path) / STATE_FILE), QSettings.Format.IniFormat)
        self.tray: tray_module.Tray | None = None
        self._quitting = False
        self._tray_wait = QTimer(self)  # at login the panel may come up after Findling
        self._tray_wait.setInterval(1000)
        self._tray_wait.timeout.connect(self._look_for_tray)
        self._tray_deadline = 0.0
        if tray_module.available() if use_tray is None else use_tray:
            self._make_tray()
        QApplication.instance().setQuitOnLastWindowClosed(self.tray is None)

    def _make_tray(self) -> None:
        self.tray = tray_module.Tray(self.engine, self)
        self.tray.quickSearchRequested.connect(self.quick.summon)
        self.tray.openRequested.connect(self.show_main)
        self.tray.quitRequested.connect(self.quit)
        self.tray.show()
        self.window.installEventFilter(self)
        QApplication.instance().setQuitOnLastWindowClosed(False)

    def start(self, quick: bool = False, hidden: bool = False, tray_wait: float = TRAY_WAIT_SECONDS) -> None:
        """Show what this launch asked for: the quick box, nothing (in the tray), or the main window.

        Started hidden (at login) before the desktop's tray exists, it waits up to `tray_wait`
        seconds for one before falling back to the main window.
        """
        if self.tray is None and hidden and tray_wait > 0:
            self._tray_deadline = time.monotonic() + tray_wait
            self._tray_wait.start()
        elif self.tray is None:
            self._no_tray()
        elif not (quick or hidden):
            self.window.show()
        if quick:
            self.quick.summon()

    def _look_for_tray(self) -> None:
        if tray_module.available():
            self._tray_wait.stop()
            self._make_tray()
        elif time.monotonic() >= self._tray_deadline:
            self._tray_wait.stop()
            self._no_tray()

    def _no_tray(self) -> None:
        self.window.show()
        self.window.show_message(tray_module.NO_TRAY_REASON, False)

    def handle(self, request: dict) -> None:
        """Act on a later launch's request; unknown actions (and `hidden`: an autostart) do nothing."""
        action = request.get("action")
        token = request.get("activation_token")
        if isinstance(token, str) and token:
            # Wayland compositors give focus only with the launcher's token (xdg-activation)
            os.environ["XDG_ACTIVATION_TOKEN"] = token
        if action == "quick":
            self.quick.summon()
        elif action == "hide":
            self.quick.hide()
        elif action == "quit":
            self.quit()
        elif action == "show":
            self.show_main(str(request.get("query") or ""))
        elif action == "add-roots":  # `findling index PATH` while this app writes the index
            for path in request.get("paths") or []:
                if isinstance(path, str):
                    self.engine.add_root(path)

    def show_main(self, query: str = "") -> None:
        self.window.showNormal()
        self.window.raise_()
        self.window.activateWindow()
        if query.strip():
            self.window.search_field.setText(query)
            self.window.run_search()
        self.window.focus_search()

    def quit(self) -> None:
        """Quit for real: Qt 6 closes every window first, and a refused close would cancel the quit."""
        self._quitting = True
        self.quick.hide()
        QApplication.quit()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """With a tray, closing the main window hides it: Findling keeps indexing and stays a click away."""
        if (watched is self.window and event.type() == QEvent.Type.Close and self.tray is not None
                and not self._quitting):
            event.ignore()
            self.window.hide()
            if not self.state.value(HIDDEN_HINT_KEY, False, bool):
                self.tray.notify("Findling keeps running in the tray",
                                 "It goes on indexing. Click the tray icon for quick search; "
                                 "Quit is in its menu.")
                self.state.setValue(HIDDEN_HINT_KEY, True)
                self.state.sync()
            return True
        return super().eventFilter(watched, event)
