"""The background ONNX export (`indexer.models.auto_export`): a first index of a model with no ONNX
model exports it once, at low priority, atomically, with its state in `findling status`; embedding
waits for it (or falls back to PyTorch with the reason); a later run uses it without exporting again.

Each test has its own copy of a tiny model and its own models dir (FINDLING_MODELS_DIR), so no other
test ever sees these exports; conftest turns the export off for every other test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from filelock import FileLock
from helpers import embedder_for, kill_9
from tiny_models import _save_tokenizer, build_tokenizer

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.models import auto_export, onnx_export
from indexer.models.auto_export import EXIT_BUSY, ExportingEmbedder, needs_export, read_state, start_export
from indexer.models.embedding import model_info
from indexer.models.onnx_runtime import MODELS_DIR_ENV, default_export_dir, registered_export
from indexer.search.query import parse
from indexer.store.keyword import KeywordSearch
from indexer.write.watcher import Watcher, WatchOptions

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models dir of this test's own, and the export turned on (conftest turns it off)."""
    folder = tmp_path / "models"
    monkeypatch.setenv(MODELS_DIR_ENV, str(folder))
    monkeypatch.setenv(auto_export.AUTO_EXPORT_ENV, "1")
    monkeypatch.delenv(auto_export.POLICY_ENV, raising=False)
    return folder


@pytest.fixture
def model(tmp_path: Path, tiny_model_dir: Path) -> Iterator[Path]:
    """A copy of the tiny model at a path of this test's own (exports are keyed by the model's path);
    an export of it still running after a failed test is ended."""
    path = Path(shutil.copytree(tiny_model_dir, tmp_path / "tiny")).resolve()
    yield path
    for proc in export_processes(path):
        proc.kill()


def notes(folder: Path, count: int = 3, start: int = 0) -> Path:
    folder.mkdir(exist_ok=True)
    for n in range(start, start + count):
        (folder / f"note-{n}.txt").write_text(f"Note {n}: the invoice from the plumber for the kitchen tap.")
    return folder


def findling(*args: str, data: Path, model: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "indexer.cli", "--data-dir", str(data), "--model", str(model), *args]
    return subprocess.run(command, cwd=ROOT, env={**os.environ, "FINDLING_BACKEND": "", **env},
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)


