"""The quick-search box: a small frameless window over whatever the user is doing.

Search as you type (a shorter debounce than the main window's), the top 8 results with the
same delegate as the main window (weaker matches folded under one row, as there), Enter opens,
Ctrl+Enter reveals in the folder, Ctrl+C copies the path, arrows move, Esc (or losing focus)
hides. It is built once at start-up and only shown and hidden afterwards, so `summon()` costs a
show and a raise, not a build.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QEvent, QItemSelectionModel, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCursor, QGuiApplication, QKeyEvent, QShowEvent
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QListView, QVBoxLayout, QWidget

from desktop import actions
from desktop.engine import Engine, SearchOutcome
from desktop.launch import Launcher, LaunchOutcome, copy_failed_path
from desktop.results import ResultDelegate, ResultsModel
from desktop.search_box import SearchBox

QUICK_RESULTS = 8
DEBOUNCE_MS = 150
WIDTH = 680
MAX_SCREEN_SHARE = 0.7  # the box never covers more of the screen than this; the list scrolls
STATUS_STYLE = "color: gray; padding: 2px 8px 6px 8px"
ERROR_STYLE = "color: #b00020; padding: 2px 8px 6px 8px"
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)
STEPS = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 4, Qt.Key.Key_PageUp: -4}


class QuickSearch(QWidget):
    """Frameless, on top, centred on the screen under the mouse; one engine shared with the main window."""

    shown = Signal(float)  # perf_counter() at the box's first paint after being shown
    resultsShown = Signal(object)  # SearchOutcome, once shown
    openMainRequested = Signal(str)  # the query, to continue in the main window
    launched = Signal(object)  # LaunchOutcome, once acted on

    def __init__(self, engine: Engine) -> None:
        super().__init__(None, Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint
                         | Qt.WindowType.WindowStaysOnTopHint)
        self.engine = engine
        self._awaiting_paint = False
        self.shown_outcome: SearchOutcome | None = None
        self.setWindowTitle("Findling quick search")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.setFixedWidth(WIDTH)

        frame = QFrame(self)
        frame.setObjectName("quickFrame")
        frame.setStyleSheet("#quickFrame { border: 1px solid palette(mid); border-radius: 8px;"
                            " background: palette(base); }")
        self.field = QLineEdit()
        self.field.setPlaceholderText("Quick search…  (Enter: open · Ctrl+Enter: show in folder · "
                                      "Ctrl+O: main window · Esc: close)")
        self.field.setMinimumHeight(40)
        font = self.field.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        self.field.setFont(font)
        self.field.setFrame(False)
        self.model = ResultsModel(self)
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(ResultDelegate(self.view))
        self.view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.view.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the field keeps the keyboard
        self.view.setFrameShape(QFrame.Shape.NoFrame)
        self.view.clicked.connect(lambda index: self.open_current())
        self.model.rowsInserted.connect(lambda *_: self._fit())
        self.model.rowsRemoved.connect(lambda *_: self._fit())
        self.view.hide()
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setStyleSheet(STATUS_STYLE)
        self.launcher = Launcher(self)
        self.launcher.done.connect(self.show_launch)
        inner = QVBoxLayout(frame)
        inner.setContentsMargins(8, 8, 8, 4)
        inner.addWidget(self.field)
        inner.addWidget(self.view)
        inner.addWidget(self.status)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(frame)

        self.box = SearchBox(self.field, engine, DEBOUNCE_MS, channel="quick", k=QUICK_RESULTS, details=False,
                             parent=self)
        self.box.cleared.connect(self._cleared)
        self.box.waiting.connect(lambda: self.status.setText(
            "Loading the model… your search runs as soon as it is ready."))
        self.field.installEventFilter(self)
        engine.searchFinished.connect(self.show_outcome)
        self._fit()

    # -- showing and hiding ------------------------------------------------------------------------
    def summon(self) -> None:
        """Show the box centred on the active screen, the field focused and its text selected."""
        screen = QGuiApplication.screenAt(QCursor.pos()) or QGuiApplication.primaryScreen()
        if screen is not None:
            area = screen.availableGeometry()
            self.move(area.x() + (area.width() - self.width()) // 2, area.y() + area.height() // 5)
        self.show()
        self.raise_()
        self.activateWindow()
        self.field.setFocus()
        self.field.selectAll()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self._awaiting_paint = True


    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and not self.isActiveWindow() and self.isVisible():
            app = QGuiApplication.instance()
            if app is not None and app.platformName() not in ("offscreen", "minimal"):
                self.hide()  # clicked elsewhere: out of the way, like a launcher

    # -- search --------------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        return self.box.generation

    @property
    def debounce(self) -> QTimer:
        return self.box.debounce

    def run_search(self) -> None:
        self.box.search_now()

    def clear(self) -> None:
        self.box.clear()

    def _cleared(self) -> None:
        self._awaiting_paint = False
        self.shown_outcome = None
        self.model.clear()
        self.status.clear()
        self._fit()

    def show_outcome(self, outcome: SearchOutcome) -> None:
        if not self.box.accepts(outcome.generation):
            return
        self.shown_outcome = outcome
        self.status.setStyleSheet(STATUS_STYLE)
        self.model.set_results(outcome.results[:QUICK_RESULTS], outcome.query)
        if outcome.kind == "ok":
            self.view.setCurrentIndex(self.model.index(self.model.first_row()))
            timing = f"{outcome.seconds * 1000:.0f} ms · Ctrl+O: all results in the main window"
            self.status.setText("\n".join(t for t in (outcome.header, outcome.ignored, timing) if t))
        else:
            self.status.setText("\n".join(t for t in (outcome.message, outcome.ignored) if t))
        self._fit()
        self.resultsShown.emit(outcome)

    def _fit(self) -> None:
        """Grow or shrink to the results: the field alone when there are none."""
        rows = self.model.rowCount()
        self.view.setVisible(rows > 0)
        if rows:
            screen = self.screen() or QGuiApplication.primaryScreen()
            room = int(screen.availableGeometry().height() * MAX_SCREEN_SHARE) - 100 if screen else 600
            height = sum(max(self.view.sizeHintForRow(row), 1) for row in range(rows))
            self.view.setFixedHeight(min(height + 4, max(room, 200)))
        self.adjustSize()

    # -- the selected result ---------------------------------------------------------------------------
    def current_result(self):  # noqa: ANN201 - FileResult | None
        return self.model.result(self.view.currentIndex().row())

    def open_current(self) -> None:
        """Open the selected result (and hide), or unfold / fold the weaker matches."""
        if self.model.is_fold(self.view.currentIndex().row()):
            self.model.toggle()
            return
        result = self.current_result()
        if result is not None:
            self.launcher.open(result.path, result.page)
            self.engine.prioritize(result.path)

    def reveal_current(self) -> None:
        result = self.current_result()
        if result is not None:
            self.launcher.reveal(result.path)

    def show_launch(self, outcome: LaunchOutcome) -> None:
        """Out of the way once the file is open; else the error stays in the box, the path copied."""
        if outcome.ok:
            self.hide()
        else:
            copy_failed_path(outcome)
            self.status.setText(outcome.failure_text())
            self.status.setStyleSheet(ERROR_STYLE)
        self.launched.emit(outcome)

    def move_selection(self, key: Qt.Key) -> None:
        rows = self.model.rowCount()
        if not rows:
            return
        row = max(0, min(rows - 1, self.view.currentIndex().row() + STEPS[key]))
        self.view.selectionModel().setCurrentIndex(self.model.index(row),
                                                   QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.field and event.type() == QEvent.Type.KeyPress:
            return self.handle_key(event)
        if watched is self.field and event.type() == QEvent.Type.Paint and self._awaiting_paint:
            self._awaiting_paint = False  # the field is painted: the box is on screen
            QTimer.singleShot(0, lambda: self.shown.emit(time.perf_counter()))
        return super().eventFilter(watched, event)

    def handle_key(self, event: QKeyEvent) -> bool:
        key, ctrl = event.key(), bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if key == Qt.Key.Key_Escape:
            self.hide()
        elif key in ENTER_KEYS and ctrl:
            self.reveal_current()
        elif key in ENTER_KEYS:
            if self.box.needs_search(self.shown_outcome):
                self.run_search()
            else:
                self.open_current()
        elif key == Qt.Key.Key_O and ctrl:
            self.openMainRequested.emit(self.field.text())
            self.hide()
        elif key == Qt.Key.Key_C and ctrl and not self.field.hasSelectedText() and self.current_result():
            actions.copy_path(self.current_result().path)
        elif key in STEPS:
            self.move_selection(key)
        else:
            return False
        return True
