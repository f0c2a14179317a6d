"""The first minute on a home folder: how soon keyword search works, beside Recoll's full index.

Builds a laptop-like home folder from what this machine's packages ship (`home_folder.py`,
untimed; `--folder` reuses one), then in one run:

1. `recollindex` (Debian `recoll`, with `poppler-utils` for PDF) on the folder, fresh config:
   seconds to a complete index, process start included, and peak RSS; skipped with a note
   when `recollindex` is not installed.
2. `findling index --phase text FOLDER` as a separate process on a fresh data dir: seconds
   until the keyword phase is done (process start included), files/s, and peak RSS (the writer
   and, summed, its worker processes); then keyword searches in another process show results.
3. Each format's extraction in this one process (`indexer.ingest.extract.extract` per file):
   seconds per format, to see where the workers spend the phase.
4. With `--embed-seconds N`: the embedding phase for N s, against a bare `encode` of the same
   texts with the same embedder (the ratio should be near 1), and the projected total.

    python benchmarks/bench_first_minute.py [--folder DIR] [--model PATH] [--embed-seconds 120]

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from home_folder import build_home  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ("borrow checker lifetime", "parameter expansion", "Sjögren syndrome", "dépendances paquet")


def log(message: str) -> None:
    print(f"[first-minute] {message}", file=sys.stderr, flush=True)


class PeakRss(threading.Thread):
    """Polls a process and its descendants: the peak RSS of the process itself and of the tree."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.own = self.tree = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.05):
            try:
                own = self.process.memory_info().rss
                children = sum(c.memory_info().rss for c in self.process.children(recursive=True))
            except psutil.Error:
                continue
            self.own, self.tree = max(self.own, own), max(self.tree, own + children)


def timed_process(argv: list[str], env: dict) -> dict:
    """Run `argv` to its end: wall seconds, exit code, and peak RSS in MB."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = PeakRss(process.pid)
    peak.start()
    out, err = process.communicate()
    seconds = time.perf_counter() - started
    peak.stopped.set()
    peak.join()
    return {"seconds": round(seconds, 2), "exit_code": process.returncode,
            "peak_rss_mb": round(peak.own / 2**20), "peak_rss_tree_mb": round(peak.tree / 2**20),
            "stdout": out, "stderr": err}


def run_recoll(folder: Path, work: Path) -> dict:
    """Recoll's complete index of `folder`, in a fresh configuration directory."""
    if shutil.which("recollindex") is None:
        return {"skipped": "recollindex is not installed (apt install recoll poppler-utils)"}
    confdir = work / "recoll"
    confdir.mkdir()
    # Recoll indexes at nice 19 by default; here at 0, like Findling's writer (its workers run at 5),
    # so that on a busy machine Recoll is not the one starved.
    settings = f"topdirs = {folder}\nnoaspell = 1\nidxniceprio = 0\n"
    (confdir / "recoll.conf").write_text(settings, encoding="utf-8")
    path = "/usr/bin:/bin:" + os.environ.get("PATH", "")  # its filters run the system python3 (lxml)
    env = {**os.environ, "PATH": path, "RECOLL_CONFDIR": str(confdir)}
    result = timed_process(["recollindex", "-c", str(confdir), "-z"], env)
    version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "recoll"], capture_output=True,
                             text=True).stdout.strip() if shutil.which("dpkg-query") else "unknown"
    return {"version": version, "pdftotext": shutil.which("pdftotext") is not None, "nice": 0,
            **{k: v for k, v in result.items() if k not in ("stdout", "stderr")}}


def findling(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "indexer.cli", *args], env=env, capture_output=True,
                          text=True, check=True)


def run_findling(folder: Path, data: Path, args: argparse.Namespace) -> tuple[dict, dict]:
    env = {**os.environ, "FINDLING_DATA_DIR": str(data), "HF_HUB_OFFLINE": "1"}
    if args.model:
        env["FINDLING_MODEL"] = args.model
    argv = [sys.executable, "-m", "indexer.cli", "index", "--phase", "text", str(folder)]
    result = timed_process(argv, env)
    if result["exit_code"] != 0:
        raise SystemExit(f"findling index failed:\n{result['stderr'][-3000:]}")
    hits = {}
    for query in QUERIES:
        found = findling("search", "--mode", "keyword", "--json", query, env=env)
        hits[query] = len(json.loads(found.stdout)["results"])
    return {k: v for k, v in result.items() if k not in ("stdout", "stderr")} | {"keyword_results": hits}, env


