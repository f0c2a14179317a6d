"""`findling-desktop`: parse the arguments, show the window at once, start the engine behind it.

Only Qt and small modules are imported before the window is shown; the models, FAISS and
the catalog load in the engine's worker threads afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="findling-desktop",
                                     description="Findling: find your local files by meaning, offline.")
    parser.add_argument("--data-dir", default=os.environ.get("FINDLING_DATA_DIR"),
                        help="Index location (default: the platform's user data dir). "
                             "Env: FINDLING_DATA_DIR.")
    parser.add_argument("--model", default=os.environ.get("FINDLING_MODEL"),
                        help="Embedding model: a hub id or a local directory. Env: FINDLING_MODEL.")
    parser.add_argument("--selftest", metavar="OUT_DIR",
                        help="Index the bundled sample folder offscreen, search it, save screenshots to "
                             "OUT_DIR and exit 0 only if every step worked.")
    parser.add_argument("--timing", action="store_true",
                        help="Print JSON timings (first paint, model ready, each search) on stderr.")
    return parser.parse_args(argv)


def _report(event: str, **values: object) -> None:
    print(json.dumps({"event": event, "wall": time.time(), **values}), file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    multiprocessing.freeze_support()  # the indexer's extraction workers, in a frozen (PyInstaller) build
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.selftest:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from desktop.selftest import run

        return run(Path(args.selftest), model=args.model)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop import actions
    from desktop.engine import Engine
    from desktop.main_window import MainWindow
    from indexer.config import resolve_data_dir

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Findling")
    app.setApplicationDisplayName("Findling")
    app.setDesktopFileName("findling")
    engine = Engine(resolve_data_dir(args.data_dir), args.model)
    window = MainWindow(engine)
    if args.timing:
        started = time.perf_counter()
        window.firstPainted.connect(lambda: _report("first_paint", since_main=time.perf_counter() - started))
        engine.modelStatus.connect(lambda state, text: _report("model", state=state, text=text,
                                                               since_main=time.perf_counter() - started))
        window.resultsShown.connect(lambda o: _report("results", query=o.query, kind=o.kind,
                                                      n=len(o.results), search_seconds=o.seconds))
    window.show()
    for number in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the watcher saves and unlocks
        signal.signal(number, lambda *_: app.quit())
    heartbeat = QTimer()  # lets Python run its signal handlers while Qt's loop waits
    heartbeat.start(250)
    heartbeat.timeout.connect(lambda: None)
    QTimer.singleShot(0, engine.start)  # after the first paint is queued
    threading.Thread(target=actions.default_pdf_viewer, daemon=True).start()  # warm the lookup
    code = app.exec()
    window.hide()
    if not engine.shutdown():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # a thread is still inside the model: skip interpreter shutdown (it would abort)
    return code


if __name__ == "__main__":
    sys.exit(main())
