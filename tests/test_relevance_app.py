"""The app's result list and quick box: weak matches folded under "N weaker matches", "No good
match" said, the relevance the CLI prints (bundled MiniLM, offscreen). Set FINDLING_SCREENSHOTS to
a folder to keep the grabs (docs/screenshots/ holds the ones made this way)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from app_helpers import app_window  # noqa: E402
from helpers import index_for_app  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from test_relevance import MINILM, write_notes  # noqa: E402

from desktop.engine import Engine  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402
from desktop.preview import TextPreview  # noqa: E402
from desktop.quick_search import QuickSearch  # noqa: E402
from desktop.results import relevance_text  # noqa: E402

WAIT = 60_000  # ms: the machine may be loaded


@pytest.fixture(scope="module")
def notes_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("relevance-app")
    index_for_app(write_notes(root / "notes"), root / "data", MINILM)
    return root / "data"


@pytest.fixture
def window(qtbot, notes_data: Path) -> Iterator[MainWindow]:  # noqa: ANN001
    with app_window(qtbot, notes_data, size=(1100, 720), wait=WAIT) as window:
        yield window


def search(qtbot, window: MainWindow, text: str):  # noqa: ANN001, ANN201
    with qtbot.waitSignal(window.resultsShown, timeout=WAIT, check_params_cb=lambda o: o.query == text):
        window.search_field.setText(text)
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    return window.results_model


def keep(widget, name: str) -> None:  # noqa: ANN001
    folder = os.environ.get("FINDLING_SCREENSHOTS")
    if folder:
        assert widget.grab().toImage().save(str(Path(folder) / name))


def test_weak_matches_fold_under_one_row_that_unfolds(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    model = search(qtbot, window, "what to take on a snowy mountain holiday")
    results = model.results
    good = [r for r in results if r.match == "good"]
    weak = [r for r in results if r.match == "weak"]
    assert good and weak and Path(good[0].path).name == "packing-list.md"
    assert model.rowCount() == len(good) + 1  # the good matches, then one row for the rest
    fold = len(good)
    assert model.is_fold(fold) and model.result(fold) is None
    assert model.index(fold).data().startswith(f"▸ {len(weak)} weaker match")
    assert "good match" in window.count.text() and "% = relevance" in window.count.text()
    card = model.index(0)
    assert relevance_text(model.result(0)) == f"{round(good[0].relevance * 100)}%"
    assert "weak" not in card.data(Qt.ItemDataRole.AccessibleTextRole).split(":")[0]
    qtbot.waitUntil(lambda: isinstance(window.preview.current, TextPreview), timeout=WAIT)
    keep(window, "weak-matches-folded.png")
    # the keyboard reaches the fold row; Enter unfolds it, and the weak results say "weak"
    for _ in range(fold):
        qtbot.keyClick(window.search_field, Qt.Key.Key_Down)
    assert window.results_view.currentIndex().row() == fold and window.current_result() is None
    qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    assert model.expanded and model.rowCount() == len(results) + 1
    assert [model.result(r).path for r in range(fold + 1, model.rowCount())] == [r.path for r in weak]
    assert all(relevance_text(r).startswith("weak ") for r in weak)
    assert model.index(fold).data().startswith("▾")
    keep(window, "weak-matches-unfolded.png")
    qtbot.keyClick(window.search_field, Qt.Key.Key_Return)  # and folds again
    assert not model.expanded and model.rowCount() == len(good) + 1


def test_a_query_with_no_good_match_says_so(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    model = search(qtbot, window, "xylophone quantum giraffe")
    assert model.results and model.good_count == 0
    assert model.rowCount() == 1
    text = model.index(0).data()
    assert text.startswith("No good match for “xylophone quantum giraffe”.\n▸")
    assert f"{len(model.results)} weaker matches" in text
    assert window.count.text().startswith("0 good matches")
    keep(window, "no-good-match.png")
    window.results_view.clicked.emit(model.index(0))  # a click shows the closest files
    assert model.rowCount() == len(model.results) + 1 and model.result(1) is not None


def test_quick_box_folds_weak_matches_too(qtbot, notes_data: Path) -> None:  # noqa: ANN001
    engine = Engine(notes_data, None, watcher_options={"debounce": 0.05, "low_priority": False})
    quick = QuickSearch(engine)
    qtbot.addWidget(quick)
    engine.start()
    try:
        qtbot.waitUntil(lambda: engine.model_state != "loading", timeout=WAIT)
        quick.summon()
        with qtbot.waitSignal(quick.resultsShown, timeout=WAIT,
                              check_params_cb=lambda o: o.query == "plumber bill"):
            quick.field.setText("plumber bill")
            qtbot.keyClick(quick.field, Qt.Key.Key_Return)
        model = quick.model
        assert Path(model.result(0).path).name == "invoice.txt"
        fold = model.fold_row
        assert fold is not None and model.rowCount() == fold + 1
        height = quick.view.height()
        keep(quick, "quick-search-folded.png")
        for _ in range(fold):
            qtbot.keyClick(quick.field, Qt.Key.Key_Down)
        qtbot.keyClick(quick.field, Qt.Key.Key_Return)  # unfolds, and the box stays open
        assert model.expanded and quick.isVisible() and quick.view.height() > height
    finally:
        engine.shutdown()
