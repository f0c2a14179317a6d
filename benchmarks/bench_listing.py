"""Filter-only listings (`type:pdf`, `-draft`): time to list the k newest matching files of a catalog
of N files, against a keyword search of the same catalog as the baseline, in the same run.

    python benchmarks/bench_listing.py [--files 100000] [--k 20] [--repeat 5]

Prints JSON. The catalog is synthetic (one chunk per file, no embeddings): only the SQL is measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from indexer.search.query import parse
from indexer.store.catalog import Catalog, NewChunk
from indexer.store.keyword import KeywordSearch

WORDS = ["harbour", "budget", "garden", "invoice", "draft", "report", "plan", "notes", "river", "bridge"]


def build(path: Path, files: int) -> None:
    catalog = Catalog(path)
    with catalog.transaction():
        for i in range(files):
            extension = ("pdf", "txt", "md", "jpg")[i % 4]
            text = f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7) % len(WORDS)]} note number {i}"
            chunk = NewChunk(0, text, None, 0, len(text), 8, f"h{i}", None)
            catalog.put_file(f"/docs/d{i % 100}/f{i}.{extension}", f"f{i}.{extension}", 100,
                             1_700_000_000_000_000_000 + i * 1_000_000_000, f"c{i}", "text", "indexed",
                             None, [chunk])
    catalog.close()


def timed(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "catalog.sqlite"
        started = time.perf_counter()
        build(path, args.files)
        built_s = time.perf_counter() - started
        catalog = Catalog(path, readonly=True)
        keyword = KeywordSearch(catalog)
        report = {"files": args.files, "k": args.k, "build_s": round(built_s, 1), "ms": {}}
        for text in ("type:pdf", "-draft", "type:md -draft", 'after:2023-11 before:2023-12'):
            query = parse(text)
            report["ms"][text] = round(timed(lambda q=query: keyword.newest_files(q, args.k), args.repeat), 2)
        baseline = parse("harbour budget type:pdf")
        report["ms"]["baseline: keyword search 'harbour budget type:pdf'"] = round(
            timed(lambda: keyword.search(baseline, 100), args.repeat), 2)
        catalog.close()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
