"""Indexing throughput: Findling's real pipeline against a bare sentence-transformers encode.

What it measures
    The BEIR SciFact abstracts (5,183, or the first ``--limit``) are written out as one
    ``.txt`` file each (title, blank line, text) and indexed end to end through the real
    ``indexer.write.pipeline.Indexer`` (scan, read, hash, extract, chunk, embed, SQLite commit,
    FAISS save) into a fresh data dir. In the same process, the baseline is a bare
    ``SentenceTransformer(model_dir).encode(chunk_texts, prompt=<passage prefix>,
    batch_size=32, normalize_embeddings=True)`` of exactly the chunk texts the index
    stored (the catalog's ``chunks`` rows, file-name-only rows excluded). Both timings
    include loading the model; neither includes importing torch / sentence-transformers
    (done once, untimed, before either). ``ratio = index_seconds / baseline_encode_seconds``
    is the pipeline's overhead over pure embedding; the target is <= 1.15.

    Order: baseline, then indexing, then (``--repeat-baseline``) the baseline again, whose
    mean is used. Because the baseline runs before the index exists, its texts come from
    the engine's own ``prepare()`` (the function the pipeline chunks with); after indexing
    they are checked against the catalog, and the baseline is re-run on the catalog's texts
    if they ever differ.

How to run (from the project root)
    python benchmarks/bench_index.py --limit 150
    python benchmarks/bench_index.py --model /work/models/multilingual-e5-small \\
        --repeat-baseline --out /tmp/bench-run
    python -m cProfile -s cumtime benchmarks/bench_index.py --limit 150 > profile.txt

One JSON object goes to stdout; progress and notes go to stderr. Without ``--out`` the
corpus and index live in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.ingest.scan import Excludes, scan
from indexer.models.embedding import ModelInfo, TorchEmbedder
from indexer.models.resolution import resolve_model
from indexer.search.evaluate import BeirDataset, load_beir, write_corpus
from indexer.store.catalog import CATALOG_FILE
from indexer.store.vectors import VECTORS_FILE
from indexer.write.pipeline import Indexer, Prepared, Report, prepare

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = ROOT.parent / "shared" / "data" / "scifact"
DEFAULT_MODEL = Path("/work/models/multilingual-e5-small")
BUILD_TOOL = ROOT.parent / "shared" / "tools" / "build_me5_small.py"
BASELINE_BATCH_SIZE = 32
TARGET_RATIO = 1.15


def log(message: str) -> None:
    print(f"[bench_index] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident set size of this whole process so far (ru_maxrss), in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    divisor = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return round(peak / divisor, 1)


class StderrProgress:
    """The engine's Progress protocol, as a line on stderr every ~10% of the files."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.chunks = 0
        self.started = time.perf_counter()

    def start(self, total: int) -> None:
        self.total = total
        self.started = time.perf_counter()
        log(f"indexing {total} files")

    def advance(self, path: str, chunks: int) -> None:
        self.done += 1
        self.chunks += chunks
        step = max(1, self.total // 10)
        if self.done % step == 0 or self.done == self.total:
            elapsed = time.perf_counter() - self.started
            log(f"  {self.done}/{self.total} files, {self.chunks} chunks, {elapsed:.1f}s")

    def message(self, text: str) -> None:
        log(text)


@dataclass
class BaselineRun:
    load_seconds: float
    encode_seconds: float
    vectors: np.ndarray

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.encode_seconds


@dataclass
class IndexRun:
    load_seconds: float
    run_seconds: float
    report: Report

    @property
    def seconds(self) -> float:
        return self.load_seconds + self.run_seconds


@dataclass
class StoredChunks:
    texts: list[str]
    tokens: int
    embeddings: np.ndarray
    name_chunks: int


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time Findling's indexing pipeline against a bare sentence-transformers encode.",
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                        help=f"local sentence-transformers model directory (default: {DEFAULT_MODEL})")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET,
                        help=f"BEIR dataset directory (default: {DEFAULT_DATASET})")
    parser.add_argument("--limit", type=int, default=None,
                        help="index only the first N documents (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the corpus (DIR/docs), the index (DIR/data) and the JSON "
                             "(DIR/bench_index.json) here instead of a removed temp dir")
    parser.add_argument("--repeat-baseline", action="store_true",
                        help="run the baseline again after indexing and use the mean of both runs")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    return args


