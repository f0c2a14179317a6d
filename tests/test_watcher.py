"""The live indexer on real folders with real watchdog observers: every change ends with the
catalog equal to a fresh full index of the folder, and moves keep their chunks."""

from __future__ import annotations

import ctypes
import dataclasses
import errno
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from helpers import (
    assert_same_index,
    assert_vectors_match_catalog,
    embedder_for,
    index_folder,
    searcher,
)

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.ingest.scan import Excludes, scan
from indexer.write.watcher import Batch, WatchCallbacks, Watcher, WatchOptions

DEBOUNCE = 0.05
TIMEOUT = 60.0  # generous: a loaded 2-core machine (the kill -9 test settles 400 files)
# watchdog warns when a folder moved into a just-watched folder is watched twice; it copes.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


def make_tree(folder: Path) -> Path:
    (folder / "notes").mkdir(parents=True)
    (folder / "projects" / "alpha").mkdir(parents=True)
    (folder / "a.txt").write_text("The cat sat on the mat and looked at the garden.")
    (folder / "notes" / "b.md").write_text("# Taxes\n\nFile the quarterly return before the deadline.")
    (folder / "projects" / "alpha" / "plan.txt").write_text("Alpha plan: build the bridge in spring.")
    (folder / "projects" / "alpha" / "budget.txt").write_text("Alpha budget: twelve thousand for steel.")
    return folder


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def catalog_state(data: Path) -> dict[str, tuple[int, int]]:
    if not (data / "catalog.sqlite").exists():
        return {}
    conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return {p: (s, m) for p, s, m in conn.execute("SELECT path, size, mtime_ns FROM files")}
    except sqlite3.OperationalError:  # schema not created yet
        return {}
    finally:
        conn.close()


def disk_state(folder: Path, config: Config | None = None) -> dict[str, tuple[int, int]]:
    excludes = Excludes.for_config(config or Config(), roots=[str(folder)])
    return {f.path: (f.size, f.mtime_ns) for f in scan(str(folder), excludes)}


def settle(watcher: Watcher, folder: Path, data: Path) -> None:
    """Wait until the catalog holds exactly the files on disk, as they are, and the watcher is idle."""
    wait_until(lambda: catalog_state(data) == disk_state(folder, watcher.config),
               "the catalog to match the disk")
    assert watcher.wait_idle(TIMEOUT)


def assert_fresh(folder: Path, data: Path, model: Path, config: Config | None = None) -> None:
    """The catalog equals a fresh full index of `folder`, and the saved vector file matches it."""
    fresh = data.parent / f"fresh-{time.monotonic_ns()}"
    index_folder(folder, fresh, model, config)
    assert_same_index(data, fresh)
    assert_vectors_match_catalog(data)


def assert_no_half_written_file(data: Path) -> None:
    """Each file has all its chunks, each chunk its FTS row; embedded chunks are in the saved vectors."""
    conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        short = conn.execute("SELECT count(*) FROM files f WHERE n_chunks != "
                             "(SELECT count(*) FROM chunks c WHERE c.file_id = f.id)").fetchone()[0]
        chunks = {r[0] for r in conn.execute("SELECT id FROM chunks")}
        fts = {r[0] for r in conn.execute("SELECT rowid FROM chunks_fts")}
        embedded = conn.execute("SELECT count(*) FROM chunks WHERE embedding IS NOT NULL").fetchone()[0]
    finally:
        conn.close()
    assert short == 0 and chunks == fts
    if embedded:  # a pipeline that embeds after the text may have stopped before any embedding
        assert_vectors_match_catalog(data)  # saved on stop


def chunk_ids(data: Path, path: Path) -> list[int]:
    conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return [r[0] for r in conn.execute(
            "SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE f.path = ? ORDER BY c.ordinal",
            (str(path),))]
    finally:
        conn.close()


def found_paths(data: Path, model: Path, query: str = "garden") -> set[str]:
    reader = searcher(data, model)
    try:
        return {r.path for r in reader.search(query, k=100)}
    finally:
        reader.close()


CALLBACKS = [f.name for f in dataclasses.fields(WatchCallbacks)]


