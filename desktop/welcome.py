"""The first-run page: which folders to index, what is always left out, and a button to start."""

from __future__ import annotations

import os

from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from indexer.config import DEFAULT_EXCLUDES

SUGGESTED = (
    QStandardPaths.StandardLocation.DocumentsLocation,
    QStandardPaths.StandardLocation.DesktopLocation,
    QStandardPaths.StandardLocation.DownloadLocation,
)


def suggested_folders() -> list[str]:
    """Documents, Desktop and Downloads, those that exist (and are not the home folder itself)."""
    home = os.path.expanduser("~")
    found = []
    for location in SUGGESTED:
        path = QStandardPaths.writableLocation(location)
        if path and path != home and os.path.isdir(path) and path not in found:
            found.append(path)
    return found


class WelcomePage(QWidget):
    """Asks which folders to index; `startRequested` carries the chosen folders."""

    startRequested = Signal(list)

    def __init__(self, suggested: list[str] | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h1>Welcome to Findling</h1>")
        intro = QLabel(
            "Findling finds your files by what they mean, not just the words in them, and everything "
            "stays on this computer. Choose the folders to index; you can change them later in the "
            "Index tab.")
        intro.setWordWrap(True)
        self.checks: list[QCheckBox] = []
        self.folder_box = QVBoxLayout()
        self.none_found = QLabel("No Documents, Desktop or Downloads folder was found: add a folder.")
        self.folder_box.addWidget(self.none_found)
        for folder in suggested_folders() if suggested is None else suggested:
            self._add_check(folder)
        self.none_found.setVisible(not self.checks)
        add = QPushButton("Add another folder…")
        add.clicked.connect(self.choose_folder)
        excludes = QLabel("   ".join(DEFAULT_EXCLUDES))
        excludes.setWordWrap(True)
        excludes.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        excludes.setStyleSheet("font-family:monospace; color:#444; background:palette(base); padding:8px;"
                               "border:1px solid palette(mid); border-radius:4px")
        self.start = QPushButton("Start indexing")
        self.start.setDefault(True)
        self.start.setMinimumHeight(34)
        self.start.clicked.connect(self._start)
        self._update_start()

        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(title)
        column.addWidget(intro)
        column.addSpacing(10)
        column.addWidget(QLabel("<b>Folders to index</b>"))
        column.addLayout(self.folder_box)
        column.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
        column.addSpacing(10)
        left_out = QLabel("<b>Always left out</b>, in any folder — keys, keyrings, browser profiles, "
                          "credential files, shell histories, the trash, caches, version control and "
                          "temporary files (add your own patterns later in the Index tab):")
        left_out.setWordWrap(True)
        column.addWidget(left_out)
        column.addWidget(excludes)
        column.addSpacing(10)
        column.addWidget(self.start, 0, Qt.AlignmentFlag.AlignLeft)
        column.addStretch(2)
        holder = QWidget()
        holder.setMaximumWidth(720)
        holder.setLayout(column)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addWidget(holder, 3)
        outer.addStretch(1)

    def _add_check(self, folder: str, checked: bool = True) -> None:
        check = QCheckBox(folder.replace("&", "&&"))
        check.setProperty("path", folder)
        check.setChecked(checked)
        check.toggled.connect(self._update_start)
        self.checks.append(check)
        self.folder_box.addWidget(check)

    def chosen(self) -> list[str]:
        return [c.property("path") for c in self.checks if c.isChecked()]

    def add_folder(self, folder: str) -> None:
        if folder not in [c.property("path") for c in self.checks]:
            self._add_check(folder)
        self.none_found.setVisible(not self.checks)  # the page says what it holds now
        self._update_start()

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder to index")
        if folder:
            self.add_folder(folder)

    def _update_start(self) -> None:
        self.start.setEnabled(bool(self.chosen()))

    def _start(self) -> None:
        if self.chosen():
            self.startRequested.emit(self.chosen())
