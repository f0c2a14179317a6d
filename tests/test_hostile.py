"""Hostile files and kills: memory and time stay bounded, one bad file never stops a run,
nothing blocks on a FIFO, and no extraction worker outlives its parent."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from pathlib import Path

import psutil
import pytest
from helpers import descendants, index_folder, snapshot, survivors

import indexer.ingest.prepare as prepare
from indexer.config import Config
from indexer.ingest.extract.html import html_to_text
from indexer.ingest.extract.text import extract_text
from indexer.ingest.scan import Found
from indexer.models.embedding import bundled_model_path

MB = 1024 * 1024
ORDINARY = {"a.txt": "The plumber sent an invoice in spring.", "b.md": "# Bread\n\nLet the dough rise.",
            "c.txt": "We camped by the lake."}


def ordinary_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in ORDINARY.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def assert_ordinary_indexed(files: dict, folder: Path) -> None:
    for name in ORDINARY:
        assert files[str(folder / name)]["status"] == "indexed", name


def words_without_newlines(size: int) -> str:
    words = ["river", "stone", "cloud", "paper", "window", "garden", "letter", "music", "orange", "silver"]
    return " ".join(words[(i * 7) % len(words)] for i in range(size // 6 + 1))[:size]


def write_epub(path: Path, chapter_bytes: int) -> Path:
    """A small EPUB whose one chapter inflates to `chapter_bytes`."""
    paragraph = b"<p>" + b"la " * 4000 + b"</p>\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("META-INF/container.xml", '<container><rootfiles><rootfile full-path="book.opf"/>'
                                                "</rootfiles></container>")
        book.writestr("book.opf", '<package><manifest><item id="c" href="c.xhtml" '
                                  'media-type="application/xhtml+xml"/></manifest>'
                                  '<spine><itemref idref="c"/></spine></package>')
        with book.open("c.xhtml", "w") as chapter:
            for _ in range(chapter_bytes // len(paragraph)):
                chapter.write(paragraph)
    return path


def peak_tree_rss(proc: subprocess.Popen, timeout: float) -> int:
    """Wait for `proc`, sampling the RSS of it and its children; the peak, in bytes."""
    watched, peak, deadline = psutil.Process(proc.pid), 0, time.monotonic() + timeout
    while proc.poll() is None:
        total = 0
        for p in [watched, *descendants(proc.pid)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        peak = max(peak, total)
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("indexing did not finish in time")
        time.sleep(0.02)
    return peak


# -- chunking -------------------------------------------------------------------------------------
CHUNK_MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    from tokenizers import Tokenizer
    from indexer.ingest.chunking import chunk_units
    from indexer.ingest.extract import TextUnit
    tokenizer = Tokenizer.from_file(sys.argv[1])
    tokenizer.no_truncation()
    words = "river stone cloud paper window garden letter music orange silver".split()
    text = " ".join(words[(i * 7) % len(words)] for i in range(2_000_000 // 6))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    chunks = chunk_units([TextUnit(text, None)], tokenizer)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"grown_kb": grown, "chunks": len(chunks), "covered": chunks[-1].char_end,
                      "length": len(text), "max_chars": max(len(c.text) for c in chunks),
                      "max_tokens": max(c.n_tokens for c in chunks)}))
""")


