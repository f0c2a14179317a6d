"""The main window: a search field over the results, with Preview, Similarity and Index tabs beside them.

Keyboard first: typing searches (debounced), Enter searches at once or opens the selected
result, arrows move through the results, Ctrl+Enter reveals the file in its folder,
Ctrl+C copies its path, Ctrl+M finds files like it ("more like this", also in the result's context
menu) and Esc clears the search. The Duplicates tab lists copies and near-copies.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QPaintEvent, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop import actions
from desktop.duplicates_view import DuplicatesView
from desktop.engine import Engine, IndexProgress, SearchOutcome
from desktop.heatmap import SimilarityView
from desktop.index_panel import IndexPanel, progress_text, show_on_bar
from desktop.launch import Launcher, LaunchOutcome, copy_failed_path
from desktop.preview import PreviewPane
from desktop.results import ResultDelegate, ResultsModel, match_count
from desktop.search_box import SearchBox
from desktop.settings import SettingsDialog, ask_consent
from desktop.shared_index import MOUNT_HINT, is_shared, refusal, shown_uri
from desktop.similar_jobs import SIMILAR_PREFIX
from desktop.welcome import WelcomePage

if TYPE_CHECKING:
    from indexer.config import Config

DEBOUNCE_MS = 250
NAVIGATION_KEYS = (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp)
ENTER_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


def similar_note(outcome: SearchOutcome) -> str:
    """What the count line adds for a "more like this" answer (its query is `similar_label`)."""
    if outcome.query.startswith(SIMILAR_PREFIX):
        return f" {outcome.query} (similarity: cosine of the files' meanings, language set aside)"
    return ""


class MainWindow(QMainWindow):
    firstPainted = Signal()
    resultsShown = Signal(object)  # SearchOutcome, once shown
    resultsReranked = Signal(object)  # SearchOutcome, once shown in the reranker's order
    launched = Signal(object)  # LaunchOutcome, once said

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.shown: SearchOutcome | None = None
        self._painted = False
        self.model_state = "loading"  # as last reported by the engine
        self.setWindowTitle("Findling")
        self.resize(1240, 780)

        # header: search field, model status, settings
        self.search_field = QLineEdit()
        self.search_field.setPlaceholderText("Search your files by meaning…  (Enter: open · Ctrl+Enter: "
                                             "show in folder · Ctrl+C: copy path · Esc: clear)")
        self.search_field.setClearButtonEnabled(True)
        self.search_field.setMinimumHeight(36)
        font = self.search_field.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.search_field.setFont(font)
        self.model_status = QLabel("Loading the model…")
        self.model_status.setStyleSheet("color:gray")
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings")
        self.settings_button.clicked.connect(self.open_settings)
        header = QHBoxLayout()
        header.addWidget(self.search_field, 1)
        header.addWidget(self.model_status)
        header.addWidget(self.settings_button)
        self.banner = QWidget()  # the one place a warning is shown: until closed or replaced
        self.banner.setObjectName("banner")
        self.banner.setStyleSheet("#banner { background:#fff3e0; } QLabel { color:#6d3a00; }")
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner_close = QToolButton()
        self.banner_close.setText("✕")
        self.banner_close.setAutoRaise(True)
        self.banner_close.setToolTip("Close this message")
        self.banner_close.clicked.connect(lambda: self.show_banner(""))
        banner_row = QHBoxLayout(self.banner)
        banner_row.setContentsMargins(12, 6, 6, 6)
        banner_row.addWidget(self.banner_text, 1)
        banner_row.addWidget(self.banner_close, 0, Qt.AlignmentFlag.AlignTop)
        self.banner.hide()
        self.reindex_offer = QWidget()
        self.reindex_offer.setStyleSheet("background:#e8f0fe")
        self.reindex_text = QLabel()
        self.reindex_text.setWordWrap(True)
        self.reindex_button = QPushButton("Re-embed now")
        self.reindex_button.clicked.connect(self.start_reindex)
        offer_layout = QHBoxLayout(self.reindex_offer)
        offer_layout.setContentsMargins(12, 4, 12, 4)
        offer_layout.addWidget(self.reindex_text, 1)
        offer_layout.addWidget(self.reindex_button)
        self.reindex_offer.hide()
        self._offer = None

        # results
        self.results_model = ResultsModel(self)
        self.results_view = QListView()
        self.results_view.setModel(self.results_model)
        self.results_view.setItemDelegate(ResultDelegate(self.results_view))
        self.results_view.setResizeMode(QListView.ResizeMode.Adjust)
        self.results_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results_view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.results_view.activated.connect(self._activated)
        self.results_view.clicked.connect(self._clicked)
        self.results_view.selectionModel().currentChanged.connect(self._current_changed)
        self.results_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.results_view.customContextMenuRequested.connect(self._result_menu)
        self.results_message = QLabel()
        self.results_message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.results_message.setWordWrap(True)
        self.results_message.setStyleSheet("color:palette(mid); font-size:15px; padding:24px")
        self.results_stack = QStackedWidget()
        self.results_stack.addWidget(self.results_message)
        self.results_stack.addWidget(self.results_view)
        self.count = QLabel()
        self.count.setStyleSheet("color:gray")
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.results_header = QLabel()  # a filter-only listing's line
        self.results_header.setWordWrap(True)
        self.results_header.setStyleSheet("padding:2px 4px; font-weight:600")
        self.results_header.hide()
        self.results_ignored = QLabel()  # the filters that could not be read, and why
        self.results_ignored.setWordWrap(True)
        self.results_ignored.setStyleSheet("padding:2px 4px; color:#b00020")
        self.results_ignored.hide()
        left_layout.addWidget(self.results_header)
        left_layout.addWidget(self.results_ignored)
        left_layout.addWidget(self.results_stack, 1)
        left_layout.addWidget(self.count)

        # tabs
        self.preview = PreviewPane(data_dir=engine.data_path)
        self._show_index_kind(engine.config)
        self.similarity = SimilarityView()
        self.index_panel = IndexPanel(engine)
        self.duplicates = DuplicatesView(engine)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.preview, "Preview")
        self.tabs.addTab(self.similarity, "Similarity")
        self.tabs.addTab(self.index_panel, "Index")
        self.tabs.addTab(self.duplicates, "Duplicates")
        splitter = QSplitter()
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 6)
        splitter.setSizes([520, 700])

        search_page = QWidget()
        page_layout = QVBoxLayout(search_page)
        page_layout.setContentsMargins(10, 10, 10, 4)
        page_layout.addLayout(header)
        page_layout.addWidget(splitter, 1)
        self.welcome = WelcomePage()
        self.welcome.startRequested.connect(self.start_indexing)
        self.pages = QStackedWidget()
        self.pages.addWidget(self.welcome)
        self.pages.addWidget(search_page)
        self.search_page = search_page
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(self.reindex_offer)
        central_layout.addWidget(self.pages, 1)
        self.setCentralWidget(central)
        searchable = engine.config.roots or engine.shared
        self.pages.setCurrentWidget(self.search_page if searchable else self.welcome)

        # status bar: indexing at a glance
        self.index_status = QLabel()
        self.index_bar = QProgressBar()
        self.index_bar.setMaximumWidth(160)
        self.index_bar.setMaximumHeight(14)
        self.index_bar.setTextVisible(False)
        self.statusBar().addPermanentWidget(self.index_status)
        self.statusBar().addPermanentWidget(self.index_bar)

        self.launcher = Launcher(self)
        self.launcher.done.connect(self.show_launch)
        self.box = SearchBox(self.search_field, engine, DEBOUNCE_MS, parent=self)
        self.box.cleared.connect(self._cleared)
        self.box.waiting.connect(lambda: self.show_results_message(
            "Loading the model… your search runs as soon as it is ready."))
        self.search_field.installEventFilter(self)
        self.results_view.installEventFilter(self)
        QShortcut(QKeySequence("Ctrl+L"), self, self.focus_search)
        QShortcut(QKeySequence("Ctrl+,"), self, self.open_settings)
        QShortcut(QKeySequence("Ctrl+M"), self, self.find_similar_current)

        engine.searchFinished.connect(self.show_outcome)
        engine.similarityReady.connect(self.show_similarity)
        engine.resultsRefined.connect(self.show_refined)
        engine.resultsReranked.connect(self.show_reranked)
        engine.modelStatus.connect(self.show_model_status)
        engine.reindexOffered.connect(self.show_reindex_offer)
        engine.progress.connect(self.show_progress)
        engine.message.connect(self.show_message)
        engine.indexChanged.connect(self._index_changed)
        engine.configChanged.connect(self._config_changed)
        self.show_empty_state()
        self.show_progress(engine.last_progress)

    # -- painting ------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        super().paintEvent(event)
        if not self._painted:
            self._painted = True
            self.firstPainted.emit()

    # -- search --------------------------------------------------------------------------------------
    def focus_search(self) -> None:
        self.search_field.setFocus()
        self.search_field.selectAll()

    @property
    def generation(self) -> int:
        """The engine generation of the newest search asked for."""
        return self.box.generation

    @property
    def debounce(self):  # noqa: ANN201 - QTimer
        return self.box.debounce

    def run_search(self) -> None:
        """Search for the field's text now (Enter, or the debounce timer)."""
        self.box.search_now()

    def clear_search(self) -> None:
        self.box.clear()

    def _cleared(self) -> None:
        self.shown = None
        self.results_header.hide()
        self.results_ignored.hide()
        self.results_model.clear()
        self.preview.show_message("Select a result to preview it.")
        self.similarity.clear()
        self.count.clear()
        self.show_empty_state()

    def show_empty_state(self) -> None:
        if self.engine.model_state == "error":
            self.show_results_message("Search is unavailable: no embedding model could be loaded. "
                                      "See Settings.")
        elif self.engine.shared:
            self.show_results_message(f"Type to search the shared index {shown_uri(self.engine.config)}.")
        elif not self.engine.config.roots:
            self.show_results_message("No folders are indexed yet. Add one in the Index tab.")
        else:
            self.show_results_message("Type to search your files by meaning.")

    def show_results_message(self, text: str) -> None:
        self.results_message.setText(text)
        self.results_stack.setCurrentWidget(self.results_message)

    def show_outcome(self, outcome: SearchOutcome) -> None:
        if not self.box.accepts(outcome.generation):
            return  # an answer to a query the user has moved on from
        if outcome.kind == "consent" and self.ask_to_share(outcome.message):
            return  # searched again once agreed
        self.shown = outcome
        self.results_model.set_results(outcome.results, outcome.query)
        self.similarity.clear()
        for label, text in ((self.results_header, outcome.header), (self.results_ignored, outcome.ignored)):
            label.setText(text)
            label.setVisible(bool(text))
        if outcome.kind != "ok":
            self.count.clear()
            self.preview.show_message("")
            self.show_results_message(outcome.message)
        else:
            self.results_stack.setCurrentWidget(self.results_view)
            if self.tabs.currentWidget() is self.index_panel:
                self.tabs.setCurrentWidget(self.preview)  # a new search shows its results' preview
            n = len(outcome.results)
            plain = similar_note(outcome) or outcome.header  # more like this, or a listing: no relevance
            counted = (f"{n} file{'s' if n != 1 else ''}{similar_note(outcome)}" if plain
                       else match_count(self.results_model))
            self.count.setText(f"{counted} · {outcome.seconds * 1000:.0f} ms")
            self.results_view.setCurrentIndex(self.results_model.index(self.results_model.first_row()))
        self.resultsShown.emit(outcome)

    def show_reranked(self, generation: int, results: list) -> None:
        """The cross-encoder's order, a moment after the results: the selected file stays selected."""
        if not self.box.accepts(generation) or self.shown is None:
            return
        current = self.current_result()
        self.shown = dataclasses.replace(self.shown, results=results)
        self.results_model.set_results(results, self.shown.query)
        row = self.results_model.row_of(current.path) if current is not None else None
        self.results_view.setCurrentIndex(self.results_model.index(
            self.results_model.first_row() if row is None else row))
        self.count.setText(f"{match_count(self.results_model)} · reranked")
        self.resultsReranked.emit(self.shown)

    def show_refined(self, generation: int, refined: list) -> None:
        if self.box.accepts(generation) and self.shown is not None:
            self.results_model.refine(refined)

    def show_similarity(self, generation: int, similarity: object) -> None:
        if self.box.accepts(generation) and self.shown is not None:
            self.similarity.set_similarity(self.shown.query, self.shown.results, similarity)

    def _index_changed(self) -> None:
        """New files may answer a search that found nothing: ask again."""
        text = self.search_field.text().strip()
        if text and self.shown is not None and self.shown.kind in ("no-results", "empty-index"):
            self.run_search()

    def _config_changed(self, config: Config) -> None:
        """Folders added elsewhere (the Index tab, `findling roots add`) or a shared index chosen: the
        Welcome page gives way."""
        shared = self._show_index_kind(config)
        if shared and self.shown is None:
            self.show_empty_state()
        if (config.roots or shared) and self.pages.currentWidget() is self.welcome:
            self.pages.setCurrentWidget(self.search_page)
            if self.shown is None:
                self.show_empty_state()

    def _show_index_kind(self, config: Config) -> bool:
        """Local or shared: the preview reads OCR boxes from the local index only, and says where a
        shared index's files should be mounted. True on a shared index."""
        shared = is_shared(config)
        self.preview.data_dir = None if shared else self.engine.data_path
        self.preview.missing_hint = MOUNT_HINT if shared else ""
        return shared

    def ask_to_share(self, text: str) -> bool:
        """A search reached a Milvus server the user has not agreed to: ask once (the CLI's words);
        agreed, it is kept and the search runs again. False when declined."""
        if not ask_consent(self, text):
            return False
        self.engine.agree_to_share(shown_uri(self.engine.config))
        self.box.search_now()
        return True

    # -- the selected result ---------------------------------------------------------------------------
    def current_result(self):  # noqa: ANN201 - FileResult | None
        return self.results_model.result(self.results_view.currentIndex().row())

    def _current_changed(self, current: object, previous: object) -> None:
        result = self.current_result()
        if result is not None:
            self.preview.show_result(result, self.results_model.query)

    def move_selection(self, key: Qt.Key) -> None:
        rows = self.results_model.rowCount()
        if not rows:
            return
        row = self.results_view.currentIndex().row()
        step = {Qt.Key.Key_Down: 1, Qt.Key.Key_Up: -1, Qt.Key.Key_PageDown: 5, Qt.Key.Key_PageUp: -5}[key]
        row = max(0, min(rows - 1, (row if row >= 0 else -1) + step))
        index = self.results_model.index(row)
        self.results_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.results_view.scrollTo(index)

    def _activated(self, index: QModelIndex) -> None:
        """Enter or a double click: open the result, or unfold / fold the weaker matches."""
        if self.results_model.is_fold(index.row()):
            self.results_model.toggle()
        else:
            self.open_current()

    def _clicked(self, index: QModelIndex) -> None:
        if self.results_model.is_fold(index.row()):
            self.results_model.toggle()

    def open_current(self) -> None:
        if self.results_model.is_fold(self.results_view.currentIndex().row()):
            self.results_model.toggle()
            return
        result = self.current_result()
        if result is not None:
            self.launcher.open(result.path, result.page)
            self.engine.prioritize(result.path)  # embedded next, if it is not yet

    def reveal_current(self) -> None:
        result = self.current_result()
        if result is not None:
            self.launcher.reveal(result.path)

    def show_launch(self, outcome: LaunchOutcome) -> None:
        """"Opening …" once the launcher succeeded; else the error, with the path on the clipboard."""
        if outcome.ok:
            self.statusBar().showMessage(outcome.success_text(), 4000)
        else:
            copy_failed_path(outcome)
            self.show_message(outcome.failure_text(), True)
        self.launched.emit(outcome)

    def find_similar_current(self) -> None:
        """More like this: the files most similar to the selected one, shown as the results."""
        result = self.current_result()
        if result is None:
            return
        refused = refusal(self.engine.config, "similar")
        if refused:  # said above the results, which stay
            self.show_message(refused, True)
            return
        self.box.debounce.stop()  # a pending keystroke search must not replace the answer
        self.box.generation = self.engine.find_similar(result.path)
        self.statusBar().showMessage(f"Finding files like {result.path}…", 4000)

    def _result_menu(self, position) -> None:  # noqa: ANN001 - a QPoint
        index = self.results_view.indexAt(position)
        if not index.isValid():
            return
        self.results_view.setCurrentIndex(index)
        menu = QMenu(self)
        menu.addAction("Open", self.open_current)
        menu.addAction("Show in folder", self.reveal_current)
        menu.addAction("Copy path", self.copy_current)
        menu.addSeparator()
        similar = menu.addAction("Find similar files\tCtrl+M", self.find_similar_current)
        similar.setEnabled(not self.engine.shared)  # it needs the writer's file vectors
        menu.exec(self.results_view.viewport().mapToGlobal(position))

    def copy_current(self) -> None:
        result = self.current_result()
        if result is not None:
            actions.copy_path(result.path)
            self.statusBar().showMessage(f"Copied {result.path}", 4000)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() != QEvent.Type.KeyPress or watched not in (self.search_field, self.results_view):
            return super().eventFilter(watched, event)
        return self.handle_key(watched, event)

    def handle_key(self, watched: QObject, event: QKeyEvent) -> bool:
        """The keyboard map shared by the search field and the result list; True when handled."""
        key, modifiers = event.key(), event.modifiers()
        ctrl = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
        in_field = watched is self.search_field
        if key in ENTER_KEYS and ctrl:
            self.reveal_current()
            return True
        if key in ENTER_KEYS:
            if in_field and self.box.needs_search(self.shown):
                self.run_search()
            else:
                self.open_current()
            return True
        if key == Qt.Key.Key_Escape:
            self.search_field.clear()
            self.search_field.setFocus()
            return True
        if key == Qt.Key.Key_C and ctrl and not (in_field and self.search_field.hasSelectedText()):
            self.copy_current()
            return True
        if in_field and key in NAVIGATION_KEYS:
            self.move_selection(key)
            return True
        return False

    # -- engine status -------------------------------------------------------------------------------
    def show_model_status(self, state: str, text: str) -> None:
        self.model_state = state
        self.model_status.setText(text)
        self.model_status.setStyleSheet(f"color:{'#b00020' if state == 'error' else 'gray'}")
        if state == "error":
            self.show_banner(text)
            if self.shown is None:
                self.show_empty_state()
        elif state == "ready" and self.shown is None and not self.search_field.text().strip():
            self.show_empty_state()

    def show_reindex_offer(self, offer: object) -> None:
        """One line offering to re-embed the index with the configured model (None hides it)."""
        self._offer = offer
        if offer is None:
            self.reindex_offer.hide()
            return
        self.reindex_text.setText(offer.summary)
        self.reindex_text.setToolTip(f"The same as `{offer.command}` in a terminal.")
        self.reindex_offer.show()

    def start_reindex(self) -> None:
        if self._offer is not None:
            self.engine.reindex(self._offer.wanted)

    def show_progress(self, progress: IndexProgress) -> None:
        if progress.state == "idle" and self.shown is None and not self.search_field.text().strip():
            self.show_empty_state()  # "Indexing has started" no longer holds
        self.index_status.setText(progress_text(progress))
        show_on_bar(self.index_bar, progress)
        self.index_bar.setVisible(progress.state not in ("off", "shared"))

    def show_message(self, text: str, is_error: bool) -> None:
        """Each message in one place, once: a warning in the banner, news in the status bar."""
        if is_error or "bundled" in text:
            self.show_banner(text)
        else:
            self.statusBar().showMessage(text, 15000)

    def show_banner(self, text: str) -> None:
        self.banner_text.setText(text)
        self.banner.setVisible(bool(text))

    # -- first run and settings ----------------------------------------------------------------------
    def start_indexing(self, folders: list[str]) -> None:
        self.engine.set_roots(folders)
        self.pages.setCurrentWidget(self.search_page)
        self.tabs.setCurrentWidget(self.index_panel)
        self.show_results_message("Indexing has started: you can search while it runs.")
        self.focus_search()

    def open_settings(self) -> None:
        dialog = SettingsDialog(self.engine.config, self.engine.backend, self, self.engine.data_path)
        if dialog.exec():
            config, backend = dialog.values()
            self.engine.apply_settings(config, backend)
            try:
                dialog.apply_start_at_login()
            except OSError as exc:
                self.show_message(f"Start at login could not be changed: {exc}", True)