def status(data: Path, model: Path) -> dict:
    result = findling("status", "--json", data=data, model=model)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def export_processes(model: Path) -> list[psutil.Process]:
    """Export children of `model` still running (they run in their own session, so not our descendants)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "indexer.models.auto_export" in cmdline and str(model) in cmdline:
            found.append(proc)
    return found


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT,
               step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def test_first_index_exports_in_the_background_and_later_runs_reuse_it(models: Path, model: Path,
                                                                       tmp_path: Path) -> None:
    docs, data = notes(tmp_path / "docs"), tmp_path / "data"
    # The index's first passages: PyTorch, as before this feature.
    first = findling("index", str(docs), data=data, model=model, **{auto_export.AUTO_EXPORT_ENV: "0"})
    assert first.returncode == 0, first.stderr
    assert status(data, model)["embedding_backends"] == {"PyTorch": 3}

    notes(docs, 2, start=3)
    second = findling("index", str(docs), data=data, model=model, **{auto_export.POLICY_ENV: "wait"})
    assert second.returncode == 0, second.stderr
    assert "exporting it in the background at low priority" in second.stderr
    assert "embedding waits for it" in second.stderr and "embedding with ONNX" in second.stderr
    report = status(data, model)
    assert report["onnx_export"]["state"] == "done"
    assert "fp32 cosine mean" in report["onnx_export"]["validation"]
    assert report["model_in_use"]["backend"].startswith("ONNX")
    assert registered_export(str(model)) == default_export_dir(str(model))
    # The new passages came from ONNX, the old ones from PyTorch: recorded, and said.
    backends = report["embedding_backends"]
    assert backends["PyTorch"] == 3 and sum(backends.values()) == 5 and len(backends) == 2
    assert report["mixed_backends"] is True
    text = findling("status", data=data, model=model).stdout
    assert "passages embedded by two backends" in text and "PyTorch 3" in text

    exported = read_state(str(model))
    third = findling("index", str(notes(tmp_path / "more")), data=tmp_path / "data-2", model=model)
    assert third.returncode == 0, third.stderr
    assert "exporting" not in third.stderr  # the finished export is used, not made again
    assert read_state(str(model)) == exported
    assert list(status(tmp_path / "data-2", model)["embedding_backends"]) == [
        backends_key for backends_key in backends if backends_key != "PyTorch"]
    assert export_processes(model) == []


def test_embedding_on_pytorch_while_the_export_runs(models: Path, model: Path, tmp_path: Path) -> None:
    """The other way: embed with PyTorch at once; the export goes on in the background and the next
    run embeds with it."""
    docs, data = notes(tmp_path / "docs"), tmp_path / "data"
    first = findling("index", str(docs), data=data, model=model, **{auto_export.POLICY_ENV: "torch"})
    assert first.returncode == 0, first.stderr
    assert "embedding uses PyTorch until it is ready" in first.stderr
    report = status(data, model)
    assert report["chunks_pending"] == 0 and report["chunks_embedded"] == 3
    if report["onnx_export"]["state"] == "running":  # as a rule: 3 notes embed before the export ends
        assert "goes on in the background" in first.stderr
        assert "exporting to ONNX in the background" in findling("status", data=data, model=model).stdout
    assert auto_export.BackgroundExport(str(model), None).wait(TIMEOUT)
    assert read_state(str(model))["state"] == "done"
    second = findling("index", str(notes(docs, 1, start=3)), data=data, model=model)
    assert second.returncode == 0 and "exporting" not in second.stderr
    assert "ONNX fp32" in status(data, model)["embedding_backends"] or "ONNX int8" in status(
        data, model)["embedding_backends"]
    assert export_processes(model) == []


def test_the_export_starts_once_and_a_kill_9_leaves_no_half_export(models: Path, model: Path) -> None:
    info = model_info(str(model), model)
    assert needs_export(info)
    jobs = [start_export(info), start_export(info)]  # two starters at once
    assert jobs[0].process is not None
    wait_until(lambda: (read_state(info.model_id) or {}).get("state") == "running", "the export to start")
    started = [job for job in jobs if job.process is not None]
    # One child exports; a second one (started before the first held the lock) gives way at once.
    first = next(job for job in started if job.process.pid == read_state(info.model_id)["pid"])
    for other in started:
        if other is not first:
            assert other.process.wait(TIMEOUT) == EXIT_BUSY
    assert first.process.poll() is None

    # Paused with indexing: the process is stopped, then goes on.
    exporter = psutil.Process(first.process.pid)
    first.pause()
    wait_until(lambda: exporter.status() == psutil.STATUS_STOPPED, "the export to stop", timeout=10)
    first.resume()
    wait_until(lambda: exporter.status() != psutil.STATUS_STOPPED, "the export to go on", timeout=10)
    # Paused by a writer that died since: the next starter lets it go on (and starts no second export).
    first.pause()
    wait_until(lambda: exporter.status() == psutil.STATUS_STOPPED, "the export to stop", timeout=10)
    assert read_state(info.model_id)["starter_pid"] == os.getpid()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(psutil, "pid_exists", lambda pid: pid != os.getpid())  # as if this process were gone
        assert start_export(info).process is None
    wait_until(lambda: exporter.status() != psutil.STATUS_STOPPED, "the orphaned export to go on", timeout=10)

    destination = default_export_dir(info.model_id)
    staging = destination.with_name(f".{destination.name}.staging-{first.process.pid}")
    wait_until(lambda: (staging / "model.onnx").exists(), "the export to write its graph", step=0.005)
    assert kill_9(first.process) == []
    assert not destination.exists() and registered_export(info.model_id) is None
    state = read_state(info.model_id)
    assert state["state"] == "interrupted" and "ended before it finished" in state["reason"]
    assert needs_export(info)  # the next index run starts it again

    again = start_export(info)
    assert again.wait(TIMEOUT) and again.process.returncode == 0
    assert read_state(info.model_id)["state"] == "done"
    assert registered_export(info.model_id) == destination and (destination / "manifest.json").exists()
    assert not staging.exists()  # the killed export's leftovers are gone
    assert not needs_export(info)
    assert export_processes(model) == []


def test_an_export_under_another_exporters_lock_gives_way(models: Path, model: Path) -> None:
    models.mkdir()
    lock = FileLock(str(auto_export.lock_path(str(model))), timeout=0)
    with lock:
        assert auto_export.run_export(str(model), model) == EXIT_BUSY
        job = start_export(model_info(str(model), model))  # another exporter runs: followed, not started
        assert job.process is None and job.running()
    assert registered_export(str(model)) is None and read_state(str(model)) is None


def dense_model(directory: Path, tiny_model_dir: Path) -> Path:
    """The tiny model with a Dense layer after pooling: PyTorch runs it, the ONNX backend cannot."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer.modules import Dense, Normalize
    except ImportError:  # older sentence-transformers
        from sentence_transformers.models import Dense, Normalize

    torch.manual_seed(0)
    base = SentenceTransformer(str(tiny_model_dir), device="cpu")
    dense = SentenceTransformer(modules=[base[0], base[1], Dense(32, 16), Normalize()], device="cpu")
    dense.save(str(directory), create_model_card=False)
    _save_tokenizer(build_tokenizer(), directory, 128)
    return directory.resolve()


