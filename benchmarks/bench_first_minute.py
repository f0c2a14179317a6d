"""Useful in the first minute: how soon keyword search works on a fresh, realistic folder.

Builds a folder like a laptop's documents from what this machine's packages ship (untimed):
HTML manuals (the Rust book and standard library docs), Python standard library source,
Debian package READMEs and copyright texts, the PDFs under /usr/share/doc, and multi-page
PDFs generated from SciFact abstracts: by default at least 2,000 files and 30 MB. Then:

1. `findling index --phase text FOLDER` as a separate process on a fresh data dir: seconds
   until the keyword phase is done (process start included), and files/s in that phase;
   then a keyword search in another process proves results are there.
2. The embedding phase in this process for `--embed-seconds` (it would take far longer to
   finish on 30 MB): chunks/s and tokens/s, against a bare `encode` of exactly the same
   chunk texts with the same embedder in the same run (the ratio should be near 1).
3. The projected total time: text phase + pending tokens / embedding tokens/s.

    python benchmarks/bench_first_minute.py --model /path/to/multilingual-e5-small [--backend onnx]

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUST_DOCS = Path.home() / ".rustup/toolchains/stable-x86_64-unknown-linux-gnu/share/doc/rust/html"
PYTHON_LIB = Path(os.__file__).parent


def log(message: str) -> None:
    print(f"[first-minute] {message}", file=sys.stderr, flush=True)


def _copy(files: list[Path], target: Path, budget: int) -> tuple[int, int]:
    count = size = 0
    for i, source in enumerate(files[:budget]):
        destination = target / f"{i:05d}-{source.name}"
        try:
            shutil.copyfile(source, destination)
        except OSError:
            continue
        count += 1
        size += destination.stat().st_size
    return count, size


def build_folder(target: Path, min_files: int, min_mb: float, scifact: Path) -> dict:
    """A realistic mixed folder; returns what went in."""
    parts = {
        "html": sorted(RUST_DOCS.rglob("*.html")),
        "code": sorted(p for p in PYTHON_LIB.rglob("*.py") if "site-packages" not in p.parts),
        "text": sorted(p for p in Path("/usr/share/doc").rglob("*")
                       if p.is_file() and p.suffix in ("", ".txt", ".md") and not p.is_symlink()),
        "pdf": sorted(Path("/usr/share/doc").rglob("*.pdf")),
    }
    shares = {"html": 0.45, "code": 0.35, "text": 0.15}
    summary = {}
    for kind, share in shares.items():
        folder = target / kind
        folder.mkdir(parents=True)
        summary[kind] = _copy(parts[kind], folder, int(min_files * share))
    (target / "pdf").mkdir()
    summary["pdf"] = _copy(parts["pdf"], target / "pdf", 50)
    summary["generated_pdf"] = _generated_pdfs(target / "pdf", scifact, count=max(50, min_files // 20))
    total = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
    extra = 0
    while total < min_mb * 1e6 and extra < len(parts["html"]):  # top up with more manuals
        source = parts["html"][int(min_files * shares["html"]) + extra]
        destination = target / "html" / f"x{extra:05d}-{source.name}"
        shutil.copyfile(source, destination)
        total += destination.stat().st_size
        extra += 1
    files = sum(1 for p in target.rglob("*") if p.is_file())
    return {"files": files, "mb": round(total / 1e6, 1), "parts": summary, "top_up_html": extra}


def _generated_pdfs(folder: Path, scifact: Path, count: int) -> tuple[int, int]:
    from fpdf import FPDF

    abstracts = []
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            abstracts.append((doc.get("title", ""), doc.get("text", "")))
            if len(abstracts) >= count * 4:
                break
    size = 0
    for i in range(count):
        pdf = FPDF()
        pdf.set_font("Helvetica", size=11)
        for title, text in abstracts[i * 4:(i + 1) * 4]:
            pdf.add_page()
            safe = (title + "\n\n" + text).encode("latin-1", "replace").decode("latin-1")
            pdf.multi_cell(0, 6, safe)
        path = folder / f"paper-{i:04d}.pdf"
        pdf.output(str(path))
        size += path.stat().st_size
    return count, size


def findling(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "indexer.cli", *args], env=env, capture_output=True,
                          text=True, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="/work/models/multilingual-e5-small")
    parser.add_argument("--backend", default="auto", help="auto | onnx | torch (when available)")
    parser.add_argument("--files", type=int, default=2200)
    parser.add_argument("--mb", type=float, default=30.0)
    parser.add_argument("--embed-seconds", type=float, default=120.0)
    parser.add_argument("--batch-chunks", type=int, default=None,
                        help="chunks per embedding transaction (default: the pipeline's 256; the app's "
                             "watcher uses 64)")
    parser.add_argument("--scifact", type=Path, default=ROOT.parent / "shared" / "data" / "scifact")
    parser.add_argument("--keep", action="store_true", help="keep the folder and data dir")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="findling-first-minute-"))
    folder, data = work / "Documents", work / "data"
    log(f"building the folder in {folder}")
    built = build_folder(folder, args.files, args.mb, args.scifact)
    log(f"built {built}")
    env = {**os.environ, "FINDLING_DATA_DIR": str(data), "FINDLING_MODEL": args.model,
           "FINDLING_BACKEND": args.backend, "HF_HUB_OFFLINE": "1"}

    started = time.perf_counter()
    findling("index", "--phase", "text", str(folder), env=env)
    text_seconds = time.perf_counter() - started
    hits = json.loads(findling("search", "--mode", "keyword", "--json", "borrow checker lifetime",
                               env=env).stdout)["results"]
    log(f"text phase {text_seconds:.1f} s; keyword search found {len(hits)} files")

    report = {"folder": built, "keyword_phase_seconds": round(text_seconds, 1),
              "keyword_phase_files_per_s": round(built["files"] / text_seconds, 1),
              "keyword_results_after_text_phase": len(hits)}
    report.update(measure_embedding(data, args))
    report["projected_total_minutes"] = round(text_seconds / 60 + report["projected_embedding_minutes"], 1)
    print(json.dumps(report, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def measure_embedding(data_dir: Path, args: argparse.Namespace) -> dict:
    """Run the embedding phase for a while, then encode the same texts bare, same embedder."""
    from indexer.config import Config
    from indexer.datadir import DataDir
    from indexer.models.resolution import resolve_model
    from indexer.write.pipeline import Indexer

    info = resolve_model(args.model)
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