def extraction_by_format(folder: Path) -> dict:
    """Each file's extraction in this process, summed per format (no workers, no writer)."""
    from indexer.ingest.extract import ExtractionError, extract

    seconds: dict[str, float] = defaultdict(float)
    files: dict[str, int] = defaultdict(int)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        kind = path.suffix.lower() or "(none)"
        kind = kind if kind in (".html", ".pdf", ".docx", ".py", ".txt", ".md") else "other"
        started = time.perf_counter()
        with contextlib.suppress(ExtractionError, Exception):  # bad inputs are part of the folder
            extract(path)
        seconds[kind] += time.perf_counter() - started
        files[kind] += 1
    return {kind: {"files": files[kind], "seconds": round(seconds[kind], 2)} for kind in sorted(files)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=None,
                        help="a home folder built earlier (or where to build and keep one)")
    parser.add_argument("--model", default=None, help="the embedder (default: Findling's default model)")
    parser.add_argument("--backend", default="auto", help="auto | onnx | torch (for --embed-seconds)")
    parser.add_argument("--embed-seconds", type=float, default=0.0)
    parser.add_argument("--batch-chunks", type=int, default=None,
                        help="chunks per embedding transaction (default: the pipeline's 256)")
    parser.add_argument("--no-extraction", action="store_true", help="skip the per-format extraction pass")
    parser.add_argument("--no-recoll", action="store_true", help="time Findling alone (before/after pairs)")
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="findling-first-minute-"))
    folder = args.folder or work / "home"
    if not folder.exists():
        log(f"building the home folder in {folder}")
        built = build_home(folder, args.scifact)
        (folder.parent / f"{folder.name}.json").write_text(json.dumps(built), encoding="utf-8")
    built_record = folder.parent / f"{folder.name}.json"
    built = json.loads(built_record.read_text()) if built_record.exists() else {"files": None}
    log(f"folder {built}")
    try:
        log("recollindex")
        recoll = {"skipped": "--no-recoll"} if args.no_recoll else run_recoll(folder, work)
        log(f"recoll {recoll}")
        log("findling index --phase text")
        text_phase, env = run_findling(folder, work / "data", args)
        log(f"findling {text_phase}")
        report = {"folder": built, "recoll": recoll, "findling_text_phase": text_phase}
        if "seconds" in recoll:
            report["findling_vs_recoll"] = round(text_phase["seconds"] / recoll["seconds"], 3)
        if not args.no_extraction:
            log("per-format extraction in one process")
            report["extraction_one_process"] = extraction_by_format(folder)
        if args.embed_seconds > 0:
            report.update(measure_embedding(work / "data", args))
            report["projected_total_minutes"] = round(
                text_phase["seconds"] / 60 + report["projected_embedding_minutes"], 1)
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure_embedding(data_dir: Path, args: argparse.Namespace) -> dict:
    """Run the embedding phase for a while, then encode the same texts bare, same embedder."""
    from indexer.config import Config
    from indexer.datadir import DataDir
    from indexer.models.resolution import resolve_model
    from indexer.write.pipeline import Indexer

    info = resolve_model(args.model or Config().model)
    try:
        from indexer.models.onnx_runtime import open_embedder

        embedder, note = open_embedder(info, args.backend)
    except ImportError:
        from indexer.models.embedding import TorchEmbedder

        embedder, note = TorchEmbedder(info), "ONNX runtime not available: torch backend"
    if note:
        log(note)
    data = DataDir(data_dir)
    embedder.encode_passages(["warm-up passage"])  # model load is not part of the phase's throughput
    with data.writer_lock(), Indexer(data, Config(), embedder) as indexer:
        _, pending_before, pending_tokens_before = indexer.catalog.embedding_progress()
        deadline = time.perf_counter() + args.embed_seconds
        started = time.perf_counter()
        done = indexer.embed_pending(should_stop=lambda: time.perf_counter() > deadline,
                                     batch_chunks=args.batch_chunks)
        phase_seconds = time.perf_counter() - started
        rows = indexer.catalog.conn.execute(
            "SELECT text, n_tokens FROM chunks WHERE embedding IS NOT NULL").fetchall()
        _, pending_after, pending_tokens_after = indexer.catalog.embedding_progress()
    texts = [text for text, _ in rows]
    tokens = sum(n for _, n in rows)
    started = time.perf_counter()
    embedder.encode_passages(texts)
    bare_seconds = time.perf_counter() - started
    tokens_per_s = tokens / phase_seconds
    return {
        "backend": type(embedder).__name__,
        "batch_chunks": args.batch_chunks or "default (256)",
        "embedding_phase_chunks": done,
        "embedding_phase_seconds": round(phase_seconds, 1),
        "embedding_phase_chunks_per_s": round(done / phase_seconds, 2),
        "embedding_phase_tokens_per_s": round(tokens_per_s),
        "bare_encode_seconds_same_texts": round(bare_seconds, 1),
        "embedding_phase_vs_bare_ratio": round(phase_seconds / bare_seconds, 3),
        "chunks_total": pending_before,
        "tokens_total": pending_tokens_before,
        "chunks_pending_after": pending_after,
        "projected_embedding_minutes": round(pending_tokens_before / tokens_per_s / 60, 1),
        "pending_tokens_after": pending_tokens_after,
    }


if __name__ == "__main__":
    main()