def check_inputs(model_dir: Path, dataset_dir: Path) -> None:
    if not (model_dir / "modules.json").is_file():
        sys.exit(
            f"error: no sentence-transformers model in {model_dir}.\n"
            f"Build the multilingual-e5-small stand-in with:\n"
            f"    python {os.path.relpath(BUILD_TOOL)} {model_dir}\n"
            f"or pass another model directory with --model."
        )
    if not (dataset_dir / "corpus.jsonl").is_file():
        sys.exit(f"error: no BEIR corpus.jsonl in {dataset_dir} (use --dataset).")


def prepare_workdir(out: Path | None) -> tuple[Path, bool]:
    """The working directory and whether it is a temp dir to remove afterwards."""
    if out is None:
        return Path(tempfile.mkdtemp(prefix="findling-bench-")), True
    out = out.resolve()
    for name in ("docs", "data"):
        if (out / name).exists():
            sys.exit(f"error: {out / name} already exists; the benchmark needs a fresh --out directory.")
    out.mkdir(parents=True, exist_ok=True)
    return out, False


def load_corpus(dataset_dir: Path, limit: int | None) -> BeirDataset:
    full = load_beir(dataset_dir)
    corpus = dict(islice(full.corpus.items(), limit)) if limit else full.corpus
    return BeirDataset(corpus, {}, {})


def warm_up(model_dir: Path) -> None:
    """Untimed: import the ML libraries and pull the model files into the page cache.

    Whichever side ran first would otherwise pay for both, which says nothing about
    the pipeline.
    """
    import sentence_transformers  # noqa: F401
    import torch  # noqa: F401
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()  # the TorchEmbedder does the same; keep stderr readable
    for file in model_dir.rglob("*"):
        if file.is_file():
            with file.open("rb") as fh:
                while fh.read(1 << 24):
                    pass


def planned_chunk_texts(docs: Path, config: Config, info: ModelInfo) -> list[str]:
    """The chunk texts the pipeline will store, from its own `prepare()` (untimed)."""
    embedder = TorchEmbedder(info, config.embed_batch_size, config.threads)  # tokenizer only, never the model
    texts: list[str] = []
    for found in scan(str(docs), Excludes.for_config(config, roots=[str(docs)])):
        prepared = prepare(found, config, embedder)
        if isinstance(prepared, Prepared) and not prepared.name_only:
            texts.extend(chunk.text for chunk in prepared.chunks)
    return texts


def run_baseline(model_dir: Path, texts: list[str], prefix: str) -> BaselineRun:
    """A bare SentenceTransformer load + encode, timed, then freed."""
    from sentence_transformers import SentenceTransformer

    gc.collect()
    start = time.perf_counter()
    model = SentenceTransformer(str(model_dir))
    loaded = time.perf_counter()
    vectors = model.encode(texts, prompt=prefix or None, batch_size=BASELINE_BATCH_SIZE,
                           normalize_embeddings=True, show_progress_bar=False)
    done = time.perf_counter()
    del model
    gc.collect()
    return BaselineRun(loaded - start, done - loaded, np.asarray(vectors, dtype=np.float32))


def run_index(model_dir: Path, docs: Path, data_path: Path, config: Config) -> IndexRun:
    """The real pipeline, as `findling index` drives it, timed from model resolution to close."""
    gc.collect()
    start = time.perf_counter()
    info = resolve_model(str(model_dir))
    embedder = TorchEmbedder(info, config.embed_batch_size, config.threads)
    _ = embedder.dim  # load the weights inside the timed region
    loaded = time.perf_counter()
    data = DataDir(data_path)
    with data.writer_lock(), Indexer(data, config, embedder, StderrProgress()) as indexer:
        report = indexer.run([str(docs)])
    done = time.perf_counter()
    return IndexRun(loaded - start, done - loaded, report)  # the embedder and its model are freed here