def test_a_failed_export_is_recorded_and_embedding_falls_back_to_pytorch(models: Path, tmp_path: Path,
                                                                         tiny_model_dir: Path) -> None:
    model = dense_model(tmp_path / "dense", tiny_model_dir)
    docs, data = notes(tmp_path / "docs"), tmp_path / "data"
    result = findling("index", str(docs), data=data, model=model)
    assert result.returncode == 0, result.stderr
    assert "The ONNX export of" in result.stderr and "failed" in result.stderr
    assert "embedding with PyTorch" in result.stderr and "not supported by the ONNX backend" in result.stderr
    report = status(data, model)
    assert report["chunks_pending"] == 0 and report["embedding_backends"] == {"PyTorch": 3}
    assert report["onnx_export"]["state"] == "failed"
    assert "not supported by the ONNX backend" in report["onnx_export"]["reason"]
    text = findling("status", data=data, model=model).stdout
    assert "ONNX export failed" in text and "embedding uses PyTorch" in text
    assert registered_export(str(model)) is None
    # Not retried by itself: the next run embeds with PyTorch at once, and status keeps the reason.
    assert not needs_export(model_info(str(model), model))
    again = findling("index", str(notes(docs, 1, start=3)), data=data, model=model)
    assert again.returncode == 0 and "exporting" not in again.stderr
    assert status(data, model)["embedding_backends"] == {"PyTorch": 4}
    assert export_processes(model) == []


