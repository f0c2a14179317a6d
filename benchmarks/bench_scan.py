"""The cost of the exclude rules in a scan: a generated tree of small files walked three ways.

- `bare`: `os.walk` + `lstat`, no rules at all (the floor);
- `pathspec_per_pattern` (baseline, same run): the default excludes matched at any depth on the
  absolute path with `pathspec.GitIgnoreSpec`, which tries each of its ~110 patterns in turn;
- `scan`: `indexer.scan.scan` with the index's rules (defaults in one regular expression, the
  data dir, the user's patterns, symlinks judged by their target; 1% of the files are links).

    python benchmarks/bench_scan.py [--files 20000] [--repeat 3]

Prints one JSON object on stdout: best-of-`repeat` seconds and microseconds per file.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pathspec

from indexer.config import DEFAULT_EXCLUDES, Config
from indexer.ingest.excludes import anywhere
from indexer.ingest.scan import Excludes, scan


def make_tree(root: Path, files: int) -> None:
    per_folder = 100
    for i in range(files):
        folder = root / f"project{i // 2000}" / f"folder{i // per_folder}"
        if i % per_folder == 0:
            folder.mkdir(parents=True)
        path = folder / f"note{i}.txt"
        if i % 100 == 99:
            path.symlink_to(folder / f"note{i - 1}.txt")
        else:
            path.write_bytes(b"")


def bare(root: str) -> int:
    count = 0
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            os.lstat(os.path.join(dirpath, name))
            count += 1
    return count


def per_pattern(root: str) -> int:
    spec = pathspec.GitIgnoreSpec.from_lines([anywhere(p) for p in DEFAULT_EXCLUDES])
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not spec.match_file(os.path.join(dirpath, d).lstrip("/") + "/")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not spec.match_file(path.lstrip("/")):
                os.lstat(path)
                count += 1
    return count


def best(run: Callable[[], int], repeat: int) -> tuple[float, int]:
    times, count = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = run()
        times.append(time.perf_counter() - started)
    return min(times), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "home")
        make_tree(Path(root), args.files)
        config = Config(excludes=["*.log", "!keep.log"])
        rules = Excludes.for_config(config, os.path.join(tmp, "data"), [root])
        results = {}
        for name, run in [("bare", lambda: bare(root)), ("pathspec_per_pattern", lambda: per_pattern(root)),
                          ("scan", lambda: sum(1 for _ in scan(root, rules)))]:
            seconds, count = best(run, args.repeat)
            results[name] = {"seconds": round(seconds, 3), "us_per_file": round(seconds / count * 1e6, 1),
                             "files": count}
    print(json.dumps({"files": args.files, "default_patterns": len(DEFAULT_EXCLUDES), **results}, indent=2))


if __name__ == "__main__":
    main()
