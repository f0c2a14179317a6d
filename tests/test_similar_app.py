"""More like this (Ctrl+M, the context menu) and the Duplicates tab, offscreen, on the real engine."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from app_helpers import app_window  # noqa: E402
from helpers import index_for_app  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from desktop.main_window import MainWindow  # noqa: E402

WAIT = 20_000  # ms
REPORT = ("The annual budget review covers travel, the new office in Lyon and the hiring plan. Travel grew "
          "by twelve percent because of the trade fairs in Milan and Berlin, and the lease starts in March.")
FILES = {
    "budget.txt": REPORT,
    "budget-copy.txt": REPORT,
    "budget-wrapped.txt": textwrap.fill(REPORT, 30),
    "garden.txt": "Tomatoes need sun and water every day in summer; slugs eat the young leaves at night.",
}


@pytest.fixture
def window(qtbot, tmp_path: Path, tiny_model_dir: Path) -> Iterator[MainWindow]:  # noqa: ANN001
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text)
    index_for_app(folder, tmp_path / "data", tiny_model_dir)
    with app_window(qtbot, tmp_path / "data") as window:
        yield window


def test_ctrl_m_shows_the_files_like_the_selected_one(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.resultsShown, timeout=WAIT):
        window.search_field.setText("annual budget review")
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    budget = next(r.path for r in window.results_model.results if r.path.endswith("/budget.txt"))
    window.results_view.setCurrentIndex(window.results_model.index(window.results_model.row_of(budget)))
    with qtbot.waitSignal(window.resultsShown, timeout=WAIT) as shown, \
            qtbot.waitSignal(window.engine.similarityReady, timeout=WAIT) as matrix:
        qtbot.keyClick(window.results_view, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    outcome = shown.args[0]
    paths = [Path(r.path).name for r in outcome.results]
    assert outcome.query == "like: budget.txt" and outcome.kind == "ok"
    assert set(paths[:2]) == {"budget-copy.txt", "budget-wrapped.txt"} and "budget.txt" not in paths
    assert "like: budget.txt" in window.count.text()
    assert matrix.args[1].labels[0] == "budget.txt" and matrix.args[1].matrix.shape == (len(paths) + 1,) * 2
    qtbot.waitUntil(lambda: window.similarity.heatmap.labels[:1] == ["budget.txt"], timeout=WAIT)


def test_the_duplicates_tab_lists_copies_and_never_deletes(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    with qtbot.waitSignal(window.engine.duplicatesFound, timeout=WAIT):
        window.duplicates.find_button.click()
    tree = window.duplicates.tree
    assert tree.topLevelItemCount() == 1
    group = tree.topLevelItem(0)
    assert "3 files" in group.text(0)
    assert sorted(Path(group.child(i).text(0)).name for i in range(group.childCount())) == [
        "budget-copy.txt", "budget-wrapped.txt", "budget.txt"]
    assert "never deletes" not in window.duplicates.summary.text()  # replaced by the count
    assert "Nothing is deleted" in window.duplicates.summary.text()
    assert all(Path(window.engine.config.roots[0], name).exists() for name in FILES)
