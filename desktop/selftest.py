"""`findling-desktop --selftest OUT_DIR`: the whole app, offscreen, on the bundled sample folder.

Indexes `desktop/sample` into a temporary data dir with the bundled MiniLM (or `--model`),
runs queries through the search field, checks the answers, the preview and the similarity
matrix, the quick-search box and the tray menu, and saves screenshots (main window,
similarity view, index panel, quick search, tray menu, welcome page).
Exits 0 only if every step worked and no screenshot is blank. This is how a packaged build
is checked.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

SAMPLE = Path(__file__).resolve().parent / "sample"
# (query, the file expected first, expected page): meaning, not shared words, must find them
QUERIES = (
    ("the biggest volcano on another planet", "solar-system.pdf", 2),
    ("invoice from the plumber last spring", "plumber-invoice.txt", None),
)
MIN_COLOURS = 64  # a blank or failed render has a handful of colours; a real window thousands
TIMEOUT = 300.0


def distinct_colours(image: QImage) -> int:
    import numpy as np

    image = image.convertToFormat(QImage.Format.Format_RGB32)
    pixels = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.width() * image.height())
    return int(np.unique(pixels).size)


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        QApplication.processEvents()
        time.sleep(0.01)
    QApplication.processEvents()
    return True


class Steps:
    def __init__(self) -> None:
        self.steps: list[dict] = []
        self.started = time.monotonic()

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.steps.append({"step": name, "ok": bool(ok), "detail": detail,
                           "at_s": round(time.monotonic() - self.started, 2)})
        print(f"selftest: {'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}",
              file=sys.stderr, flush=True)
        return ok

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s["ok"] for s in self.steps)


def screenshot(widget: QWidget, path: Path, steps: Steps) -> None:
    QApplication.processEvents()
    image = widget.grab().toImage()
    colours = distinct_colours(image)
    saved = image.save(str(path))
    steps.check(f"screenshot {path.name}", saved and colours >= MIN_COLOURS,
                f"{image.width()}x{image.height()}, {colours} colours")


def run(out_dir: Path, model: str | None = None, timeout: float = TIMEOUT) -> int:
    from desktop.engine import Engine
    from desktop.main_window import MainWindow
    from desktop.preview import PdfPreview, TextPreview
    from desktop.welcome import WelcomePage
    from indexer.config import Config
    from indexer.models.embedding import bundled_model_path

    app = QApplication.instance() or QApplication(sys.argv[:1])
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = Steps()
    samples = sorted(p.name for p in SAMPLE.iterdir() if p.is_file())
    if not steps.check("sample folder", len(samples) >= 5, f"{len(samples)} files in {SAMPLE}"):
        return _finish(steps, out_dir)
    # the bundled MiniLM where the torch extra brought it (quick), else the app's default model
    model = model or (str(bundled) if (bundled := bundled_model_path()) else Config().model)
    with tempfile.TemporaryDirectory(prefix="findling-selftest-") as tmp:
        data = Path(tmp) / "data"
        Config(roots=[str(SAMPLE)], model=model, reranker="").save(data)
        engine = Engine(data)
        window = MainWindow(engine)
        window.resize(1280, 800)
        window.show()
        engine.start()
        try:
            _single_instance(Path(tmp) / "instance", steps)
            _exercise(app, engine, window, steps, out_dir, len(samples), timeout, PdfPreview, TextPreview)
            welcome = WelcomePage([str(SAMPLE)])
            welcome.resize(900, 640)
            welcome.show()
            screenshot(welcome, out_dir / "welcome.png", steps)
            welcome.close()
        finally:
            window.close()
            engine.shutdown()
    return _finish(steps, out_dir)


def _exercise(app: QApplication, engine, window, steps: Steps, out_dir: Path, n_files: int,  # noqa: ANN001
              timeout: float, PdfPreview: type, TextPreview: type) -> None:  # noqa: N803
    painted = wait_for(lambda: window._painted, 10)
    steps.check("window painted", painted)
    ready = wait_for(lambda: engine.model_state != "loading", timeout)
    if not steps.check("model loaded", ready and engine.model_state == "ready", window.model_status.text()):
        return  # nothing below can work: fail now rather than wait out every timeout
    stats: list = []
    engine.statsChanged.connect(stats.append)
    indexed = wait_for(lambda: engine.last_progress.state == "idle" and bool(stats)
                       and stats[-1].indexed + stats[-1].skipped + stats[-1].errors >= n_files, timeout)
    last = stats[-1] if stats else None
    steps.check("sample folder indexed", indexed and last is not None and last.indexed == n_files,
                f"{last.indexed if last else 0} of {n_files} files, {last.chunks if last else 0} passages")
    outcomes: list = []
    window.resultsShown.connect(outcomes.append)
    for number, (query, expected, page) in enumerate(QUERIES):
        window.search_field.setText(query)
        window.run_search()
        got = wait_for(lambda n=number: len(outcomes) > n, 60)
        outcome = outcomes[number] if got else None
        top = Path(outcome.results[0].path).name if outcome and outcome.results else None
        top_page = outcome.results[0].page if outcome and outcome.results else None
        detail = f"top: {top} page {top_page} in {outcome.seconds * 1000:.0f} ms" if outcome else "no answer"
        steps.check(f"search {query!r}", top == expected and top_page == page, detail)
        kind = PdfPreview if page else TextPreview
        previewed = wait_for(lambda k=kind: isinstance(window.preview.current, k), 30)
        marked = previewed and (not page or bool(window.preview.current.passage_rects))
        steps.check("preview", marked, type(window.preview.current).__name__)
        sentence = wait_for(lambda: window.results_model.result(0) is not None
                            and window.results_model.result(0).best_sentence is not None, 30)
        steps.check("best sentence marked", sentence)
        similar = wait_for(lambda: window.similarity.heatmap.matrix is not None, 30)
        size = len(window.similarity.heatmap.labels)
        steps.check("similarity matrix", similar and size == len(outcome.results) + 1 if outcome else False,
                    f"{size} x {size}")
        if number == 0:
            window.tabs.setCurrentWidget(window.preview)
            screenshot(window, out_dir / "main.png", steps)
            window.tabs.setCurrentWidget(window.similarity)
            screenshot(window, out_dir / "similarity.png", steps)
            _compare_cell(window, steps, out_dir)
            window.tabs.setCurrentWidget(window.index_panel)
            screenshot(window, out_dir / "index.png", steps)
        else:
            window.tabs.setCurrentWidget(window.preview)
            screenshot(window, out_dir / "text-preview.png", steps)
    _quick_search(engine, steps, out_dir)


def _single_instance(data: Path, steps: Steps) -> None:
    """A second launch (`--quick`, a real process) hands its request to this app and exits."""
    import subprocess

    from desktop.single_instance import become_or_hand_over

    server = become_or_hand_over(data, {"action": "show"})
    if not steps.check("single-instance server", server is not None):
        return
    received: list[dict] = []
    server.requested.connect(received.append)
    launcher = [sys.executable] if getattr(sys, "frozen", False) else [sys.executable, "-m", "desktop"]
    second = subprocess.Popen([*launcher, "--quick", "--data-dir", str(data)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: second.poll() is not None, 60)  # our event loop answers it meanwhile
    if second.poll() is None:
        second.kill()
    actions = [r.get("action") for r in received]
    steps.check("second launch handed over and exited", second.returncode == 0 and actions == ["quick"],
                f"exit {second.returncode}, requests {actions}")
    server.close()


def _quick_search(engine, steps: Steps, out_dir: Path) -> None:  # noqa: ANN001
    """The quick-search box answers the first query with the same top file; the tray menu renders."""
    from desktop.quick_search import QuickSearch
    from desktop.tray import Tray

    quick = QuickSearch(engine)
    outcomes: list = []
    quick.resultsShown.connect(outcomes.append)
    quick.summon()
    query, expected, _ = QUERIES[0]
    quick.field.setText(query)
    quick.run_search()
    got = wait_for(lambda: bool(outcomes), 60)
    top = Path(outcomes[0].results[0].path).name if got and outcomes[0].results else None
    steps.check("quick search", top == expected, f"top: {top}")
    screenshot(quick, out_dir / "quick-search.png", steps)
    quick.hide()
    tray = Tray(engine)
    tray.menu.adjustSize()
    screenshot(tray.menu, out_dir / "tray-menu.png", steps)


def _compare_cell(window, steps: Steps, out_dir: Path) -> None:  # noqa: ANN001
    """Click the cell of the query and the top result: both passages open side by side."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    heatmap = window.similarity.heatmap
    row = heatmap.order.index(0)
    column = heatmap.order.index(1)
    QTest.mouseClick(heatmap, Qt.MouseButton.LeftButton, pos=heatmap.cell_rect(row, column).center())
    dialog = window.similarity.dialog
    opened = wait_for(lambda: dialog is not None and dialog.isVisible(), 5)
    steps.check("compare two passages", opened, dialog.windowTitle() if dialog else "no dialog")
    if opened:
        screenshot(dialog, out_dir / "compare.png", steps)
        dialog.close()


def _finish(steps: Steps, out_dir: Path) -> int:
    summary = {"ok": steps.ok, "seconds": round(time.monotonic() - steps.started, 1), "steps": steps.steps}
    (out_dir / "selftest.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(json.dumps({"ok": steps.ok, "seconds": summary["seconds"], "out_dir": str(out_dir)}), flush=True)
    return 0 if steps.ok else 1