@pytest.fixture
def start(tmp_path: Path, tiny_model_dir: Path) -> Iterator[Callable[..., Watcher]]:
    """Start a watcher on a folder into `tmp_path/data` (short debounce, no battery); stopped at the end."""
    started: list[Watcher] = []

    def make(folder: Path, config: Config | None = None, **settings) -> Watcher:
        settings = {"debounce": DEBOUNCE, "low_priority": False, "battery": lambda: None, **settings}
        callbacks = {name: settings.pop(name) for name in CALLBACKS if name in settings}
        watcher = Watcher(DataDir(tmp_path / "data"), config or Config(), embedder_for(str(tiny_model_dir)),
                          [str(folder)], WatchOptions(**settings), WatchCallbacks(**callbacks))
        started.append(watcher)
        watcher.start()
        return watcher

    yield make
    for watcher in started:
        watcher.stop()


def test_create_modify_delete_and_excludes(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    watcher = start(docs)
    settle(watcher, docs, data)
    assert_fresh(docs, data, tiny_model_dir)

    new = docs / "notes" / "garden.txt"
    new.write_text("Tomatoes need sun and water every day in the garden.")
    (docs / ".git").mkdir()
    (docs / ".git" / "HEAD").write_text("ref: refs/heads/main")
    (docs / "node_modules" / "pkg").mkdir(parents=True)
    (docs / "node_modules" / "pkg" / "index.js").write_text("module.exports = 1")
    (docs / "report.pdf.part").write_text("half a download")
    (docs / "~$draft.docx").write_text("office lock")
    settle(watcher, docs, data)
    assert str(new) in found_paths(data, tiny_model_dir)
    indexed = catalog_state(data)
    assert not any(".git" in p or "node_modules" in p or p.endswith((".part", ".docx")) for p in indexed)
    assert_fresh(docs, data, tiny_model_dir)

    new.write_text("Tomatoes need sun. Cucumbers need even more water than tomatoes do.")
    settle(watcher, docs, data)
    assert_fresh(docs, data, tiny_model_dir)

    new.unlink()
    settle(watcher, docs, data)
    assert str(new) not in found_paths(data, tiny_model_dir)
    assert_fresh(docs, data, tiny_model_dir)


def test_events_are_coalesced(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    batches: list[Batch] = []
    watcher = start(docs, on_batch=batches.append)
    settle(watcher, docs, data)
    watcher.pause()
    wait_until(lambda: watcher.status().state == "paused", "the pause")
    busy = docs / "busy.txt"
    busy.write_text("first draft")  # create + modify + modify
    with busy.open("a") as fh:
        fh.write(" second draft")
    with busy.open("a") as fh:
        fh.write(" third draft")
    brief = docs / "brief.txt"
    brief.write_text("here and gone")  # create then delete
    brief.unlink()
    wait_until(lambda: watcher.status().queued == 2, "both paths to be queued")
    time.sleep(10 * DEBOUNCE)  # let any straggling event arrive
    batches.clear()
    watcher.resume()
    settle(watcher, docs, data)
    live = [b for b in batches if b.kind == "live"]
    assert len(live[0].paths) == 2  # both paths in one batch
    assert sum(b.report.indexed for b in live) == 1  # one update for three writes
    assert [(c.action, c.path) for b in live for c in b.changes] == [("added", str(busy))]
    assert_fresh(docs, data, tiny_model_dir)


def test_rename_and_move_across_folders_keep_chunks(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    watcher = start(docs)
    settle(watcher, docs, data)
    ids_a = chunk_ids(data, docs / "a.txt")
    ids_b = chunk_ids(data, docs / "notes" / "b.md")
    os.rename(docs / "a.txt", docs / "cat.txt")
    (docs / "archive").mkdir()
    shutil.move(docs / "notes" / "b.md", docs / "archive" / "taxes.md")
    settle(watcher, docs, data)
    assert chunk_ids(data, docs / "cat.txt") == ids_a
    assert chunk_ids(data, docs / "archive" / "taxes.md") == ids_b
    assert str(docs / "a.txt") not in found_paths(data, tiny_model_dir)
    assert_fresh(docs, data, tiny_model_dir)


def test_moved_folder_keeps_chunks(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    batches: list[Batch] = []
    watcher = start(docs, on_batch=batches.append)
    settle(watcher, docs, data)
    alpha = docs / "projects" / "alpha"
    before = {name: chunk_ids(data, alpha / name) for name in ("plan.txt", "budget.txt")}
    (docs / "archive").mkdir()
    batches.clear()
    shutil.move(docs / "projects" / "alpha", docs / "archive" / "alpha-2024")
    settle(watcher, docs, data)
    for name, ids in before.items():
        assert chunk_ids(data, docs / "archive" / "alpha-2024" / name) == ids
    assert sum(b.report.chunks_embedded for b in batches) == 0
    assert sorted(c.action for b in batches for c in b.changes) == ["moved", "moved"]
    assert_fresh(docs, data, tiny_model_dir)


def test_folders_moved_in_follow_the_root_relative_excludes(tmp_path: Path, tiny_model_dir: Path,
                                                            start) -> None:
    """A user's `.config/scratch/` is excluded at the root only: judged relative to the root, not the
    new folder (the default excludes match at any depth; the user's are gitignore patterns)."""
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    outside = tmp_path / "outside"
    config = Config(excludes=[".config/scratch/"])
    for folder in (outside / ".config" / "scratch" / "Default", outside / ".config" / "app",
                   outside / "proj" / ".config" / "scratch"):
        folder.mkdir(parents=True)
    (outside / ".config" / "scratch" / "Default" / "secret.txt").write_text("Scratch space: private.")
    (outside / ".config" / "app" / "settings.txt").write_text("Settings of the app: dark theme.")
    (outside / "proj" / ".config" / "scratch" / "notes.txt").write_text("Notes on the scratch build.")
    watcher = start(docs, config)
    settle(watcher, docs, data)
    shutil.move(outside / ".config", docs / ".config")
    shutil.move(outside / "proj", docs / "proj")
    settle(watcher, docs, data)
    indexed = catalog_state(data)
    assert str(docs / ".config" / "app" / "settings.txt") in indexed
    assert str(docs / "proj" / ".config" / "scratch" / "notes.txt") in indexed
    assert not any("secret" in p for p in indexed)
    assert_fresh(docs, data, tiny_model_dir, config)


@pytest.mark.parametrize("temporary", ["report.txt.tmp", "report.txt.new"])
def test_save_by_rename(tmp_path: Path, tiny_model_dir: Path, start, temporary: str) -> None:
    """Editors write a temporary file and rename it over the original (excluded name or not)."""
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    target = docs / "report.txt"
    target.write_text("Quarterly report: revenue grew in the garden centre.")
    watcher = start(docs)
    settle(watcher, docs, data)
    for version in range(3):
        tmp = docs / temporary
        tmp.write_text(f"Quarterly report, version {version}: revenue grew again.")
        os.replace(tmp, target)
        settle(watcher, docs, data)
    assert not any(temporary in p for p in catalog_state(data))
    assert_fresh(docs, data, tiny_model_dir)


@pytest.mark.parametrize("max_queue", [5000, 300])
def test_burst_of_1000_files_is_indexed_in_batches(tmp_path: Path, tiny_model_dir: Path, start,
                                                   max_queue: int) -> None:
    """Within the queue bound: batches of at most `batch_paths`. Past it: the root is rescanned."""
    docs = tmp_path / "docs"
    docs.mkdir()
    data = tmp_path / "data"
    batches: list[Batch] = []
    watcher = start(docs, on_batch=batches.append, batch_paths=50, max_queue=max_queue)
    settle(watcher, docs, data)
    batches.clear()
    for i in range(1000):
        (docs / f"burst{i:04d}.txt").write_text(f"Burst file {i} is about item {i * 7} near river {i % 13}.")
    settle(watcher, docs, data)
    peak = watcher.status().queue_peak
    assert peak <= max_queue
    if max_queue > 1000:
        live = [b for b in batches if b.kind == "live"]
        assert len(live) >= 20 and all(len(b.paths) <= 50 for b in live)
        assert peak > 50  # the burst really queued up
    else:
        assert peak == max_queue and any(b.kind == "reconcile" for b in batches)
    assert_fresh(docs, data, tiny_model_dir)


def test_changes_while_stopped_are_reconciled(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    watcher = start(docs)
    settle(watcher, docs, data)
    watcher.stop()
    ids = chunk_ids(data, docs / "notes" / "b.md")
    (docs / "added.txt").write_text("A note written while the watcher was not running.")
    (docs / "a.txt").write_text("The dog sat on the mat instead of the cat.")
    (docs / "projects" / "alpha" / "budget.txt").unlink()
    os.rename(docs / "notes" / "b.md", docs / "taxes.md")

    batches: list[Batch] = []
    watcher = start(docs, on_batch=batches.append)
    settle(watcher, docs, data)
    assert batches[0].kind == "reconcile"
    assert {(c.action, Path(c.path).name) for c in batches[0].changes} == {
        ("added", "added.txt"), ("updated", "a.txt"), ("removed", "budget.txt"), ("moved", "taxes.md")}
    assert chunk_ids(data, docs / "taxes.md") == ids
    assert_fresh(docs, data, tiny_model_dir)


def test_file_created_during_the_reconcile_scan_is_not_lost(tmp_path: Path, tiny_model_dir: Path,
                                                             start) -> None:
    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    late = docs / "late.txt"

    class WriteDuringReconcile:
        """Creates a file after the reconcile scan has walked the folder, while it indexes."""

        def start(self, total: int) -> None:
            pass

        def advance(self, path: str, chunks: int) -> None:
            if not late.exists():
                late.write_text("Written while the reconcile was indexing.")

        def message(self, text: str) -> None:
            pass

    watcher = start(docs, reconcile_progress=WriteDuringReconcile())
    settle(watcher, docs, data)
    assert str(late) in catalog_state(data)
    assert_fresh(docs, data, tiny_model_dir)


def test_pause_and_resume(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    """Paused in the engine, from the command line (another process's view) and on a low battery."""
    from indexer.cli import cli

    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    battery = {"reading": None}
    watcher = start(docs, battery=lambda: battery["reading"], max_queue=20)
    settle(watcher, docs, data)
    reasons = []

    def paused_queues_then_resumes(pause: Callable[[], None], resume: Callable[[], None], name: str) -> None:
        pause()
        wait_until(lambda: watcher.status().state == "paused", f"the {name} pause", timeout=15)
        reasons.append(watcher.status().pause_reason)
        new = docs / f"{name}.txt"
        new.write_text(f"Written while paused ({name}).")
        wait_until(lambda: watcher.status().queued >= 1, "the event to queue")
        time.sleep(10 * DEBOUNCE)
        assert str(new) not in catalog_state(data)
        resume()
        settle(watcher, docs, data)

    paused_queues_then_resumes(watcher.pause, watcher.resume, "api")
    runner = CliRunner()
    cli_args = ["--data-dir", str(data), "--model", str(tiny_model_dir)]
    paused_queues_then_resumes(lambda: runner.invoke(cli, [*cli_args, "pause"], catch_exceptions=False),
                               lambda: runner.invoke(cli, [*cli_args, "resume"], catch_exceptions=False),
                               "cli")
    low = SimpleNamespace(percent=12.0, power_plugged=False, secsleft=3600)
    watcher._gate.battery_poll = 0.1  # read the fake battery often
    paused_queues_then_resumes(lambda: battery.update(reading=low),
                               lambda: battery.update(reading=None), "battery")
    assert reasons[0] == "paused" and "findling resume" in reasons[1] and "12%" in reasons[2]

    # A burst past the queue bound while paused: the root is rescanned on resume, nothing is lost.
    watcher.pause()
    for i in range(60):
        (docs / f"paused{i:02d}.txt").write_text(f"Queued while paused, number {i}.")
    wait_until(lambda: watcher.status().queued == 0 and watcher.status().queue_peak == 20, "the overflow")
    watcher.resume()
    settle(watcher, docs, data)
    assert watcher.status().queue_peak <= 20
    assert_fresh(docs, data, tiny_model_dir)


def test_stop_mid_reconcile_leaves_a_consistent_index(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(300):
        (docs / f"doc{i:03d}.txt").write_text(f"Document {i} describes the harbour and boat {i}.")
    data = tmp_path / "data"
    watchers: list[Watcher] = []

    class StopHalfway:
        done = 0

        def start(self, total: int) -> None:
            pass

        def advance(self, path: str, chunks: int) -> None:
            self.done += 1
            if self.done == 150:  # the pipeline has committed files 1-256 (one transaction per 128)
                watchers[0].stop()

        def message(self, text: str) -> None:
            pass

    watchers.append(start(docs, reconcile_progress=StopHalfway()))
    wait_until(lambda: watchers[0].status().state == "stopped", "the stop")
    assert 0 < len(catalog_state(data)) < 300
    assert_no_half_written_file(data)
    with DataDir(data).writer_lock():  # released on stop
        pass
    watcher = start(docs)
    settle(watcher, docs, data)
    assert_fresh(docs, data, tiny_model_dir)


@pytest.mark.parametrize("refused", ["root", "subfolder", None])
def test_refused_watches_fall_back_to_polling(tmp_path: Path, tiny_model_dir: Path, start,
                                              monkeypatch: pytest.MonkeyPatch, refused: str | None) -> None:
    """The kernel refusing inotify watches (simulated at the syscall wrapper), or a polled root."""
    from watchdog.observers import inotify_c

    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    real_add_watch = inotify_c.inotify_add_watch

    def add_watch(fd: int, path: bytes, mask: int) -> int:
        if refused == "root" or (refused == "subfolder" and path != os.fsencode(docs)):
            ctypes.set_errno(errno.ENOSPC)
            return -1
        return real_add_watch(fd, path, mask)

    monkeypatch.setattr(inotify_c, "inotify_add_watch", add_watch)
    config = Config()
    if refused is None:
        config.poll_roots = [str(docs)]  # a proposed Config field
    messages: list[str] = []
    config.poll_interval = 0.1
    watcher = start(docs, config, on_message=messages.append)
    settle(watcher, docs, data)
    assert watcher.status().polling == (str(docs),)
    assert [w.poll_interval for w in watcher._watches] == [0.1]  # Config.poll_interval is used
    if refused:
        assert "sudo sysctl fs.inotify.max_user_watches=524288" in watcher.status().last_error
        assert "/etc/sysctl.d/" in messages[0]
    (docs / "projects" / "alpha" / "new.txt").write_text("Noticed by polling.")
    os.rename(docs / "a.txt", docs / "cat.txt")
    settle(watcher, docs, data)
    assert_fresh(docs, data, tiny_model_dir)


def test_watch_command_stops_cleanly_on_sigterm(tmp_path: Path, tiny_model_dir: Path) -> None:
    from indexer.cli import cli

    docs = make_tree(tmp_path / "docs")
    data = tmp_path / "data"
    original = signal.getsignal(signal.SIGTERM)

    def write_then_terminate() -> None:
        wait_until(lambda: signal.getsignal(signal.SIGTERM) is not original, "the SIGTERM handler")
        wait_until(lambda: len(catalog_state(data)) == 4, "the reconcile")
        (docs / "fresh.txt").write_text("Indexed while the command watches.")
        wait_until(lambda: str(docs / "fresh.txt") in catalog_state(data), "the live update")
        os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=write_then_terminate)
    helper.start()
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_model_dir),
                                      "watch", str(docs), "--debounce", str(DEBOUNCE)])
    helper.join()
    assert result.exit_code == 0, result.output
    assert f"indexed  {docs / 'fresh.txt'}" in result.stderr
    assert "Stopped." in result.stderr
    assert signal.getsignal(signal.SIGTERM) is original
    assert DataDir(data).config().roots == [str(docs)]
    assert_vectors_match_catalog(data)
    assert_fresh(docs, data, tiny_model_dir)


def test_kill_9_during_a_burst_then_restart_matches_disk(tmp_path: Path, tiny_model_dir: Path, start) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    data = tmp_path / "data"
    code = "from indexer.cli import cli; cli(prog_name='findling')"
    log = tmp_path / "watch.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "--data-dir", str(data), "--model", str(tiny_model_dir),
             "watch", str(docs), "--debounce", str(DEBOUNCE)],
            stdout=subprocess.DEVNULL, stderr=stderr,
        )
    try:
        wait_until(lambda: "Watching" in log.read_text() or proc.poll() is not None, "the watcher", 120)
        assert proc.poll() is None, log.read_text()
        files = 400
        for i in range(files):
            (docs / f"crash{i:03d}.txt").write_text(f"Crash test file {i} about lanterns and {i * 3} owls.")
        wait_until(lambda: len(catalog_state(data)) > 0, "the first batch")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert len(catalog_state(data)) < files, "the kill landed after the burst was done"
    watcher = start(docs)
    settle(watcher, docs, data)
    assert_fresh(docs, data, tiny_model_dir)


def test_embedding_phase_reports_progress_and_embeds_an_opened_file_next(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    """The watcher reads every file first (phase text), then embeds in small batches (phase embed);
    a file asked for with `prioritize` is embedded in the very next batch."""
    docs = tmp_path / "docs"
    docs.mkdir()
    old = time.time() - 90 * 86400  # oldest and not recent: last in the embedding order
    for i in range(12):
        (docs / f"note{i:02d}.txt").write_text(f"Note {i} about compost and tomatoes, number {i}.")
    (docs / "wanted.txt").write_text("The zeppelin manual the user opened.")
    os.utime(docs / "wanted.txt", (old, old))
    embedder = embedder_for(str(tiny_model_dir))
    real = embedder.encode_passages
    calls: list[list[str]] = []
    holder: list[Watcher] = []

    def encode(texts: list[str]):  # noqa: ANN202
        calls.append(list(texts))
        if len(calls) == 1:
            holder[0].prioritize(str(docs / "wanted.txt"))  # as the app does when a result is opened
        return real(texts)

    embedder.encode_passages = encode
    statuses, batches = [], []
    options = WatchOptions(debounce=DEBOUNCE, low_priority=False, battery=lambda: None, embed_batch_chunks=2)
    watcher = Watcher(DataDir(tmp_path / "data"), Config(), embedder, [str(docs)], options,
                      WatchCallbacks(on_status=statuses.append, on_batch=batches.append))
    holder.append(watcher)
    with watcher:
        wait_until(lambda: len(calls) >= 7 and watcher.status().state == "idle", "embedding to finish")
    assert not any("zeppelin" in text for text in calls[0])
    assert any("zeppelin" in text for text in calls[1]), calls[1]  # next, ahead of 5 older batches
    assert all(len(texts) <= 2 for texts in calls)
    phases = [s.phase for s in statuses if s.state in ("reconciling", "running")]
    assert phases.index("text") < phases.index("embed") and set(phases) == {"text", "embed"}
    embedding = [s for s in statuses if s.phase == "embed" and s.total]
    assert embedding[-1].done == embedding[-1].total == 13
    assert all(s.phase is None for s in statuses if s.state == "idle")
    assert [b.kind for b in batches][0] == "reconcile" and batches[0].report.chunks_pending == 13
    embedded = [b for b in batches if b.kind == "embed"]
    assert sum(b.report.chunks_embedded for b in embedded) == 13 and embedded[-1].report.chunks_pending == 0
    assert_vectors_match_catalog(tmp_path / "data")


def test_a_live_change_during_a_long_reconcile_does_not_cut_it_short(tmp_path: Path, tiny_model_dir: Path,
                                                                     start) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(300):  # three text batches (128 files each)
        (docs / f"n{i:03d}.txt").write_text(f"Note number {i} about the garden.")
    made = threading.Event()

    def on_status(status) -> None:  # noqa: ANN001
        if status.state == "reconciling" and status.done == 1 and not made.is_set():
            made.set()
            (docs / "n000.txt").write_text("Edited while the first batch was read.")
            time.sleep(0.3)  # the edit is due before the next commit

    watcher = start(docs, on_status=on_status)
    settle(watcher, docs, tmp_path / "data")
    assert made.is_set() and len(catalog_state(tmp_path / "data")) == 300
