"""Similar files and near-duplicates: latency, wall time, memory and quality.

What it measures
    Scale (``--files 10000,100000``): a catalog of N synthetic files is written through the real
    writer path (`Catalog.put_file`, which stores each file's MinHash signature, and
    `set_embeddings`, which stores its vector), with near-duplicates planted at ``--dup-rate``
    (a copy of another file with a few words changed and its passage vectors nudged). Then, in
    this process: the file-vector cache load, `similar` latency p50/p95 over ``--queries`` random
    files (one warm `SimilarFinder`, process start excluded), `duplicates` wall time (cache load
    included), the recall and precision of the planted pairs, and peak RSS.

    Translations (``--translations``): the man pages of man-db and shadow that Debian ships in
    several languages (``/usr/share/man/*/man[18]``, rendered by ``man -l``) are indexed through the
    real `Indexer` with ``--model`` (a multilingual e5 stand-in); for each page, the share of its
    other-language versions found in its top 10 by `similar`.

How to run (from the project root)
    python benchmarks/bench_similar.py --files 10000
    python benchmarks/bench_similar.py --files 10000,100000 --translations --model /work/me5

One JSON object goes to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.datadir import DataDir  # noqa: E402
from indexer.similar.duplicates import find_duplicates  # noqa: E402
from indexer.similar.find import SimilarFinder  # noqa: E402
from indexer.similar.vectors import FILE_VECTORS_FILE, load_file_vectors  # noqa: E402
from indexer.store.catalog import Catalog, NewChunk  # noqa: E402

DIM = 384
WORDS_PER_FILE = 160
CHUNK_WORDS = 60


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def build_catalog(data: DataDir, n_files: int, dup_rate: float, seed: int) -> set[tuple[str, str]]:
    """Write N synthetic files; the planted near-duplicate pairs (by path)."""
    rng = np.random.default_rng(seed)
    vocabulary = np.array([f"w{i}" for i in range(20_000)])
    planted: set[tuple[str, str]] = set()
    data.path.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(data.catalog_path)
    texts: list[list[str]] = []
    vectors: list[np.ndarray] = []
    batch = 1000
    try:
        catalog.meta_set("model", "synthetic")
        catalog.meta_set("dim", str(DIM))
        for start in range(0, n_files, batch):
            with catalog.transaction():
                for index in range(start, min(start + batch, n_files)):
                    if texts and rng.random() < dup_rate:
                        source = int(rng.integers(len(texts)))
                        words = list(texts[source])
                        for position in rng.integers(0, len(words), 3):
                            words[position] = str(rng.choice(vocabulary))
                        chunk_vectors = _unit(vectors[source] + rng.normal(0, 0.01, vectors[source].shape))
                        planted.add(tuple(sorted((f"/bench/f{source:06d}.txt", f"/bench/f{index:06d}.txt"))))
                    else:
                        words = list(rng.choice(vocabulary, WORDS_PER_FILE))
                        topic = rng.normal(0, 1, DIM)
                        shape = (WORDS_PER_FILE // CHUNK_WORDS + 1, DIM)
                        chunk_vectors = _unit(topic + rng.normal(0, 1.0, shape))
                    texts.append(words)
                    vectors.append(chunk_vectors)
                    chunks, offset = [], 0
                    for ordinal, first in enumerate(range(0, len(words), CHUNK_WORDS)):
                        text = " ".join(words[first:first + CHUNK_WORDS])
                        chunks.append(NewChunk(ordinal, text, None, offset, offset + len(text), CHUNK_WORDS,
                                               f"{index}-{ordinal}", chunk_vectors[ordinal]))
                        offset += len(text) + 1
                    path = f"/bench/f{index:06d}.txt"
                    catalog.put_file(path, Path(path).name, offset, 1_700_000_000_000_000_000 + index,
                                     f"hash-{index}", "text", "indexed", None, chunks)
            if start % 10_000 == 0:
                log(f"  {start + batch} files written")
    finally:
        catalog.close()
    return planted


def transitive(pairs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every pair within the groups the planted pairs make (a copy of a copy is a copy)."""
    group_of: dict[str, set[str]] = {}
    for a, b in pairs:
        merged = group_of.get(a, {a}) | group_of.get(b, {b})
        for member in merged:
            group_of[member] = merged
    groups = {id(g): sorted(g) for g in group_of.values()}.values()
    return {(g[i], g[j]) for g in groups for i in range(len(g)) for j in range(i + 1, len(g))}