def test_chunking_a_line_without_breaks_keeps_memory_flat() -> None:
    tokenizer = bundled_model_path() / "tokenizer.json"
    out = subprocess.run([sys.executable, "-c", CHUNK_MEMORY_SCRIPT, str(tokenizer)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    result = json.loads(out)
    # The old chunker tokenized the 2 MB line at once and kept every token's offsets: +298 MB.
    assert result["grown_kb"] < 60 * 1024, result
    assert result["covered"] == result["length"]  # the whole line is chunked, to its last word
    assert result["max_tokens"] <= 256 and result["max_chars"] <= 8192


def test_a_huge_word_gives_bounded_chunks(tiny_model_dir: Path) -> None:
    """A tokenizer maps a word of over 100 letters to one unknown token: chunks still stay small."""
    from helpers import embedder_for

    from indexer.ingest.chunking import chunk_units
    from indexer.ingest.extract import TextUnit

    text = "x" * 300_000
    chunks = chunk_units([TextUnit(text, None)], embedder_for(str(tiny_model_dir)).tokenizer)
    assert chunks[-1].char_end == len(text)
    assert max(len(c.text) for c in chunks) <= 8192


# -- hostile files through the real CLI, memory measured --------------------------------------------
def test_no_newline_text_and_amplified_epub_index_within_memory(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = ordinary_folder(tmp_path)
    (docs / "long.txt").write_text(words_without_newlines(600_000), encoding="utf-8")
    write_epub(docs / "amplified.epub", 48 * MB)
    assert (docs / "amplified.epub").stat().st_size < 200_000
    data = tmp_path / "data"
    Config(model=str(tiny_model_dir), extract_memory_mb=64).save(data)
    env = {**os.environ, "FINDLING_DATA_DIR": str(data), "FINDLING_MODEL": str(tiny_model_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "indexer.cli", "index", "--phase", "text", str(docs)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = peak_tree_rss(proc, timeout=180)
    assert proc.returncode == 0, proc.stderr.read().decode()
    files = snapshot(data)
    assert_ordinary_indexed(files, docs)
    assert files[str(docs / "long.txt")]["status"] == "indexed", files[str(docs / "long.txt")]["reason"]
    assert files[str(docs / "long.txt")]["chunks"][-1][3] == 600_000  # chunked to its end
    epub = files[str(docs / "amplified.epub")]
    assert epub["status"] == "error"
    assert epub["reason"].startswith("too large to index: c.xhtml inflates to 48 MiB"), epub["reason"]
    # The old code indexed the chapter unbounded and tokenized the long line at once.
    print(f"peak RSS {peak / MB:.0f} MB")
    assert peak < 500 * MB, f"peak RSS {peak / MB:.0f} MB"


# -- the worker budget, exercised in the real worker processes --------------------------------------
DIED = "too large to index or malformed: the extraction process died (signal SIGABRT)"


@pytest.mark.parametrize(("task", "bad_name", "settings", "reason"), [
    ("aborting", "crash.txt", {}, DIED),
    ("allocating", "hog.txt", {"extract_memory_mb": 64}, "too large to index: extraction needs over 64 MB"),
    ("sleeping", "slow.txt", {"extract_timeout_s": 1.5}, "extraction timed out after 1.5 s"),
])
def test_a_worker_that_dies_or_overruns_records_its_file_and_the_batch_goes_on(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
    task: str, bad_name: str, settings: dict, reason: str,
) -> None:
    import worker_tasks

    docs = ordinary_folder(tmp_path)
    (docs / bad_name).write_text("this file breaks its extraction worker", encoding="utf-8")
    monkeypatch.setattr(prepare, "_extract_in_worker", getattr(worker_tasks, task))
    started = time.monotonic()
    report = index_folder(docs, tmp_path / "data", tiny_model_dir, Config(**settings))
    assert time.monotonic() - started < 60
    files = snapshot(tmp_path / "data")
    assert files[str(docs / bad_name)]["status"] == "error"
    assert files[str(docs / bad_name)]["reason"].startswith(reason), files[str(docs / bad_name)]["reason"]
    assert_ordinary_indexed(files, docs)
    assert report.indexed == len(ORDINARY) and report.errors == 1
    # The pool replaced the worker: the next run extracts again.
    (docs / "d.txt").write_text("A new file after the failure.", encoding="utf-8")
    monkeypatch.undo()
    report = index_folder(docs, tmp_path / "data", tiny_model_dir, Config(**settings))
    assert snapshot(tmp_path / "data")[str(docs / "d.txt")]["status"] == "indexed"


# -- HTML ---------------------------------------------------------------------------------------------
def test_deeply_nested_hidden_html_is_linear() -> None:
    depth = 100_000
    markup = "<p>before</p>" + "<svg>" * depth + "hidden" + "</svg>" * depth + "<p>after</p>"
    started = time.perf_counter()
    assert html_to_text(markup) == "before\nafter"
    assert time.perf_counter() - started < 10  # quadratic before: about 50 s at this depth


# -- FIFOs ---------------------------------------------------------------------------------------------
def finishes(fn, timeout: float = 5):
    """fn()'s result, or fail if it has not returned within `timeout` (it stays blocked, as a daemon)."""
    box: list = []
    thread = threading.Thread(target=lambda: box.append(fn()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "blocked"
    return box[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_swapped_in_after_the_scan_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "swap.txt"
    path.write_text("a regular file when scanned")
    st = path.stat()
    found = Found(str(path), st.st_size, st.st_mtime_ns)
    path.unlink()
    os.mkfifo(path)
    outcome = finishes(lambda: prepare.read_and_extract(found, 100))
    assert outcome.status == "error"
    assert outcome.reason == "cannot read file: not a regular file (a named pipe)"
    error = finishes(lambda: _os_error_of(lambda: extract_text(path)))  # an extractor's own open
    assert "not a regular file (a named pipe)" in str(error)


def _os_error_of(fn) -> OSError | None:
    try:
        fn()
    except OSError as exc:
        return exc
    return None


# -- kill -9 --------------------------------------------------------------------------------------------
def test_kill_9_of_index_leaves_no_worker_behind(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(300):
        (docs / f"doc{i:03d}.txt").write_text(f"Document {i} about rivers and stones. " * 40)
    env = {**os.environ, "FINDLING_DATA_DIR": str(tmp_path / "data"), "FINDLING_MODEL": str(tiny_model_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "indexer.cli", "index", str(docs)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (workers := descendants(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert workers, "the run ended before any worker started"
        time.sleep(0.3)  # the moment the issue caught: just after the pool started
        workers = descendants(proc.pid) or workers
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    left = survivors(workers, within_s=5)
    for straggler in left:
        straggler.kill()
    assert not left, [p.cmdline() for p in left]


def test_what_a_setup_loads_is_not_counted_against_the_tasks_budget() -> None:
    import worker_tasks

    from indexer.ingest.workers import Budget, TaskFailed, WorkerPool

    pool = WorkerPool(1, Budget(memory_mb=64, timeout_s=60), preload=("worker_tasks",))
    try:
        pool.set_setup(worker_tasks.hold_megabytes, 150)  # more than the whole task budget
        assert pool.submit(worker_tasks.allocate_megabytes, 40).result() == 150
        with pytest.raises(TaskFailed, match="too large to index"):  # the budget still holds for tasks
            pool.submit(worker_tasks.allocate_megabytes, 200).result()
    finally:
        pool.close()
