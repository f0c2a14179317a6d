"""Issue 17 in the app (offscreen, pytest-qt): open failures said with the path copied, one place per
warning, the Welcome page following its folders, the preview after a new search, the top 10 of the
heatmap, filter-only listings and CJK snippets that wrap anywhere."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from app_helpers import app_window  # noqa: E402
from helpers import index_for_app  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop import actions  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402

WAIT = 20_000  # ms
TOPICS = ["garden roses", "tax return", "steel bridge", "sourdough bread", "pour-over coffee",
          "mountain hiking", "moon craters", "piano lessons", "bicycle repair", "winter boots",
          "kitchen knives", "train timetable"]


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("notes")
    for i, topic in enumerate(TOPICS):
        (folder / f"note{i:02d}.txt").write_text(f"Notes about {topic}, and notes about more things.")
    (folder / "draft.md").write_text("A draft about notes.")
    data = tmp_path_factory.mktemp("data")
    index_for_app(folder, data, tiny_model_dir)
    return data, folder


@pytest.fixture
def window(qtbot, indexed: tuple[Path, Path]) -> Iterator[MainWindow]:  # noqa: ANN001
    with app_window(qtbot, indexed[0]) as window:
        yield window


def search(qtbot, window: MainWindow, text: str):  # noqa: ANN001, ANN201
    with qtbot.waitSignal(window.resultsShown, timeout=WAIT,
                          check_params_cb=lambda outcome: outcome.query == text) as blocker:
        window.search_field.setText(text)
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    return blocker.args[0]


def fake_launcher(folder: Path, status: int) -> Path:
    """A bin folder whose xdg-open says something on stderr and exits with `status`."""
    folder.mkdir(exist_ok=True)
    script = folder / "xdg-open"
    script.write_text("#!/bin/sh\necho \"xdg-open: no method available for opening '$1'\" >&2\n"
                      f"exit {status}\n")
    script.chmod(0o755)
    return folder


@pytest.mark.skipif(os.name != "posix", reason="a shell-script launcher")
def test_launcher_exit_status_and_absence_are_failures(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(actions.sys, "platform", "linux")
    monkeypatch.setenv("PATH", str(fake_launcher(tmp_path / "bin", 3)))
    failed = actions.open_file(str(tmp_path / "a.txt"))
    assert not failed.ok and "exit status 3" in failed.message and "no method available" in failed.message
    monkeypatch.setenv("PATH", str(fake_launcher(tmp_path / "ok", 0)))
    assert actions.open_file(str(tmp_path / "a.txt")).ok
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    missing = actions.open_file(str(tmp_path / "a.txt"))
    assert not missing.ok and "xdg-open" in missing.message


@pytest.mark.skipif(os.name != "posix", reason="a shell-script launcher")
@pytest.mark.parametrize("launcher", ["exits 3", "none"])
def test_open_failure_is_said_and_the_path_copied(qtbot, window: MainWindow, tmp_path: Path,  # noqa: ANN001
                                                  monkeypatch, launcher: str) -> None:  # noqa: ANN001
    monkeypatch.setattr(actions.sys, "platform", "linux")
    monkeypatch.setattr(actions, "_show_items_dbus", lambda path: False)
    bin_dir = fake_launcher(tmp_path / "bin", 3) if launcher == "exits 3" else tmp_path / "nothing"
    monkeypatch.setenv("PATH", str(bin_dir))
    search(qtbot, window, "bicycle repair")
    result = window.current_result()
    QApplication.clipboard().clear()
    with qtbot.waitSignal(window.launched, timeout=WAIT) as blocker:
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    assert not blocker.args[0].ok
    assert window.banner.isVisibleTo(window)
    said = window.banner_text.text()
    assert said.startswith(f"Could not open {Path(result.path).name}: ")
    assert ("exit status 3" in said) if launcher == "exits 3" else ("no program to open files" in said)
    assert QApplication.clipboard().text() == result.path
    assert "Opening" not in window.statusBar().currentMessage()
    with qtbot.waitSignal(window.launched, timeout=WAIT):  # Ctrl+Enter: the folder, same story
        qtbot.keyClick(window.search_field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.banner_text.text().startswith(f"Could not show in its folder {Path(result.path).name}")


def test_a_warning_is_shown_in_one_place_once(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    window.statusBar().clearMessage()
    for _ in range(3):
        window.engine.message.emit("Watching is limited: raise fs.inotify.max_user_watches.", True)
    qtbot.waitUntil(lambda: window.banner.isVisibleTo(window), timeout=WAIT)
    assert window.banner_text.text() == "Watching is limited: raise fs.inotify.max_user_watches."
    assert window.statusBar().currentMessage() == ""
    assert not hasattr(window.index_panel, "notice")
    window.banner_close.click()
    assert not window.banner.isVisibleTo(window)


def test_a_new_search_shows_the_preview_tab(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    window.tabs.setCurrentWidget(window.index_panel)
    search(qtbot, window, "sourdough bread")
    assert window.tabs.currentWidget() is window.preview


def test_heatmap_shows_the_top_10_unless_asked(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    search(qtbot, window, "notes about things")
    heatmap = window.similarity.heatmap
    qtbot.waitUntil(lambda: heatmap.matrix is not None, timeout=WAIT)
    assert window.results_model.rowCount() == 13
    assert len(heatmap.labels) == 11 and heatmap.matrix.shape == (11, 11)
    assert window.similarity.show_all.isVisibleTo(window.similarity)
    window.similarity.show_all.setChecked(True)
    assert len(heatmap.labels) == 14


def test_filter_only_listing_has_a_header(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    outcome = search(qtbot, window, "type:md")
    assert outcome.kind == "ok" and [Path(r.path).name for r in outcome.results] == ["draft.md"]
    assert window.results_header.text() == "1 file matching type:md, newest first"
    assert window.results_header.isVisibleTo(window)
    outcome = search(qtbot, window, "bicycle after:2025-13-45")
    assert window.results_ignored.text().startswith("Ignored after:2025-13-45: '2025-13-45' is not a date")
    assert not window.results_header.isVisibleTo(window) and window.results_ignored.isVisibleTo(window)
    search(qtbot, window, "bicycle repair")
    assert not window.results_header.isVisibleTo(window) and not window.results_ignored.isVisibleTo(window)


def test_welcome_page_follows_its_folders(qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    from desktop.welcome import WelcomePage

    page = WelcomePage(suggested=[])
    qtbot.addWidget(page)
    page.show()
    assert page.none_found.isVisible() and not page.start.isEnabled()
    page.add_folder(str(tmp_path))
    assert not page.none_found.isVisible() and page.start.isEnabled()


def test_cjk_snippet_wraps_anywhere_and_no_line_is_cut(qtbot) -> None:  # noqa: ANN001
    from PySide6.QtGui import QColor, QFont

    from desktop.results import ResultDelegate, whole_lines_height
    from indexer.search.searcher import FileResult

    text = "机器学习" * 40 + "x" * 300  # no break opportunity in the Latin run
    result = FileResult(chunk_id=1, page=None, score=1.0, snippet=text, char_start=0, char_end=len(text),
                        path="/n/机器学习.txt")
    from PySide6.QtWidgets import QListView

    view = QListView()
    qtbot.addWidget(view)
    delegate = ResultDelegate(view)
    document = delegate._snippet_document(result, "机器学习", QFont(), 300, QColor("black"))
    assert document.idealWidth() <= 300  # wrapped, never clipped at the right edge
    lines = [document.begin().layout().lineAt(i) for i in range(document.begin().layout().lineCount())]
    assert len(lines) > 3
    clip = whole_lines_height(document, round(lines[2].y() + lines[2].height() + lines[3].height() / 2))
    assert clip == pytest.approx(lines[2].y() + lines[2].height(), abs=1)  # three whole lines, not 3.5


def test_settings_offer_only_installed_rerankers_and_say_an_unavailable_one(qtbot, tmp_path,  # noqa: ANN001
                                                                           monkeypatch) -> None:  # noqa: ANN001
    import indexer.models.resolution
    from desktop.settings import NO_RERANKER, SettingsDialog
    from indexer.config import Config
    from indexer.models import catalogue

    known = [e.model_id for e in catalogue.rerankers()]
    real_locate = indexer.models.resolution.locate
    monkeypatch.setattr(indexer.models.resolution, "locate",
                        lambda name: "it has not been downloaded" if name in known else real_locate(name))
    dialog = SettingsDialog(Config(), "auto")
    qtbot.addWidget(dialog)
    assert [dialog.reranker.itemText(i) for i in range(dialog.reranker.count())] == [NO_RERANKER]
    assert dialog.reranker.currentText() == NO_RERANKER and not dialog.reranker_note.text()
    unavailable = SettingsDialog(Config(reranker=known[0]), "auto")
    qtbot.addWidget(unavailable)
    note = unavailable.reranker_note.text()
    assert "not available" in note and known[0] in note
    monkeypatch.setattr(indexer.models.resolution, "locate",
                        lambda name: (name, tmp_path) if name == known[1] else "not downloaded")
    offered = SettingsDialog(Config(), "auto")
    qtbot.addWidget(offered)
    offers = [offered.reranker.itemText(i) for i in range(offered.reranker.count())]
    assert offers == [NO_RERANKER, known[1]]


def test_index_panel_lists_skipped_files(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    from desktop.engine import IndexStats

    stats = IndexStats(indexed=3, skipped=2, skipped_files=[("/n/empty.txt", "empty file"),
                                                            ("/n/photo.jpg", "image file")])
    window.index_panel.show_stats(stats)
    skipped = window.index_panel.skipped
    assert skipped.topLevelItemCount() == 2
    second = skipped.topLevelItem(1)
    assert (second.text(0), second.text(1)) == ("/n/photo.jpg", "image file")
    assert window.index_panel.skipped_group.title().endswith("(2)")


def test_index_panel_says_which_vector_index_serves(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    from desktop.engine import IndexStats

    window.index_panel.show_stats(IndexStats(indexed=1, chunks=2))
    assert window.index_panel.vectors.text() == "Vectors: none yet (made once passages are embedded)"
    small = {"kind": "flat", "exact": True, "passages": 3, "memory_bytes": 4_700}
    window.index_panel.show_stats(IndexStats(indexed=3, chunks=3, vector_index=small))
    assert window.index_panel.vectors.text() == "Vectors: exact (flat), 3 passages, 5 kB in memory"
    compressed = {"kind": "ivf-sq8", "exact": False, "passages": 250_000, "memory_bytes": 98_500_000,
                  "recall_at_10": 0.991, "recall_queries": 200}
    window.index_panel.show_stats(IndexStats(indexed=9, chunks=250_000, vector_index=compressed))
    assert window.index_panel.vectors.text() == ("Vectors: compressed (IVF-SQ8), 250,000 passages, "
                                                 "98.5 MB in memory, recall@10 0.991 on 200 stored vectors")
    window.tabs.setCurrentWidget(window.index_panel)
    assert window.index_panel.vectors.isVisibleTo(window)
