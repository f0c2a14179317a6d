"""A broken config.toml, told before any window: open it, reset it, try again, or quit."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget

from indexer.config import Config, ConfigError, reset


class ConfigProblemDialog(QMessageBox):
    """Shows a ConfigError; `resolve()` is True once the settings load (fixed or reset)."""

    def __init__(self, error: ConfigError, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir
        self.setWindowTitle("Findling cannot read its settings")
        self.setIcon(QMessageBox.Icon.Warning)
        self.open_button = self.addButton("Open the file", QMessageBox.ButtonRole.ActionRole)
        self.reset_button = self.addButton("Reset", QMessageBox.ButtonRole.DestructiveRole)
        self.retry_button = self.addButton("Try again", QMessageBox.ButtonRole.AcceptRole)
        self.quit_button = self.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
        self.reset_button.setToolTip("Default settings; the old file is kept as a backup, and its folders "
                                     "and excludes where it can be read.")
        self.show_error(error)

    def show_error(self, error: ConfigError) -> None:
        self.error = error
        where = f"{error.path}, line {error.line}" if error.line else str(error.path)
        self.setText(f"Error in {where}:\n{error.problem}")
        self.setInformativeText("Open the file to fix it, then Try again; or Reset to start from the default "
                                "settings (the old file is kept as a backup, and your folders and excludes "
                                "where it can be read).")

    def resolve(self) -> bool:
        """Ask until the settings load or the user quits."""
        while True:
            self.exec()
            clicked = self.clickedButton()
            if clicked is self.quit_button or clicked is None:
                return False
            if clicked is self.open_button:
                QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.error.path)))
                continue
            if clicked is self.reset_button:
                backup, _ = reset(self.data_dir)
                if backup is not None:
                    print(f"findling-desktop: the old settings are kept in {backup}")
                return True
            try:  # Try again: the user may have fixed the file
                Config.load(self.data_dir)
                return True
            except ConfigError as exc:
                self.show_error(exc)
