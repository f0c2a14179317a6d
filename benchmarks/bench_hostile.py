"""Hostile files: does `findling index --phase text` stay within memory and time on each?

Generates each case in a temp folder next to a few ordinary files (which must still be indexed),
runs `python -m indexer.cli index --phase text` on it in a subprocess with a fresh data dir, and
prints one JSON line per case: the hostile file's outcome (status and reason, from the catalog
and `findling status --json`), how many ordinary files were indexed, the wall time and the peak
RSS of the whole process tree (sampled every 20 ms with psutil). The first case, ordinary files
only, is the baseline. Target: every peak under 1 GB, every case done in bounded time.

    python benchmarks/bench_hostile.py [--model DIR] [--only NAME ...] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import psutil

MB = 1024 * 1024
WORDS = ["river", "stone", "cloud", "paper", "window", "garden", "letter", "music", "orange", "silver",
         "winter", "bridge", "mountain", "lantern", "harbor", "meadow", "copper", "candle", "forest"]
ORDINARY = {
    "notes.txt": "The plumber sent an invoice for the kitchen sink repair last spring.\n",
    "recipe.md": "# Bread\n\nMix flour, water, salt and yeast. Let the dough rise overnight.\n",
    "trip.txt": "We hiked along the ridge and camped by the lake under the stars.\n",
}


def words_without_newlines(size: int, seed: int) -> bytes:
    """`size` bytes of space-separated words: no newline, no sentence punctuation."""
    rng = random.Random(seed)
    block = " ".join(rng.choice(WORDS) for _ in range(200_000)).encode() + b" "
    return (block * (size // len(block) + 1))[:size]


def write_text(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    path.write_bytes(words_without_newlines(size, seed=size))
    return path


def write_amplified_epub(folder: Path, chapter_mib: int = 240, chapters: int = 2) -> Path:
    """A small EPUB (about 500 KB) whose chapters inflate to `chapter_mib` MiB each."""
    path = folder / "amplified.epub"
    paragraph = ("<p>" + "la " * 4000 + "</p>\n").encode()  # compresses about 900:1
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as book:
        book.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        book.writestr("META-INF/container.xml",
                      '<?xml version="1.0"?>'
                      '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
                      '<rootfiles><rootfile full-path="OEBPS/book.opf"/></rootfiles></container>')
        items = "".join(f'<item id="c{i}" href="c{i}.xhtml" media-type="application/xhtml+xml"/>'
                        for i in range(chapters))
        spine = "".join(f'<itemref idref="c{i}"/>' for i in range(chapters))
        book.writestr("OEBPS/book.opf", f'<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf">'
                                        f"<manifest>{items}</manifest><spine>{spine}</spine></package>")
        block = paragraph * (MB // len(paragraph))
        for i in range(chapters):
            with book.open(f"OEBPS/c{i}.xhtml", "w") as chapter:
                chapter.write(b"<html><body>")
                for _ in range(chapter_mib):
                    chapter.write(block)
                chapter.write(b"</body></html>")
    return path


def write_nested_html(folder: Path, depth: int = 200_000) -> Path:
    path = folder / "nested.html"
    path.write_text("<html><body><p>visible before</p>" + "<svg>" * depth + "hidden"
                    + "</svg>" * depth + "<p>visible after</p></body></html>", encoding="utf-8")
    return path


def write_fifo(folder: Path) -> Path:
    path = folder / "pipe.txt"
    os.mkfifo(path)
    return path


CASES: dict[str, Callable[[Path], Path | None]] = {
    "baseline_ordinary_files": lambda folder: None,
    "text_30mb_no_newline": lambda folder: write_text(folder, "long30.txt", 30 * MB),
    "text_90mb_no_newline": lambda folder: write_text(folder, "long90.txt", 90 * MB),
    "epub_2x240mib_chapters": write_amplified_epub,
    "html_200k_nested_svg": write_nested_html,
    "fifo": write_fifo,
}


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def run_measured(command: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, float, int]:
    """Exit code (None on timeout), wall seconds and peak process-tree RSS of `command`."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(watched))
        if time.perf_counter() - started > timeout:
            for child in watched.children(recursive=True):
                child.kill()
            proc.kill()
            proc.wait()
            return None, time.perf_counter() - started, peak
        time.sleep(0.02)
    return proc.returncode, time.perf_counter() - started, peak


def outcome(data: Path, hostile: Path | None, env: dict[str, str]) -> dict:
    status = json.loads(subprocess.run([sys.executable, "-m", "indexer.cli", "--data-dir", str(data),
                                        "status", "--json"], env=env, capture_output=True, text=True,
                                       check=True).stdout)
    result: dict = {"indexed": status["indexed"], "skipped": status["skipped"], "errors": status["errors"],
                    "chunks": status["chunks"]}
    if hostile is not None:
        conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT status, reason, n_chunks FROM files WHERE path = ?",
                               (str(hostile),)).fetchone()
        finally:
            conn.close()
        result["file"] = ({"status": row[0], "reason": row[1], "chunks": row[2]} if row
                          else {"status": "not in the catalog"})
    return result


def default_model() -> str:
    from indexer.models.embedding import bundled_model_path

    return str(bundled_model_path())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model dir for the tokenizer (default: bundled MiniLM)")
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="run only these cases")
    parser.add_argument("--timeout", type=float, default=600, help="seconds before a case counts as hung")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder")
    args = parser.parse_args()
    model = args.model or default_model()
    base = Path(tempfile.mkdtemp(prefix="findling-hostile-"))
    try:
        for name in args.only or CASES:
            folder = base / name / "files"
            folder.mkdir(parents=True)
            for file_name, text in ORDINARY.items():
                (folder / file_name).write_text(text, encoding="utf-8")
            hostile = CASES[name](folder)
            size = hostile.stat().st_size if hostile is not None and hostile.is_file() else 0
            data = base / name / "data"
            env = {**os.environ, "FINDLING_MODEL": model, "HF_HUB_OFFLINE": "1"}
            code, wall, peak = run_measured(
                [sys.executable, "-m", "indexer.cli", "--data-dir", str(data), "index", "--phase", "text",
                 str(folder)], env, args.timeout)
            record = {"case": name, "file_bytes": size, "exit_code": code, "timed_out": code is None,
                      "wall_s": round(wall, 2), "peak_rss_mb": round(peak / MB, 1),
                      "under_1gb": peak < 1024 * MB}
            if data.exists():
                record.update(outcome(data, hostile, env))
            record["ordinary_indexed"] = record.get("indexed", 0) - (
                1 if record.get("file", {}).get("status") == "indexed" else 0)
            print(json.dumps(record), flush=True)
            shutil.rmtree(base / name, ignore_errors=True)
    finally:
        if args.keep:
            print(json.dumps({"kept": str(base)}))
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
