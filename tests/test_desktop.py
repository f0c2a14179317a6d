"""The desktop app, offscreen: search as you type, keyboard actions, previews, the similarity heatmap,
the index panel and settings, all through the real engine (tiny generated model), plus the
`--selftest` of a packaged build in a subprocess (bundled MiniLM)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from app_helpers import app_window, open_window  # noqa: E402
from helpers import embedder_for, index_for_app  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QImage  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from desktop import actions  # noqa: E402
from desktop.engine import Engine, IndexStats  # noqa: E402
from desktop.heatmap import ComparisonDialog, greedy_chain, grouped_order  # noqa: E402
from desktop.main_window import MainWindow  # noqa: E402
from desktop.preview import PdfPreview, TextPreview, load_preview  # noqa: E402
from desktop.results import marked_html  # noqa: E402
from desktop.search_jobs import SearchJobs  # noqa: E402
from desktop.settings import read_backend  # noqa: E402
from indexer.config import Config  # noqa: E402
from indexer.datadir import DataDir  # noqa: E402
from indexer.search.searcher import Searcher  # noqa: E402

WAIT = 20_000  # ms
FILES = {
    "garden.txt": "The cat sat on the mat and looked at the garden full of roses and tulips.",
    "taxes.md": "# Taxes\n\nFile the quarterly return before the deadline, or pay a penalty.",
    "bridge.txt": "Alpha plan: build the steel bridge over the river in spring.",
    "bread.txt": "Sourdough bread needs a lively starter, flour, water and salt.",
    "coffee.txt": "Pour-over coffee: grind the beans medium-fine and bloom for thirty seconds.",
    "hiking.md": "# Hiking\n\nPack water, a map, a warm layer and a headlamp for the mountain trail.",
}


def make_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    for text in ("Page one talks about the moon and its craters.",
                 "Olympus Mons on Mars is the largest volcano of the solar system."):
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    """(data dir, folder): the folder indexed with the tiny model, its config saved with it as root."""
    folder = tmp_path_factory.mktemp("docs")
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    make_pdf(folder / "planets.pdf")
    data = tmp_path_factory.mktemp("data")
    index_for_app(folder, data, tiny_model_dir)
    return data, folder


@pytest.fixture
def window(qtbot, indexed: tuple[Path, Path], tiny_model_dir: Path) -> Iterator[MainWindow]:  # noqa: ANN001
    with app_window(qtbot, indexed[0]) as window:  # the model recorded in the index
        yield window


def search(qtbot, window: MainWindow, text: str, typed: bool = True):  # noqa: ANN001, ANN201
    """Type `text` (debounced search) or set it and press Enter; the outcome shown for it."""
    with qtbot.waitSignal(window.resultsShown, timeout=WAIT,
                          check_params_cb=lambda outcome: outcome.query == text) as blocker:
        if typed:
            window.search_field.clear()
            qtbot.keyClicks(window.search_field, text)
        else:
            window.search_field.setText(text)
            qtbot.keyClick(window.search_field, Qt.Key.Key_Return)
    return blocker.args[0]


def engine_results(data: Path, model: Path, text: str, k: int):  # noqa: ANN201
    searcher = Searcher(DataDir(data), embedder_for(str(model)), Config.load(data))
    try:
        results = searcher.search(text, k=k)
        return results, searcher.similarity(text, results)
    finally:
        searcher.close()


def test_typed_query_shows_the_engines_results(qtbot, window: MainWindow, indexed, tiny_model_dir) -> None:  # noqa: ANN001
    outcomes = []
    window.resultsShown.connect(outcomes.append)
    outcome = search(qtbot, window, "steel bridge river")
    assert [o.query for o in outcomes] == ["steel bridge river"]  # the partial queries never showed
    expected, _ = engine_results(indexed[0], tiny_model_dir, "steel bridge river", window.engine.k)
    shown = window.results_model.results
    assert [r.path for r in shown] == [r.path for r in expected]
    assert [r.page for r in shown] == [r.page for r in expected]
    assert Path(shown[0].path).name == "bridge.txt"
    assert window.results_view.currentIndex().row() == 0
    assert outcome.kind == "ok" and "ms" in window.count.text()
    # the best sentences of the top results follow, as the engine marks them
    qtbot.waitUntil(lambda: window.results_model.result(0).best_sentence is not None, timeout=WAIT)
    for row in range(3):  # (weak matches are folded away: the results, not the rows)
        got, want = window.results_model.results[row], expected[row]
        assert (got.snippet, got.best_sentence, got.highlights) == (
            want.snippet, want.best_sentence, want.highlights)
    # the preview shows the top passage in context with the terms highlighted
    qtbot.waitUntil(lambda: isinstance(window.preview.current, TextPreview), timeout=WAIT)
    assert "steel" in window.preview.text.toPlainText()
    assert "#ffd54f" in window.preview.current.html


def test_a_query_typed_before_the_model_is_ready_runs_once_it_is(qtbot, indexed, monkeypatch) -> None:  # noqa: ANN001
    go = threading.Event()
    load = SearchJobs.load_models
    monkeypatch.setattr(SearchJobs, "load_models", lambda self: go.wait(WAIT / 1000) and load(self))
    window = open_window(qtbot, indexed[0], wait_for_model=False)
    engine = window.engine
    try:
        window.search_field.setText("sourdough starter")
        window.run_search()  # the model is still loading
        assert "Loading the model" in window.results_message.text()
        go.set()
        with qtbot.waitSignal(window.resultsShown, timeout=WAIT) as blocker:
            pass
        assert blocker.args[0].kind == "ok"
        assert Path(window.results_model.results[0].path).name == "bread.txt"
    finally:
        engine.shutdown()


def test_enter_searches_at_once_and_stale_answers_are_ignored(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    window.search_field.setText("garden roses")
    stale = window.engine.search("coffee beans")  # an older generation than the Enter below
    outcome = search(qtbot, window, "garden roses", typed=False)
    assert outcome.generation > stale
    assert Path(window.results_model.results[0].path).name == "garden.txt"


def test_keyboard_actions(qtbot, window: MainWindow, monkeypatch) -> None:  # noqa: ANN001
    calls = []
    monkeypatch.setattr(actions, "open_file",
                        lambda path, page=None: calls.append(("open", path, page)) or actions.Launch(True))
    monkeypatch.setattr(actions, "reveal_in_folder",
                        lambda path: calls.append(("reveal", path)) or actions.Launch(True))
    wanted = []
    monkeypatch.setattr(window.engine, "prioritize", wanted.append)  # an opened file is embedded next
    search(qtbot, window, "volcano Mars")
    results = window.results_model.results
    assert len(results) >= 2
    window.results_model.set_expanded(True)  # the weaker matches too (the tiny model has no meaning)
    second = window.results_model.row_of(results[1].path)
    field = window.search_field
    qtbot.keyClick(field, Qt.Key.Key_Down)
    assert window.results_view.currentIndex().row() == 1
    qtbot.keyClick(field, Qt.Key.Key_Up)
    qtbot.keyClick(field, Qt.Key.Key_Up)  # stays on the first
    assert window.results_view.currentIndex().row() == 0
    with qtbot.waitSignal(window.launched, timeout=WAIT):
        qtbot.keyClick(field, Qt.Key.Key_Return)
    assert window.statusBar().currentMessage() == f"Opening {results[0].path}"
    with qtbot.waitSignal(window.launched, timeout=WAIT):
        qtbot.keyClick(field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert calls == [("open", results[0].path, results[0].page), ("reveal", results[0].path)]
    assert wanted == [results[0].path]
    assert Path(results[0].path).name == "planets.pdf" and results[0].page == 2
    for _ in range(second):  # the list itself navigates too (past the fold row)
        qtbot.keyClick(window.results_view, Qt.Key.Key_Down)
    qtbot.keyClick(window.results_view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.clipboard().text() == results[1].path
    with qtbot.waitSignal(window.launched, timeout=WAIT):
        qtbot.keyClick(window.results_view, Qt.Key.Key_Return)
    assert calls[-1] == ("open", results[1].path, results[1].page)
    QApplication.clipboard().clear()
    field.deselect()
    qtbot.keyClick(field, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)  # no text selected: the path
    assert QApplication.clipboard().text() == results[1].path
    field.selectAll()
    qtbot.keyClick(field, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)  # selected text: the text
    assert QApplication.clipboard().text() == "volcano Mars"
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    assert field.text() == "" and window.results_model.rowCount() == 0


def test_pdf_preview_renders_the_page_with_the_passage_marked(qtbot, window: MainWindow) -> None:  # noqa: ANN001
    search(qtbot, window, "volcano Mars")
    top = window.results_model.results[0]
    qtbot.waitUntil(lambda: isinstance(window.preview.current, PdfPreview), timeout=WAIT)
    preview = window.preview.current
    assert (preview.page, preview.pages) == (2, 2)
    assert preview.passage_rects and preview.term_rects
    assert preview.image.width() > 500 and not preview.image.isNull()
    gone = load_preview(dataclasses.replace(top, path=top.path.replace(".pdf", ".missing")), "x")
    assert "no longer exists" in gone.message


def test_heatmap_cells_equal_the_engines_matrix(qtbot, window: MainWindow, indexed, tiny_model_dir) -> None:  # noqa: ANN001
    query = "bread flour water"
    search(qtbot, window, query)
    heatmap = window.similarity.heatmap
    qtbot.waitUntil(lambda: heatmap.matrix is not None, timeout=WAIT)
    results = window.results_model.results
    expected = window.engine.similarity_now(query, results)  # the same results, the engine's matrix
    n = len(results) + 1
    assert heatmap.labels[0] == "query" and len(heatmap.labels) == n
    assert sorted(heatmap.order) == list(range(n)) and heatmap.order[0] == 0
    for row in range(n):
        for column in range(n):
            assert heatmap.value(row, column) == pytest.approx(
                float(expected.matrix[heatmap.order[row], heatmap.order[column]]), abs=1e-5)
    window.similarity.grouped.setChecked(False)
    assert heatmap.order == list(range(n))
    # hover text and a click on a cell: both passages, side by side
    window.tabs.setCurrentWidget(window.similarity)
    window.resize(1400, 900)
    qtbot.wait(50)
    assert "cosine similarity" in heatmap.tooltip_html(0, 1)
    qtbot.mouseClick(heatmap, Qt.MouseButton.LeftButton, pos=heatmap.cell_rect(1, 2).center())
    dialog = window.similarity.dialog
    assert isinstance(dialog, ComparisonDialog)
    assert results[0].snippet[:20] in dialog.browsers[0].toPlainText()
    assert results[1].snippet[:20] in dialog.browsers[1].toPlainText()
    dialog.close()


def test_orderings_are_permutations_with_the_query_first() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(9, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    matrix = vectors @ vectors.T
    chain = greedy_chain(matrix)
    assert sorted(chain) == list(range(1, 9)) and chain[0] == int(np.argmax(matrix[0, 1:])) + 1
    for a, b in zip(chain, chain[1:]):  # each step goes to the nearest result not yet visited
        assert matrix[a, b] == max(matrix[a, j] for j in chain[chain.index(b):])
    order = grouped_order(matrix)
    assert order[0] == 0 and sorted(order) == list(range(9))


def test_add_folder_indexes_it_with_progress_and_lists_failures(qtbot, tmp_path, tiny_model_dir) -> None:  # noqa: ANN001
    folder = tmp_path / "new"
    folder.mkdir()
    for name, text in list(FILES.items())[:3]:
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    window = open_window(qtbot, tmp_path / "data", str(tiny_model_dir))
    try:
        assert window.pages.currentWidget() is window.welcome  # no roots yet: first run
        outcome = search(qtbot, window, "garden", typed=False)
        assert outcome.kind == "empty-index" and "Nothing is indexed" in window.results_message.text()
        progress, stats = [], []
        window.engine.progress.connect(progress.append)
        window.engine.statsChanged.connect(stats.append)
        window.index_panel.add_folder(str(tmp_path / "missing"))
        qtbot.waitUntil(lambda: "does not exist" in window.banner_text.text(), timeout=WAIT)
        window.welcome.add_folder(str(folder))
        window.welcome.start.click()
        assert window.pages.currentWidget() is window.search_page
        qtbot.waitUntil(lambda: bool(stats) and stats[-1].indexed == 3 and stats[-1].errors == 1
                        and window.engine.last_progress.state == "idle", timeout=WAIT)
        assert any(p.total == 4 and p.done == 4 and p.unit == "files" for p in progress)  # files read
        passages = [p for p in progress if p.unit == "passages" and p.total]
        assert passages and passages[-1].done == passages[-1].total  # then the passages embedded
        assert Config.load(tmp_path / "data").roots == [str(folder)]
        failed = window.index_panel.failed
        qtbot.waitUntil(lambda: failed.topLevelItemCount() == 1, timeout=WAIT)  # listed asynchronously
        assert failed.topLevelItem(0).text(0).endswith("broken.pdf") and failed.topLevelItem(0).text(1)
        qtbot.waitUntil(lambda: "4 / 4" in window.index_panel.state.text()
                        or "Up to date" in window.index_panel.state.text(), timeout=WAIT)
        # the search that found nothing is asked again once files are indexed
        qtbot.waitUntil(lambda: window.results_model.rowCount() > 0, timeout=WAIT)
        # pause and resume
        qtbot.mouseClick(window.index_panel.pause_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.engine.last_progress.state == "paused", timeout=WAIT)
        qtbot.waitUntil(lambda: window.index_panel.pause_button.text() == "Resume"
                        and window.index_panel.state.text().startswith("Paused"), timeout=WAIT)
        qtbot.mouseClick(window.index_panel.pause_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.engine.last_progress.state == "idle", timeout=WAIT)
        # removing the folder purges its files
        window.index_panel.roots.setCurrentRow(0)
        window.index_panel.remove_selected()
        qtbot.waitUntil(lambda: bool(stats) and stats[-1] == IndexStats(model=stats[-1].model), timeout=WAIT)
        assert Config.load(tmp_path / "data").roots == []
    finally:
        window.engine.shutdown()


def test_settings_are_saved_to_the_config(qtbot, tmp_path, tiny_model_dir) -> None:  # noqa: ANN001
    from desktop.settings import NO_RERANKER, SettingsDialog

    data = tmp_path / "data"
    window = open_window(qtbot, data, str(tiny_model_dir))
    try:
        dialog = SettingsDialog(window.engine.config, window.engine.backend)
        dialog.reranker.setCurrentText(NO_RERANKER)
        dialog.backend.setCurrentText("onnx")
        dialog.threads.setValue(2)
        dialog.battery.setValue(35)
        config, backend = dialog.values()
        with qtbot.waitSignal(window.engine.configChanged, timeout=WAIT):
            window.engine.apply_settings(config, backend)
        saved = Config.load(data)
        assert (saved.reranker, saved.threads, saved.battery_pause_below) == ("", 2, 35)
        assert read_backend(data, saved) == "onnx"
        qtbot.waitUntil(lambda: window.engine.model_state == "ready", timeout=WAIT)
    finally:
        window.engine.shutdown()


def test_missing_model_is_said_plainly(qtbot, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import indexer.models.embedding

    monkeypatch.setattr(indexer.models.embedding, "bundled_model_path", lambda: None)
    window = open_window(qtbot, tmp_path / "data", str(tmp_path / "no-such-model"))
    try:
        assert window.engine.model_state == "error"
        assert "no-such-model" in window.model_status.text()
        assert window.banner.isVisibleTo(window)
        outcome = search(qtbot, window, "anything", typed=False)
        assert outcome.kind == "no-model" and "no embedding model" in window.results_message.text()
    finally:
        window.engine.shutdown()


def test_pdf_opens_at_its_page_in_viewers_that_take_one(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(actions.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert actions.page_command("/a.pdf", 3, "org.gnome.evince") == ["evince", "--page-index=3", "/a.pdf"]
    assert actions.page_command("/a.pdf", 3, "okular") == ["okular", "-p", "3", "/a.pdf"]
    assert actions.page_command("/a.pdf", 3, "org.pwmt.zathura") == ["zathura", "-P", "3", "/a.pdf"]
    assert actions.page_command("/a.pdf", 3, "firefox") is None
    spawned = []
    monkeypatch.setattr(actions, "default_pdf_viewer", lambda: "okular")
    monkeypatch.setattr(actions, "run_launcher",
                        lambda command: spawned.append(command) or actions.Launch(True))
    monkeypatch.setattr(actions.sys, "platform", "linux")
    assert actions.open_file("/a.pdf", 2).ok
    assert actions.open_file("/b.txt", None).ok
    assert spawned == [["okular", "-p", "2", "/a.pdf"], ["xdg-open", "/b.txt"]]


def test_snippet_markup() -> None:
    text = "The cat & the <dog>"
    spans = [(0, 3), (4, 7), (15, 18)]
    html = marked_html(text, spans[1:], (4, 11))
    assert "&amp;" in html and "&lt;" in html and html.count("<span") == 3
    assert not re.search(r'background-color[^"]*background-color', marked_html(text, spans, (0, 18)))


def distinct_colours(path: Path) -> int:
    image = QImage(str(path)).convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    return int(np.unique(pixels).size)


@pytest.mark.skipif(not __import__("indexer.models.embedding").models.embedding.bundled_model_path(),
                    reason="no bundled model")
def test_selftest_of_a_packaged_build(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "desktop", "--selftest", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "selftest.json").read_text())
    assert summary["ok"] and all(step["ok"] for step in summary["steps"])
    for name in ("main.png", "similarity.png"):
        assert distinct_colours(tmp_path / name) > 500, name


def test_reranking_follows_the_results_and_gives_way_to_a_newer_query(qtbot, tmp_path,  # noqa: ANN001
                                                                      tiny_model_dir) -> None:
    """Results come at once in fused order; the cross-encoder's order follows, the selected file
    stays selected, and a rerank still running when the next query comes is abandoned."""
    from tiny_models import make_keyword_cross_encoder

    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "tulips.txt").write_text("Tulips, tulips and more tulips in the garden.", encoding="utf-8")
    data = tmp_path / "data"
    reranker = make_keyword_cross_encoder(tmp_path / "keyword-ce", "tulips")
    index_for_app(folder, data, tiny_model_dir, reranker=str(reranker))
    window = open_window(qtbot, data, None)
    try:
        assert window.engine.searches.reranker is not None
        with qtbot.waitSignal(window.resultsReranked, timeout=WAIT) as reranked:
            outcome = search(qtbot, window, "garden flowers", typed=False)
        assert all(r.scores.rerank is None for r in outcome.results)  # shown before reranking
        order = reranked.args[0].results
        assert Path(order[0].path).name == "tulips.txt" and all(r.scores.rerank is not None for r in order)
        assert [r.path for r in window.results_model.results] == [r.path for r in order]
        assert "reranked" in window.count.text()
        qtbot.waitUntil(lambda: window.similarity.heatmap.matrix is not None, timeout=WAIT)
        assert window.similarity.heatmap.labels[1].endswith(Path(order[0].path).name)  # the new order

        calls = []
        slow = window.engine.searches.reranker
        real = slow.score

        def slow_score(query: str, passages: list[str]):  # noqa: ANN202
            calls.append(query)
            threading.Event().wait(0.3)
            return real(query, passages)

        slow.score = slow_score
        window.engine.searches.rerank_step = 1  # 7 candidates: 7 steps of 0.3 s for a full rerank
        finished = []
        window.resultsReranked.connect(lambda o: finished.append(o.query))
        window.search_field.setText("coffee beans")
        window.run_search()
        qtbot.waitUntil(lambda: bool(calls), timeout=WAIT)  # its rerank has started
        search(qtbot, window, "bread starter", typed=False)
        qtbot.waitUntil(lambda: "bread starter" in finished, timeout=WAIT)
        assert "coffee beans" not in finished and calls.count("coffee beans") <= 3  # gave way early
        assert calls.count("bread starter") == 7  # the newest query was reranked in full
    finally:
        window.engine.shutdown()


def test_a_reranker_that_cannot_load_leaves_search_working(qtbot, tmp_path, tiny_model_dir) -> None:  # noqa: ANN001
    broken = tmp_path / "broken-ce"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"}')  # no weights, no tokenizer
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "garden.txt").write_text(FILES["garden.txt"], encoding="utf-8")
    data = tmp_path / "data"
    index_for_app(folder, data, tiny_model_dir, reranker=str(broken))
    messages = []
    engine = Engine(data, None, watcher_options={"debounce": 0.05, "low_priority": False})
    engine.message.connect(lambda text, is_error: messages.append(text))
    window = MainWindow(engine)
    qtbot.addWidget(window)
    engine.start()
    try:
        qtbot.waitUntil(lambda: engine.model_state != "loading", timeout=WAIT)
        assert engine.model_state == "ready" and engine.searches.reranker is None
        qtbot.waitUntil(lambda: any(m.startswith("Reranking is off") for m in messages), timeout=WAIT)
        assert search(qtbot, window, "garden roses", typed=False).kind == "ok"
    finally:
        engine.shutdown()


def test_one_app_search_parses_embeds_and_retrieves_once(qtbot, tmp_path, tiny_model_dir,  # noqa: ANN001
                                                         monkeypatch) -> None:
    """Results, the reranked order, the similarity matrix and the best sentences of one search share
    one query parse, one query embedding and one first-stage retrieval; so does a quick-box search."""
    from tiny_models import make_keyword_cross_encoder

    import indexer.search.query
    import indexer.search.searcher
    from indexer.store.keyword import KeywordSearch
    from indexer.store.vectors import VectorIndex

    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    data = tmp_path / "data"
    reranker = make_keyword_cross_encoder(tmp_path / "keyword-ce", "tulips")
    index_for_app(folder, data, tiny_model_dir, reranker=str(reranker))
    engine = Engine(data, None, watcher_options={"debounce": 0.05, "low_priority": False})
    engine.start()
    calls: dict[str, int] = {"parse": 0, "embed": 0, "dense": 0, "keyword": 0}

    def counting(name: str, function, per=lambda *a: 1):  # noqa: ANN001, ANN202
        def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            calls[name] += per(*args)
            return function(*args, **kwargs)
        return counted

    try:
        qtbot.waitUntil(lambda: engine.model_state != "loading", timeout=WAIT)
        assert engine.model_state == "ready" and engine.searches.reranker is not None
        for module in (indexer.search.query, indexer.search.searcher):
            monkeypatch.setattr(module, "parse", counting("parse", module.parse))
        embedder = engine.searches.embedder
        monkeypatch.setattr(embedder, "encode_queries",
                            counting("embed", embedder.encode_queries, lambda texts: len(texts)))
        monkeypatch.setattr(VectorIndex, "search", counting("dense", VectorIndex.search))
        monkeypatch.setattr(KeywordSearch, "search", counting("keyword", KeywordSearch.search))
        refined, outcomes = [], []
        engine.resultsRefined.connect(lambda generation, results: refined.extend(results))
        engine.searchFinished.connect(outcomes.append)
        with qtbot.waitSignals([engine.searchFinished, engine.resultsReranked, engine.similarityReady],
                               timeout=WAIT):
            engine.search("garden flowers and tulips")
        outcome = outcomes[0]
        assert outcome.kind == "ok" and len(outcome.results) > 3
        qtbot.waitUntil(lambda: len(refined) == 3, timeout=WAIT)  # the best sentences of the top 3
        assert calls == {"parse": 1, "embed": 1, "dense": 1, "keyword": 1}

        calls.update(dict.fromkeys(calls, 0))
        with qtbot.waitSignal(engine.searchFinished, timeout=WAIT) as quick:
            engine.search("sourdough starter", 8, details=False, channel="quick")
        assert quick.args[0].kind == "ok"
        assert calls == {"parse": 1, "embed": 1, "dense": 1, "keyword": 1}
    finally:
        engine.shutdown()


def test_the_startup_scan_waits_for_the_models(qtbot, tmp_path, tiny_model_dir, monkeypatch) -> None:  # noqa: ANN001
    """A search typed into the new window comes first: the watcher's startup scan (imports, a walk of
    every root) starts once the models are loaded, not while they load."""
    import indexer.models.factory
    from desktop.indexing import Indexing

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "garden.txt").write_text(FILES["garden.txt"], encoding="utf-8")
    data = tmp_path / "data"
    index_for_app(folder, data, tiny_model_dir)
    release = threading.Event()
    open_models = indexer.models.factory.open_models

    def slow_open_models(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        release.wait(WAIT / 1000)
        return open_models(*args, **kwargs)

    monkeypatch.setattr(indexer.models.factory, "open_models", slow_open_models)
    started = []
    monkeypatch.setattr(Indexing, "start", lambda self: started.append(self.engine.model_state))
    engine = Engine(data, None, watcher_options={"debounce": 0.05, "low_priority": False})
    engine.start()
    try:
        time.sleep(0.5)
        assert started == []  # the models are still loading
        release.set()
        qtbot.waitUntil(lambda: bool(started), timeout=WAIT)
        assert started == ["ready"]
    finally:
        release.set()
        engine.shutdown()
