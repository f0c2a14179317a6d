"""The Duplicates tab: groups of copies and near-copies, largest waste first, to open or reveal.

The app never deletes: it lists each group (exact copies, or near-copies with their lowest
similarity) with its files, sizes and dates; double-click or Enter opens a file, and the
context menu opens, reveals or copies its path.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop import actions
from desktop.shared_index import refusal

if TYPE_CHECKING:
    from desktop.engine import Engine
    from indexer.config import Config
    from indexer.similar.duplicates import DuplicateGroup, Duplicates

PathRole = Qt.ItemDataRole.UserRole + 1


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{int(n)} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def percent(value: float) -> str:
    """99.8 %, not a rounded 100 %: near-copies sit close to 1."""
    return f"{value:.1%}" if value < 0.9995 else "100%"


def group_title(group: DuplicateGroup) -> str:
    what = "exact copies" if group.kind == "exact" else f"near-copies, {percent(group.similarity)} similar"
    return f"{len(group.files)} files · {what} · {human_size(group.wasted_bytes)} wasted"


INTRO = "Copies and near-copies of your files: the app only lists them, it never deletes anything."


class DuplicatesView(QWidget):
    def __init__(self, engine: Engine, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self.find_button = QPushButton("Find duplicates")
        self.find_button.clicked.connect(self.find)
        self.summary = QLabel(INTRO)
        self.summary.setWordWrap(True)
        self.summary.setStyleSheet("color:gray")
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["File", "Size", "Modified"])
        self.tree.setColumnWidth(0, 440)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._menu)
        self.tree.itemActivated.connect(lambda item, _column: self._open(item))
        top = QHBoxLayout()
        top.addWidget(self.find_button)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        engine.duplicatesFound.connect(self.show_duplicates)
        engine.configChanged.connect(self.show_config)
        self.show_config(engine.config)

    def show_config(self, config: Config) -> None:
        """On a shared index duplicates cannot be found here (the CLI's message says why)."""
        refused = refusal(config, "duplicates")
        self.find_button.setEnabled(not refused)
        if refused:
            self.tree.clear()
            self.summary.setText(refused)
        elif self.summary.text().startswith("`findling duplicates`"):
            self.summary.setText(INTRO)

    def find(self) -> None:
        self.find_button.setEnabled(False)
        self.summary.setText("Looking for copies and near-copies…")
        self.engine.find_duplicates()

    def show_duplicates(self, found: Duplicates | str) -> None:
        self.find_button.setEnabled(True)
        self.tree.clear()
        if isinstance(found, str):
            self.summary.setText(found)
            return
        wasted = sum(g.wasted_bytes for g in found.groups)
        n = len(found.groups)
        text = (f"{n} group{'s' if n != 1 else ''}, {human_size(wasted)} in extra copies."
                if found.groups else "No duplicates found.")
        if found.not_compared:
            text += f" {found.not_compared} files are not embedded yet: compared as exact copies only."
        self.summary.setText(text + " Nothing is deleted by the app.")
        for group in found.groups:
            parent = QTreeWidgetItem([group_title(group), "", ""])
            parent.setFirstColumnSpanned(True)
            self.tree.addTopLevelItem(parent)
            for item in group.files:
                child = QTreeWidgetItem([item.path, human_size(item.size),
                                         time.strftime("%Y-%m-%d %H:%M", time.localtime(item.mtime))])
                child.setData(0, PathRole, item.path)
                child.setToolTip(0, item.path)
                parent.addChild(child)
            parent.setExpanded(True)

    def _open(self, item: QTreeWidgetItem) -> None:
        path = item.data(0, PathRole)
        if path:
            actions.open_file(path)

    def _menu(self, position) -> None:  # noqa: ANN001 - a QPoint
        item = self.tree.itemAt(position)
        path = item.data(0, PathRole) if item is not None else None
        if not path:
            return
        menu = QMenu(self)
        menu.addAction("Open", lambda: actions.open_file(path))
        menu.addAction("Show in folder", lambda: actions.reveal_in_folder(path))
        menu.addAction("Copy path", lambda: actions.copy_path(path))
        menu.exec(self.tree.viewport().mapToGlobal(position))