def test_an_export_that_fails_its_cosine_gate_is_never_used(models: Path, model: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    threads = torch.get_num_threads()
    monkeypatch.setitem(onnx_export.THRESHOLDS, "fp32", 1.01)  # no export can reach it
    monkeypatch.setitem(onnx_export.THRESHOLDS, "int8", 1.01)
    try:
        assert auto_export.run_export(str(model), model) == 1
    finally:
        torch.set_num_threads(threads)  # the export's one thread is for its own process
    state = read_state(str(model))
    assert state["state"] == "failed" and "ExportRefused" in state["reason"] and "FAILED" in state["reason"]
    assert registered_export(str(model)) is None and not default_export_dir(str(model)).exists()
    assert "embedding uses PyTorch" in auto_export.describe(state)


def pending(data: DataDir) -> int:
    catalog = data.open_catalog(readonly=True)
    try:
        return catalog.embedding_progress()[1]
    finally:
        catalog.close()


class RunningExport:
    """A stand-in for a background export that runs until told to stop; records pauses."""

    def __init__(self) -> None:
        self.finished = threading.Event()
        self.paused: list[bool] = []

    def running(self) -> bool:
        return not self.finished.is_set()

    def state(self) -> dict:
        return {"state": "failed", "reason": "stopped by the test"}

    def pause(self) -> None:
        self.paused.append(True)

    def resume(self) -> None:
        self.paused.append(False)


def test_while_the_export_runs_keyword_search_works_and_the_export_pauses_with_indexing(
        models: Path, model: Path, tmp_path: Path) -> None:
    docs = notes(tmp_path / "docs")
    info = model_info(str(model), model)
    job = RunningExport()
    torch_embedder = embedder_for(str(model))
    embedder = ExportingEmbedder(info, torch_embedder, job, lambda: (torch_embedder, None), policy="wait")
    data = DataDir(tmp_path / "data")
    watcher = Watcher(data, Config(), embedder, [str(docs)],
                      WatchOptions(debounce=0.05, low_priority=False, battery=lambda: None))
    watcher.start()
    try:
        wait_until(lambda: watcher.status().phase == "embed", "the embedding phase")
        catalog = data.open_catalog(readonly=True)
        try:
            hits = KeywordSearch(catalog).search(parse("plumber"), 10)
            assert len(hits) == 3  # searchable by keyword while embedding waits for the export
            assert catalog.embedding_progress()[1] == 3  # nothing embedded yet
        finally:
            catalog.close()
        watcher.pause()
        wait_until(lambda: True in job.paused, "the export to be paused with indexing", timeout=10)
        watcher.resume()
        wait_until(lambda: job.paused[-1] is False, "the export to resume", timeout=10)
        job.finished.set()  # the export ends (here: without a model, so PyTorch embeds)
        wait_until(lambda: watcher.wait_idle(0.1) and pending(data) == 0, "embedding after the export")
    finally:
        job.finished.set()
        watcher.stop()
    assert job.paused[-1] is False  # never left suspended


def test_passages_are_counted_per_backend_and_a_reindex_makes_them_one(tmp_path: Path, model: Path) -> None:
    from helpers import index_folder

    from indexer.write.reindex import reindex

    data = tmp_path / "data"
    index_folder(notes(tmp_path / "docs"), data, model)
    catalog = DataDir(data).open_catalog()
    try:
        assert catalog.embedding_backends() == {"PyTorch": 3}
        with catalog.transaction():
            catalog.count_embedded_by("ONNX fp32", 2)  # as a later run on the export would
        assert catalog.embedding_backends() == {"PyTorch": 3, "ONNX fp32": 2}
        reindex(catalog, embedder_for(str(model)))
        assert catalog.embedding_backends() == {"PyTorch": 3}  # every passage re-embedded by one backend
        with catalog.transaction():
            catalog.count_embedded_by("ONNX fp32", 1)
    finally:
        catalog.close()
    from indexer.store.stats import index_stats
    from indexer.write.pipeline import Indexer

    with DataDir(data).writer_lock(), Indexer(DataDir(data), Config(), embedder_for(str(model))) as indexer:
        indexer.remove_under(str(tmp_path / "docs"))
    assert index_stats(DataDir(data)).embedding_backends == {}  # nothing embedded: nothing to say
    index_folder(notes(tmp_path / "again"), data, model)
    assert index_stats(DataDir(data)).embedding_backends == {"PyTorch": 3}  # a fresh record, not mixed


def test_the_app_exports_on_first_start_and_then_searches_on_onnx(qtbot, models: Path, model: Path,  # noqa: ANN001
                                                                   tmp_path: Path) -> None:
    from desktop.engine import Engine
    from desktop.main_window import MainWindow

    docs, data = notes(tmp_path / "docs"), tmp_path / "data"
    data.mkdir()
    Config(roots=[str(docs)], model=str(model), reranker="").save(data)
    engine = Engine(data, None, watcher_options={"debounce": 0.05, "low_priority": False})
    messages: list[tuple[str, bool]] = []
    ready: list[str] = []
    engine.message.connect(lambda text, error: messages.append((text, error)))
    engine.modelStatus.connect(lambda state, text: ready.append(text) if state == "ready" else None)
    window = MainWindow(engine)
    qtbot.addWidget(window)
    window.show()
    engine.start()
    try:
        qtbot.waitUntil(lambda: any("ONNX Runtime" in text for text in ready), timeout=TIMEOUT * 1000)
        assert "PyTorch" in ready[0]  # searches ran on PyTorch until the export was ready
        news = [text for text, error in messages if not error]
        assert any("exporting it in the background" in text for text in news)
        assert any("is ready" in text and "embedding with ONNX" in text for text in news)
        assert not [text for text, error in messages if error], messages  # export news is never an error
        assert read_state(str(model))["state"] == "done"
        qtbot.waitUntil(lambda: pending(DataDir(data)) == 0, timeout=TIMEOUT * 1000)
    finally:
        engine.shutdown()
    assert export_processes(model) == []
