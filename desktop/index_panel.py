"""The index panel: watched folders, excludes, live progress with pause and resume, and failed files.

On a shared index (config `store`) it is read only: it names the store (without its password) and
says what it holds; folders, excludes, pause and the local lists are hidden (the writer indexes).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.engine import Engine, IndexProgress, IndexStats
from desktop.shared_index import READ_ONLY, SharedState, is_shared, shown_uri
from indexer.config import DEFAULT_EXCLUDES, Config
from indexer.store.stats import vector_line

STATE_TEXT = {
    "off": "No folders to index yet.",
    "starting": "Starting…",
    "reconciling": "Scanning and indexing",
    "running": "Indexing",
    "reindexing": "Re-embedding (search keeps the old model until it is done)",
    "paused": "Paused",
    "idle": "Up to date; watching for changes.",
    "stopped": "Stopped.",
    "busy": "Another Findling process is indexing this index.",
    "shared": "Searching a shared index (read only): this app does not index.",
}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"about {max(1, round(seconds))} s left"
    if seconds < 3600:
        return f"about {round(seconds / 60)} min left"
    return f"about {seconds / 3600:.1f} h left"


def progress_text(progress: IndexProgress) -> str:
    """One line for the status bar and the panel, e.g. `Scanning and indexing: 120 / 2,000 files`."""
    text = STATE_TEXT.get(progress.state, progress.state)
    if progress.state == "paused" and progress.pause_reason:
        text = f"Paused: {progress.pause_reason}"
    if progress.embedding_behind:
        return "Embedding passages behind the text (keyword search already works)…"
    if progress.working and progress.total:
        if progress.state == "reindexing" and progress.current:
            text = f"Re-embedding with {progress.current} (search keeps the old model until it is done)"
        elif progress.unit == "passages":
            text = "Embedding passages (keyword search already works)"
        elif progress.unit == "images":
            text = "Reading text in images and scans (OCR)"
        text += f": {progress.done:,} / {progress.total:,} {progress.unit}"
        eta = format_eta(progress.eta_seconds)
        if eta:
            text += f" · {eta}"
    elif progress.working and progress.current:
        text += f": {progress.current}"
    return text


def show_on_bar(bar: QProgressBar, progress: IndexProgress) -> None:
    """Done of total while the total is known, busy while working without one, full when idle."""
    if progress.working and progress.total and not progress.embedding_behind:
        bar.setRange(0, progress.total)
        bar.setValue(progress.done)
    elif progress.working:
        bar.setRange(0, 0)  # busy, total unknown yet
    else:
        bar.setRange(0, 1)
        bar.setValue(1 if progress.state == "idle" else 0)


class IndexPanel(QWidget):
    """Drives the engine's roots, excludes and pause; shows what the engine reports."""

    folderChosen = Signal(str)

    def __init__(self, engine: Engine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine

        self.roots = QListWidget()
        self.roots.setMaximumHeight(110)
        self.add_button = QPushButton("Add folder…")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Stop indexing the selected folder and remove its files from the index")
        self.add_button.clicked.connect(self.choose_folder)
        self.remove_button.clicked.connect(self.remove_selected)
        folder_buttons = QVBoxLayout()
        folder_buttons.addWidget(self.add_button)
        folder_buttons.addWidget(self.remove_button)
        folder_buttons.addStretch(1)
        folders_row = QHBoxLayout()
        folders_row.addWidget(self.roots, 1)
        folders_row.addLayout(folder_buttons)
        folders = QGroupBox("Watched folders")
        folders.setLayout(folders_row)

        self.state = QLabel(STATE_TEXT["off"])
        self.state.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.current = QLabel()
        self.current.setStyleSheet("color:gray")
        self.current.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.current.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stats = QLabel()
        self.vectors = QLabel()  # the vector index: exact or compressed, its memory and recall
        self.vectors.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        state_row = QHBoxLayout()
        state_row.addWidget(self.state, 1)
        state_row.addWidget(self.pause_button)
        progress_box = QVBoxLayout()
        progress_box.addLayout(state_row)
        progress_box.addWidget(self.bar)
        progress_box.addWidget(self.current)
        progress_box.addWidget(self.stats)
        progress_box.addWidget(self.vectors)
        progress = QGroupBox("Progress")
        progress.setLayout(progress_box)

        self.failed = file_list()
        failed_box = QVBoxLayout()
        failed_box.addWidget(self.failed)
        self.failed_group = QGroupBox("Files that could not be indexed")
        self.failed_group.setLayout(failed_box)
        self.skipped = file_list()
        skipped_box = QVBoxLayout()
        skipped_box.addWidget(self.skipped)
        self.skipped_group = QGroupBox("Skipped files (found by their name only)")
        self.skipped_group.setLayout(skipped_box)

        self.excludes = QPlainTextEdit()
        self.excludes.setPlaceholderText("One gitignore-style pattern a line, e.g. *.log or build/")
        self.excludes.setMaximumHeight(70)
        self.apply_excludes = QPushButton("Apply")
        self.apply_excludes.clicked.connect(self.save_excludes)
        defaults = QLabel(f"Always excluded ({len(DEFAULT_EXCLUDES)} patterns): "
                          + "  ".join(DEFAULT_EXCLUDES))
        defaults.setWordWrap(True)
        defaults.setStyleSheet("color:gray; font-size:11px")
        defaults.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        excludes_row = QHBoxLayout()
        excludes_row.addWidget(self.excludes, 1)
        excludes_row.addWidget(self.apply_excludes, 0, Qt.AlignmentFlag.AlignTop)
        excludes_box = QVBoxLayout()
        excludes_box.addLayout(excludes_row)
        excludes_box.addWidget(defaults)
        excludes = QGroupBox("Excludes")
        excludes.setLayout(excludes_box)

        self.unavailable = QLabel()
        self.unavailable.setWordWrap(True)
        self.unavailable.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.unavailable.setStyleSheet("color:#8a4b00")
        self.unavailable.hide()

        self.shared_uri = QLabel()
        self.shared_uri.setWordWrap(True)
        self.shared_uri.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.shared_stats = QLabel("Reading the shared index…")
        self.shared_stats.setWordWrap(True)
        self.shared_stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.shared_problem = QLabel()
        self.shared_problem.setWordWrap(True)
        self.shared_problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.shared_problem.setStyleSheet("color:#b00020")
        self.shared_problem.hide()
        read_only = QLabel(f"{READ_ONLY} To search this computer's own index again, empty "
                           "“Search a shared index” in Settings.")
        read_only.setWordWrap(True)
        read_only.setStyleSheet("color:gray")
        shared_box = QVBoxLayout()
        shared_box.addWidget(self.shared_uri)
        shared_box.addWidget(self.shared_stats)
        shared_box.addWidget(self.shared_problem)
        shared_box.addWidget(read_only)
        self.shared_group = QGroupBox("Shared index (read only)")
        self.shared_group.setLayout(shared_box)
        self.local_parts = [folders, progress, self.failed_group, self.skipped_group, excludes]

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.shared_group)
        layout.addWidget(folders)
        layout.addWidget(progress)
        layout.addWidget(self.unavailable)
        layout.addWidget(self.failed_group, 1)
        layout.addWidget(self.skipped_group, 1)
        layout.addWidget(excludes)
        layout.addStretch(0)  # takes the room only when the lists are hidden (a shared index)

        engine.progress.connect(self.show_progress)
        engine.statsChanged.connect(self.show_stats)
        engine.configChanged.connect(self.show_config)
        engine.pausedChanged.connect(self.show_paused)
        engine.sharedState.connect(self.show_shared)
        self.show_config(engine.config)
        self.show_progress(engine.last_progress)

    # -- actions -------------------------------------------------------------------------------------
    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder to index")
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        self.folderChosen.emit(folder)
        self.engine.add_root(folder)

    def remove_selected(self) -> None:
        item = self.roots.currentItem()
        if item is not None:
            self.engine.remove_root(item.text())

    def toggle_pause(self) -> None:
        self.engine.toggle_pause()

    def show_paused(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")

    def save_excludes(self) -> None:
        patterns = [line.strip() for line in self.excludes.toPlainText().splitlines() if line.strip()]
        self.engine.set_excludes(patterns)

    def showEvent(self, event: QShowEvent) -> None:
        """A shared index changes on the writer's machine: read what it holds whenever it is looked at."""
        super().showEvent(event)
        if self.engine.shared and self.engine.started:
            self.engine.refresh_stats()

    # -- engine → panel ------------------------------------------------------------------------------
    def show_config(self, config: Config) -> None:
        shared = is_shared(config)
        self.shared_group.setVisible(shared)
        for part in self.local_parts:
            part.setVisible(not shared)
        self.unavailable.setVisible(not shared and bool(self.unavailable.text()))
        for button in (self.add_button, self.remove_button, self.apply_excludes, self.pause_button):
            button.setEnabled(not shared)  # hidden too; disabled for the keyboard and the tests
        if shared:
            self.shared_uri.setText(f"Searching {shown_uri(config)}")
            return
        self.roots.clear()
        self.roots.addItems(config.roots)
        if not self.excludes.hasFocus():
            self.excludes.setPlainText("\n".join(config.excludes))
        self.remove_button.setEnabled(bool(config.roots))

    def show_progress(self, progress: IndexProgress) -> None:
        self.state.setText(progress_text(progress))
        show_on_bar(self.bar, progress)
        current = progress.current if progress.working and progress.current else ""
        self.current.setText(self.current.fontMetrics().elidedText(
            current, Qt.TextElideMode.ElideMiddle, max(200, self.current.width())))
        self.current.setToolTip(current)
        self.pause_button.setEnabled(progress.state not in ("off", "stopped", "busy", "shared"))

    def show_shared(self, state: SharedState) -> None:
        """What the shared index holds (passages, files, model), or why it cannot be read now."""
        self.shared_uri.setText(f"Searching {state.shown}")
        if state.problem:
            self.shared_stats.setText("")
            self.shared_problem.setText(state.problem)
        else:
            self.shared_stats.setText(f"{state.passages:,} passages · {state.files:,} files · "
                                      f"model {state.model}")
            self.shared_problem.setText("")
        self.shared_stats.setVisible(not state.problem)
        self.shared_problem.setVisible(bool(state.problem))

    def show_stats(self, stats: IndexStats) -> None:
        self.stats.setText(f"{stats.indexed:,} files indexed · {stats.skipped:,} skipped · "
                           f"{stats.errors:,} could not be read · {stats.chunks:,} passages")
        self.vectors.setText(f"Vectors: {vector_line(stats.vector_index)}")
        fill(self.failed, stats.failed)
        self.failed_group.setTitle(f"Files that could not be indexed ({len(stats.failed)})")
        fill(self.skipped, stats.skipped_files)
        self.skipped_group.setTitle(f"Skipped files, found by their name only ({len(stats.skipped_files)})")
        self.unavailable.setText(unavailable_text(stats.unavailable))
        self.unavailable.setVisible(bool(stats.unavailable))


def file_list() -> QTreeWidget:
    """A two-column list of files and why (failed or skipped files)."""
    tree = QTreeWidget()
    tree.setHeaderLabels(["File", "Reason"])
    tree.setRootIsDecorated(False)
    tree.setUniformRowHeights(True)
    tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
    tree.header().setStretchLastSection(True)
    tree.setColumnWidth(0, 260)
    return tree


def fill(tree: QTreeWidget, files: list[tuple[str, str | None]]) -> None:
    tree.clear()
    for path, why in files:
        reason = why or ""
        item = QTreeWidgetItem([path, reason])
        item.setToolTip(0, path)
        item.setToolTip(1, reason)
        tree.addTopLevelItem(item)


def unavailable_text(unavailable: list[tuple[str, str]]) -> str:
    """Folders out of reach, for the Index panel: their files stay in the index until they return."""
    if not unavailable:
        return ""
    lines = [f"• {path}: {reason}" for path, reason in unavailable]
    return ("Out of reach (their files stay in the index and are still found; they are updated when "
            "the folder is back, and removed only if you remove the folder):\n" + "\n".join(lines))