def read_stored_chunks(catalog_path: Path) -> StoredChunks:
    conn = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT text, n_tokens, embedding FROM chunks WHERE is_name = 0 ORDER BY id"
        ).fetchall()
        name_chunks = conn.execute("SELECT count(*) FROM chunks WHERE is_name = 1").fetchone()[0]
    finally:
        conn.close()
    embeddings = (np.vstack([np.frombuffer(r[2], dtype=np.float32) for r in rows])
                  if rows else np.zeros((0, 0), dtype=np.float32))
    return StoredChunks([r[0] for r in rows], sum(r[1] for r in rows), embeddings, name_chunks)


def max_abs_diff(texts: list[str], vectors: np.ndarray, stored: StoredChunks) -> float | None:
    """Largest element-wise difference between the baseline's and the index's vector of a text."""
    if not texts or not stored.texts:
        return None
    by_text = dict(zip(texts, vectors))
    diffs = [float(np.max(np.abs(by_text[t] - e))) for t, e in zip(stored.texts, stored.embeddings)
             if t in by_text]
    return max(diffs) if diffs else None


def file_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def rate(count: float, seconds: float) -> float:
    return round(count / seconds, 2) if seconds > 0 else 0.0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Offline, like the product: a local model directory must never wait on a model hub.
    # (Set before sentence-transformers / huggingface_hub are first imported, in warm_up.)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model_dir = args.model.expanduser().resolve()
    dataset_dir = args.dataset.expanduser().resolve()
    check_inputs(model_dir, dataset_dir)

    workdir, temporary = prepare_workdir(args.out)
    docs, data_path = workdir / "docs", workdir / "data"
    try:
        dataset = load_corpus(dataset_dir, args.limit)
        written = write_corpus(dataset, docs)
        log(f"wrote {written} documents to {docs}")

        config = Config(model=str(model_dir))
        info = resolve_model(str(model_dir))
        log(f"model {info.model_id} (passage prefix {info.passage_prefix!r}); warming up (untimed)")
        warm_up(model_dir)
        import torch

        planned = planned_chunk_texts(docs, config, info)
        log(f"{len(planned)} chunks planned")

        order = ["baseline"]
        log("baseline run 1")
        baselines = [run_baseline(model_dir, planned, info.passage_prefix)]
        log(f"  load {baselines[0].load_seconds:.2f}s + encode {baselines[0].encode_seconds:.2f}s")
        rss_after_baseline = peak_rss_mb()

        order.append("index")
        indexed = run_index(model_dir, docs, data_path, config)
        log(f"  index: load {indexed.load_seconds:.2f}s + run {indexed.run_seconds:.2f}s")

        stored = read_stored_chunks(data_path / CATALOG_FILE)
        verified = sorted(stored.texts) == sorted(planned)
        baseline_texts = planned
        if not verified:
            log("WARNING: the catalog's chunk texts differ from the planned ones; "
                "re-running the baseline on the catalog's texts and discarding run 1")
            baseline_texts = stored.texts
            baselines = [run_baseline(model_dir, baseline_texts, info.passage_prefix)]
            order.append("baseline (rerun on catalog texts)")
        if args.repeat_baseline:
            log("baseline run 2")
            baselines.append(run_baseline(model_dir, baseline_texts, info.passage_prefix))
            order.append("baseline")
            log(f"  load {baselines[-1].load_seconds:.2f}s + encode {baselines[-1].encode_seconds:.2f}s")

        baseline_seconds = float(np.mean([b.seconds for b in baselines]))
        baseline_load = float(np.mean([b.load_seconds for b in baselines]))
        baseline_encode_only = float(np.mean([b.encode_seconds for b in baselines]))
        catalog_path = data_path / CATALOG_FILE
        catalog_bytes = file_size(catalog_path) + file_size(catalog_path.with_name(CATALOG_FILE + "-wal"))
        vectors_bytes = file_size(data_path / VECTORS_FILE)
        chunks = len(stored.texts)
        report = indexed.report
        files = report.indexed + report.skipped + report.errors
        ratio = indexed.seconds / baseline_seconds if baseline_seconds > 0 else float("inf")

        result: dict[str, Any] = {
            "benchmark": "findling index throughput vs bare sentence-transformers encode",
            "dataset": str(dataset_dir),
            "documents": len(dataset.corpus),
            "files": files,
            "files_indexed": report.indexed,
            "files_skipped": report.skipped,
            "files_errors": report.errors,
            "chunks": chunks,
            "name_only_chunks": stored.name_chunks,
            "chunks_embedded": report.chunks_embedded,
            "tokens": stored.tokens,
            "index_seconds": round(indexed.seconds, 3),
            "index_model_load_seconds": round(indexed.load_seconds, 3),
            "index_pipeline_seconds": round(indexed.run_seconds, 3),
            "baseline_encode_seconds": round(baseline_seconds, 3),
            "baseline_model_load_seconds": round(baseline_load, 3),
            "baseline_encode_only_seconds": round(baseline_encode_only, 3),
            "baseline_runs_seconds": [round(b.seconds, 3) for b in baselines],
            "ratio": round(ratio, 3),
            "ratio_target": TARGET_RATIO,
            "ratio_within_target": ratio <= TARGET_RATIO,
            "ratio_excluding_model_load": round(indexed.run_seconds / baseline_encode_only, 3)
            if baseline_encode_only > 0 else None,
            "files_per_s": rate(files, indexed.seconds),
            "chunks_per_s": rate(chunks, indexed.seconds),
            "tokens_per_s": rate(stored.tokens, indexed.seconds),
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_mb_after_baseline": rss_after_baseline,
            "peak_rss_note": "getrusage(RUSAGE_SELF).ru_maxrss: the peak of this whole process (baseline "
                             "and indexing in turn, each model freed before the next), not of the indexer "
                             "alone; peak_rss_mb_after_baseline is the peak before indexing started",
            "catalog_bytes": catalog_bytes,
            "vectors_bytes": vectors_bytes,
            "bytes_per_chunk": round((catalog_bytes + vectors_bytes) / chunks, 1) if chunks else None,
            "baseline_texts_match_catalog": verified,
            "baseline_vs_index_max_abs_diff": max_abs_diff(baseline_texts, baselines[0].vectors, stored),
            "model": info.model_id,
            "passage_prefix": info.passage_prefix,
            "embed_batch_size": config.embed_batch_size,
            "baseline_batch_size": BASELINE_BATCH_SIZE,
            "torch_threads": torch.get_num_threads(),
            "torch_version": torch.__version__,
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "run_order": order,
            "timing": {
                "index_seconds": "resolve_model + TorchEmbedder + model weights load (embedder.dim) + "
                                 "writer lock + Indexer open (catalog create) + run (scan, read, hash, "
                                 "extract, chunk incl. tokenizer load, embed, SQLite commits) + close "
                                 "(FAISS save with fsync)",
                "baseline_encode_seconds": "SentenceTransformer(model_dir) load + encode(chunk texts, "
                                           "prompt=passage prefix, batch_size=32, "
                                           "normalize_embeddings=True); mean over baseline runs",
                "excluded_from_both": "importing torch/transformers/sentence-transformers, reading "
                                      "the model files into the page cache, writing the corpus files, "
                                      "planning the baseline's chunk texts",
                "chunks_and_tokens": "catalog chunks rows with is_name = 0; tokens = sum(n_tokens), "
                                     "model tokens without special tokens or the passage prefix",
                "catalog_bytes": "catalog.sqlite + catalog.sqlite-wal after the indexer closed",
                "bytes_per_chunk": "(catalog_bytes + vectors_bytes) / chunks",
            },
        }
        text = json.dumps(result, indent=2)
        if not temporary:
            (workdir / "bench_index.json").write_text(text + "\n", encoding="utf-8")
            log(f"kept the corpus, index and JSON in {workdir}")
        print(text)
        return 0
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
