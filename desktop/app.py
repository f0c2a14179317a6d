"""`findling-desktop`: parse the arguments, hand them to a running app or become it, show the
window at once, start the engine behind it.

A launch first asks the running app for its data dir (if any) to act on it (`--quick`: the
quick-search box; otherwise: the main window) and exits; that costs one local-socket round
trip and no QApplication. Only Qt and small modules are imported before the window is shown;
the models, FAISS and the catalog load in the engine's worker threads afterwards.
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
    parser.add_argument("--quick", action="store_true",
                        help="Open the quick-search box of the running Findling (start it if none runs). "
                             "Bind this to a keyboard shortcut.")
    parser.add_argument("--hidden", action="store_true",
                        help="Start in the system tray without showing the main window (used at login).")
    parser.add_argument("--timing", action="store_true",
                        help="Print JSON timings (first paint, model ready, searches, requests) on stderr.")
    return parser.parse_args(argv)


def _activation_token() -> str | None:
    """The launcher's focus token (Wayland xdg-activation, X11 startup id), passed to the running app."""
    return os.environ.get("XDG_ACTIVATION_TOKEN") or os.environ.get("DESKTOP_STARTUP_ID")


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

    from indexer.config import resolve_data_dir

    data_dir = resolve_data_dir(args.data_dir)
    action = "quick" if args.quick else "hidden" if args.hidden else "show"
    request = {"action": action, "activation_token": _activation_token()}
    from indexer.running_app import Handover, send_plain, server_name

    if send_plain(server_name(data_dir), request) is Handover.DONE:  # fast path: no Qt import
        asked = {"quick": "open quick search", "show": "show its window", "hidden": "keep running"}[action]
        print(f"Findling is already running for {data_dir}: asked it to {asked}.", file=sys.stderr)
        return 0

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from desktop import actions
    from desktop.engine import Engine
    from desktop.icon import app_icon
    from desktop.shell import Shell
    from desktop.single_instance import AppNotAnswering, become_or_hand_over

    app = QApplication(sys.argv[:1])
    app.setApplicationName("Findling")
    app.setApplicationDisplayName("Findling")
    app.setDesktopFileName("findling")
    app.setWindowIcon(app_icon())
    try:
        server = become_or_hand_over(data_dir, request)
    except AppNotAnswering as exc:
        print(f"findling-desktop: {exc}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as exc:  # e.g. a read-only data dir: search still works
        print(f"findling-desktop: {exc}. Starting without single-instance support.", file=sys.stderr)
        server = None
    else:
        if server is None:  # another launch won the race and took the request
            return 0
    if not _settings_readable(data_dir):
        return 2
    engine = Engine(data_dir, args.model)
    shell = Shell(engine)
    window = shell.window
    if args.timing:
        _report_timings(shell, server)
    if server is not None:
        server.requested.connect(shell.handle)
    shell.start(quick=args.quick, hidden=args.hidden)
    for number in (signal.SIGINT, signal.SIGTERM):  # stop cleanly: the watcher saves and unlocks
        signal.signal(number, lambda *_: shell.quit())
    heartbeat = QTimer()  # lets Python run its signal handlers while Qt's loop waits
    heartbeat.start(250)
    heartbeat.timeout.connect(lambda: None)
    QTimer.singleShot(0, engine.start)  # after the first paint is queued
    threading.Thread(target=actions.default_pdf_viewer, daemon=True).start()  # warm the lookup
    code = app.exec()
    if server is not None:
        server.close()  # later launches start their own app from here on
    window.hide()
    shell.quick.hide()
    if not engine.shutdown():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # a thread is still inside the model: skip interpreter shutdown (it would abort)
    return code


def _settings_readable(data_dir: Path) -> bool:
    """A broken config.toml is told in a dialog before any window; False when the user quits."""
    from indexer.config import Config, ConfigError

    try:
        Config.load(data_dir, warn=lambda text: print(f"findling-desktop: {text}", file=sys.stderr))
        return True
    except ConfigError as exc:
        print(f"findling-desktop: {exc}", file=sys.stderr)
        from desktop.config_problem import ConfigProblemDialog

        return ConfigProblemDialog(exc, data_dir).resolve()


def _report_timings(shell: object, server: object) -> None:
    """`--timing`: JSON events on stderr, for benchmarks/bench_quick.py and bench scripts."""
    started = time.perf_counter()
    window, engine, quick = shell.window, shell.engine, shell.quick
    window.firstPainted.connect(lambda: _report("first_paint", since_main=time.perf_counter() - started))
    engine.modelStatus.connect(lambda state, text: _report("model", state=state, text=text,
                                                           since_main=time.perf_counter() - started))
    window.resultsShown.connect(lambda o: _report("results", query=o.query, kind=o.kind,
                                                  n=len(o.results), search_seconds=o.seconds,
                                                  top=o.results[0].path if o.results else None,
                                                  since_main=time.perf_counter() - started))
    received = [0.0]
    if server is not None:
        server.requested.connect(lambda request: received.__setitem__(0, time.perf_counter()), type=_direct())
    quick.shown.connect(lambda at: _report("quick_shown", since_main=at - started,
                                           since_request=at - received[0] if received[0] else None))
    quick.resultsShown.connect(lambda o: _report("quick_results", query=o.query, kind=o.kind,
                                                 n=len(o.results), search_seconds=o.seconds))
    states = [None]

    def index_state(progress: object) -> None:  # state changes only, not every file
        if progress.state != states[0]:
            states[0] = progress.state
            _report("index", state=progress.state)

    engine.progress.connect(index_state)


def _direct():  # noqa: ANN202 - Qt.ConnectionType
    from PySide6.QtCore import Qt

    return Qt.ConnectionType.DirectConnection


if __name__ == "__main__":
    sys.exit(main())
