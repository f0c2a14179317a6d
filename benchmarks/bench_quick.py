"""Quick search from a running app: how fast the box appears and how fast results follow typing.

On a copy of an index of the 5,183 SciFact abstracts (made by `findling eval`; its folder is
left out of the copy's roots, so no indexing runs during the measurement):

1. A running app (`findling-desktop --timing`, offscreen) gets `findling-desktop --quick`
   requests, one at a time, the box hidden in between:
   - request received → box painted, measured inside the app (`quick_shown.since_request`);
   - the whole `findling-desktop --quick` command, process start to exit, as a user's
     keyboard shortcut runs it;
   - baseline, same run: a cold `findling-desktop` start to its first paint (what a launch
     would cost without a running instance).
2. In this process, the quick-search box on the same index: SciFact test claims typed into the
   field; last keystroke → results shown (the 150 ms typing pause included), against the
   engine's own search time for the same query (baseline).

    python benchmarks/bench_quick.py [--index DIR] [--model DIR] [--requests 20] [--queries 30]

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INDEX = Path.home() / ".cache/findling/eval/scifact--work-models-multilingual-e5-small"
SCIFACT = ROOT.parent / "shared" / "data" / "scifact"


def log(message: str) -> None:
    print(f"[quick] {message}", file=sys.stderr, flush=True)


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"n": len(values), "p50_ms": round(1000 * statistics.median(ordered), 1),
            "p95_ms": round(1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 1),
            "max_ms": round(1000 * ordered[-1], 1)}


def copy_index(source: Path, target: Path) -> None:
    """catalog, WAL, vectors and config, with no roots: the app searches and never indexes."""
    import sqlite3

    conn = sqlite3.connect(source / "catalog.sqlite")
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    target.mkdir(parents=True)
    for name in ("catalog.sqlite", "vectors.faiss"):
        shutil.copy2(source / name, target / name)
    from indexer.config import Config

    config = Config.load(source)
    config.roots = []
    config.reranker = ""
    config.save(target)


def desktop_command() -> list[str]:
    """This Python's `findling-desktop` (PATH may name another one first, e.g. a pyenv shim)."""
    script = Path(sys.executable).with_name("findling-desktop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "desktop"]


class App:
    """A running `findling-desktop --timing`; its JSON events arrive on a queue."""

    def __init__(self, data: Path, env: dict) -> None:
        self.process = subprocess.Popen([*desktop_command(), "--timing", "--data-dir", str(data)], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.events: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    self.events.put(json.loads(line))

    def wait(self, event: str, timeout: float = 300, **match: object) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                item = self.events.get(timeout=0.5)
            except queue.Empty:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    raise RuntimeError(f"the app exited ({code}) waiting for {event}") from None
                continue
            if item.get("event") == event and all(item.get(k) == v for k, v in match.items()):
                return item
        raise TimeoutError(event)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def measure_requests(data: Path, env: dict, requests: int) -> dict:
    from desktop.single_instance import hand_over, server_name

    log("cold start of the app (baseline: a launch with no running instance)")
    started = time.perf_counter()
    app = App(data, env)
    try:
        first_paint = app.wait("first_paint")
        cold_first_paint = time.perf_counter() - started
        app.wait("model", state="ready")
        model_ready = time.perf_counter() - started
        shown, commands = [], []
        for _ in range(requests):
            hand_over(server_name(data), {"action": "hide"})
            time.sleep(0.3)
            started = time.perf_counter()
            subprocess.run([*desktop_command(), "--quick", "--data-dir", str(data)], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            commands.append(time.perf_counter() - started)
            shown.append(app.wait("quick_shown", timeout=30)["since_request"])
    finally:
        app.stop()
    return {
        "request_to_box_painted": summary(shown),
        "quick_command_total": summary(commands),
        "baseline_cold_start_to_first_paint_ms": round(1000 * cold_first_paint, 1),
        "baseline_first_paint_in_app_ms": round(1000 * first_paint["since_main"], 1),
        "cold_start_to_model_ready_s": round(model_ready, 2),
        "quick_command_vs_cold_start": round(statistics.median(commands) / cold_first_paint, 3),
    }


def measure_typing(data: Path, queries: list[str]) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from desktop.engine import Engine
    from desktop.quick_search import QuickSearch

    app = QApplication.instance() or QApplication(sys.argv[:1])
    engine = Engine(data)
    quick = QuickSearch(engine)
    engine.start()
    deadline = time.monotonic() + 300
    while engine.model_state == "loading" and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.01)
    if engine.model_state != "ready":
        raise RuntimeError(f"model not ready: {engine.model_state}")
    quick.summon()
    outcomes: list = []
    quick.resultsShown.connect(lambda outcome: outcomes.append((time.perf_counter(), outcome)))
    to_results, engine_seconds, sizes = [], [], []
    for number, text in enumerate(queries):
        quick.field.clear()
        app.processEvents()
        outcomes.clear()
        QTest.keyClicks(quick.field, text)  # one key event per character, as typed
        last_key = time.perf_counter()
        while not any(o.query == text for _, o in outcomes):
            app.processEvents()
            time.sleep(0.001)
            if time.perf_counter() - last_key > 60:
                raise TimeoutError(text)
        at, outcome = next((at, o) for at, o in outcomes if o.query == text)
        if number:  # the first query warms caches
            to_results.append(at - last_key)
            engine_seconds.append(outcome.seconds)
            sizes.append(len(outcome.results))
    engine.shutdown()
    return {
        "last_keystroke_to_results": summary(to_results),
        "baseline_engine_search": summary(engine_seconds),
        "debounce_ms": quick.debounce.interval(),
        "results_per_query_mean": round(statistics.mean(sizes), 1),
        "overhead_beyond_search_and_debounce_p50_ms": round(
            1000 * (statistics.median(to_results) - statistics.median(engine_seconds))
            - quick.debounce.interval(), 1),
    }


def test_queries(dataset: Path, count: int) -> list[str]:
    judged = {line.split("\t")[0] for line in (dataset / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    texts = []
    for line in (dataset / "queries.jsonl").read_text().splitlines():
        query = json.loads(line)
        if query["_id"] in judged:
            texts.append(query["text"])
    return texts[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=DEFAULT_INDEX,
                        help="a SciFact index made by `findling --model M eval DATASET`")
    parser.add_argument("--dataset", type=Path, default=SCIFACT)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--queries", type=int, default=30)
    args = parser.parse_args()
    if not (args.index / "catalog.sqlite").exists():
        sys.exit(f"No index in {args.index}: run `findling --model /path/to/multilingual-e5-small "
                 f"eval {args.dataset}` first.")
    work = Path(tempfile.mkdtemp(prefix="findling-quick-"))
    data = work / "data"
    try:
        copy_index(args.index, data)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
        from indexer.datadir import DataDir

        catalog = DataDir(data).open_catalog(readonly=True)
        try:
            files = catalog.conn.execute("SELECT count(*) FROM files").fetchone()[0]
            chunks, model = catalog.chunk_count(), catalog.meta_get("model")
        finally:
            catalog.close()
        report = {"index": {"files": files, "chunks": chunks, "model": model}}
        report.update(measure_requests(data, env, args.requests))
        report.update(measure_typing(data, test_queries(args.dataset, args.queries)))
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
