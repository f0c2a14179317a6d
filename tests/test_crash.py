"""kill -9 in the middle of `findling index`: the next run ends with a clean, consistent index."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from helpers import assert_same_index, assert_vectors_match_catalog, index_folder, kill_9

FILES = 1200
WORDS = ["river", "mountain", "cloud", "paper", "window", "garden",
         "letter", "music", "orange", "silver", "winter", "bridge"]


def write_corpus(folder: Path) -> None:
    folder.mkdir()
    for i in range(FILES):
        sentences = [
            f"Document {i} sentence {j} mentions {WORDS[(i + j) % len(WORDS)]} and "
            f"{WORDS[(i * j) % len(WORDS)]} near item {i * 31 + j}."
            for j in range(40)
        ]
        (folder / f"doc{i:04d}.txt").write_text(" ".join(sentences), encoding="utf-8")


def indexed_files(data: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT count(*) FROM files").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def test_kill_9_mid_index_then_rerun_equals_clean_index(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    write_corpus(docs)
    data = tmp_path / "data"
    env = {**os.environ, "FINDLING_DATA_DIR": str(data), "FINDLING_MODEL": str(tiny_model_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "indexer.cli", "index", str(docs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while indexed_files(data) == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    left = kill_9(proc)
    assert not left, "extraction workers outlived the killed index"
    at_kill = indexed_files(data)
    assert 0 < at_kill < FILES, f"kill landed outside the run ({at_kill} files)"

    report = index_folder(docs, data, tiny_model_dir)
    assert report.unchanged == at_kill  # committed work is kept, not redone
    assert_vectors_match_catalog(data)
    clean = tmp_path / "clean"
    index_folder(docs, clean, tiny_model_dir)
    assert_same_index(data, clean)
