"""Search as you type, for one text field: the controller the main window and the quick box share.

Typing (re)starts a short timer; when it fires, or on Enter, the field's text is searched on the
box's engine channel. Only the newest search's answers are accepted (`accepts`); an emptied
field cancels the search in flight and says so with `cleared`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

if TYPE_CHECKING:
    from PySide6.QtWidgets import QLineEdit

    from desktop.engine import Engine
    from desktop.search_jobs import SearchOutcome


class SearchBox(QObject):
    """Debounce and generations for `field`'s searches on `engine`'s `channel`."""

    cleared = Signal()  # the field was emptied (or the search cleared): show the empty state
    waiting = Signal()  # a search was asked while the model still loads: it runs once it is ready

    def __init__(self, field: QLineEdit, engine: Engine, debounce_ms: int, channel: str = "main",
                 k: int | None = None, details: bool = True, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self.engine = engine
        self.channel = channel
        self.k = k
        self.details = details
        self.generation = -1  # the engine generation of the newest search asked for
        self.debounce = QTimer(self)
        self.debounce.setSingleShot(True)
        self.debounce.setInterval(debounce_ms)
        self.debounce.timeout.connect(self.search_now)
        field.textChanged.connect(self._text_changed)

    def _text_changed(self, text: str) -> None:
        if text.strip():
            self.debounce.start()
        else:
            self.clear()

    def text(self) -> str:
        return self.field.text().strip()

    def search_now(self) -> None:
        """Search for the field's text now (Enter, or the debounce timer)."""
        self.debounce.stop()
        text = self.text()
        if not text:
            self.clear()
            return
        self.generation = self.engine.search(text, self.k, details=self.details, channel=self.channel)
        if self.engine.model_state == "loading":
            self.waiting.emit()

    def clear(self) -> None:
        """Forget the search in flight: its answer, if any, is not accepted."""
        self.debounce.stop()
        self.engine.cancel_search(self.channel)
        self.generation = self.engine.generation
        self.cleared.emit()

    def accepts(self, generation: int) -> bool:
        """Whether an answer (of any stage) is for the newest search asked."""
        return generation == self.generation

    def needs_search(self, shown: SearchOutcome | None) -> bool:
        """Enter should search rather than open: the field's text is not what `shown` answers, or typing
        has not paused yet."""
        text = self.text()
        return bool(text) and (shown is None or shown.query != text or self.debounce.isActive())