def scale_run(n_files: int, dup_rate: float, queries: int, seed: int, base: Path) -> dict:
    data = DataDir(base / f"scale-{n_files}")
    started = time.perf_counter()
    planted = build_catalog(data, n_files, dup_rate, seed)
    write_s = time.perf_counter() - started
    log(f"{n_files} files written in {write_s:.1f} s; {len(planted)} near-duplicate pairs planted")

    (data.path / FILE_VECTORS_FILE).unlink(missing_ok=True)
    finder = SimilarFinder(data)
    try:
        started = time.perf_counter()
        _ = finder.vectors  # builds and saves the cache
        build_s = time.perf_counter() - started
        rng = np.random.default_rng(seed + 1)
        targets = [f"/bench/f{int(i):06d}.txt" for i in rng.integers(0, n_files, queries)]
        finder.similar(targets[0])
        latencies = []
        for target in targets:
            started = time.perf_counter()
            finder.similar(target)
            latencies.append(time.perf_counter() - started)
    finally:
        finder.close()
    reader = Catalog(data.catalog_path, readonly=True)
    try:
        started = time.perf_counter()
        cached = load_file_vectors(reader, data.path / FILE_VECTORS_FILE)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        found = find_duplicates(reader, load_file_vectors(reader, data.path / FILE_VECTORS_FILE))
        duplicates_s = time.perf_counter() - started
    finally:
        reader.close()
    pairs = {tuple(sorted((a.path, b.path))) for g in found.groups for i, a in enumerate(g.files)
             for b in g.files[i + 1:]}
    planted = transitive(planted)
    hits = len(pairs & planted)
    return {
        "files": n_files, "planted_pairs": len(planted), "write_seconds": round(write_s, 1),
        "file_vectors": len(cached), "cache_build_seconds": round(build_s, 3),
        "cache_load_seconds": round(load_s, 3),
        "similar_ms": {"p50": round(float(np.percentile(latencies, 50)) * 1000, 2),
                       "p95": round(float(np.percentile(latencies, 95)) * 1000, 2), "n": len(latencies)},
        "duplicates_seconds": round(duplicates_s, 2), "groups": len(found.groups),
        "recall": round(hits / len(planted), 4) if planted else None,
        "precision": round(hits / len(pairs), 4) if pairs else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }


def man_pages(languages_at_least: int) -> dict[str, dict[str, str]]:
    """{page: {language: text}} for pages Debian ships in at least that many languages."""
    root = Path("/usr/share/man")
    by_page: dict[str, dict[str, Path]] = {}
    for path in sorted(root.glob("*/man[18]/*.gz")):
        language = path.parts[-3]
        by_page.setdefault(path.name, {})[language] = path
    for path in sorted(root.glob("man[18]/*.gz")):
        if path.name in by_page:
            by_page[path.name]["en"] = path
    texts: dict[str, dict[str, str]] = {}
    env = {**os.environ, "MANWIDTH": "80", "MAN_KEEP_FORMATTING": "0", "LC_ALL": "C.UTF-8"}
    for page, versions in by_page.items():
        if len(versions) < languages_at_least:
            continue
        for language, path in versions.items():
            shown = subprocess.run(["man", "-l", "-E", "UTF-8", str(path)], capture_output=True, text=True,
                                   env=env, timeout=60)
            if shown.returncode == 0 and shown.stdout.strip():
                texts.setdefault(page, {})[language] = shown.stdout
    return texts


def translations_run(model: str, base: Path, languages_at_least: int) -> dict:
    from indexer.config import Config
    from indexer.models.factory import open_models
    from indexer.write.pipeline import Indexer

    pages = man_pages(languages_at_least)
    folder = base / "man"
    for page, versions in pages.items():
        for language, text in versions.items():
            target = folder / language / (page.removesuffix(".gz") + ".txt")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    total = sum(len(v) for v in pages.values())
    log(f"{total} man pages ({len(pages)} pages in {languages_at_least}+ languages); indexing with {model}")
    data = DataDir(base / "man-data")
    config = Config(model=model, reranker="")
    embedder = open_models(config, model, reranker=False).embedder
    started = time.perf_counter()
    with data.writer_lock(), Indexer(data, config, embedder) as indexer:
        indexer.run([str(folder)])
    index_s = time.perf_counter() - started
    finder = SimilarFinder(data)
    shares, at_1 = [], []
    try:
        for page, versions in pages.items():
            name = page.removesuffix(".gz") + ".txt"
            for language in versions:
                found = finder.similar(str(folder / language / name), k=10)
                others = {str(folder / other / name) for other in versions if other != language}
                top = [r.path for r in found.results]
                shares.append(len(others & set(top)) / min(len(others), 10))
                at_1.append(bool(top) and top[0] in others)
    finally:
        finder.close()
    return {"model": model, "documents": total, "pages": len(pages), "index_seconds": round(index_s, 1),
            "translations_in_top10": round(float(np.mean(shares)), 4),
            "top1_is_a_translation": round(float(np.mean(at_1)), 4)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", default="10000", help="comma-separated catalog sizes")
    parser.add_argument("--dup-rate", type=float, default=0.02)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--translations", action="store_true", help="also the man-page translations check")
    parser.add_argument("--model", default="/work/me5", help="model for --translations")
    parser.add_argument("--languages", type=int, default=5, help="pages shipped in at least this many")
    parser.add_argument("--out", type=Path, help="keep the data here")
    args = parser.parse_args(argv)
    base = args.out or Path(tempfile.mkdtemp(prefix="bench-similar-"))
    try:
        out: dict = {"cpus": os.cpu_count(), "scale": []}
        for n in (int(x) for x in args.files.split(",") if x):
            out["scale"].append(scale_run(n, args.dup_rate, args.queries, args.seed, base))
        if args.translations:
            out["translations"] = translations_run(args.model, base, args.languages)
        print(json.dumps(out))
    finally:
        if args.out is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
