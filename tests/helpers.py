"""Shared test helpers: index a folder through the real engine and snapshot what it stored."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from functools import cache
from pathlib import Path

import numpy as np
import psutil

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.models.embedding import TorchEmbedder
from indexer.models.resolution import resolve_model
from indexer.search.searcher import Searcher
from indexer.store.vectors import VectorIndex
from indexer.write.pipeline import Indexer, Report


@cache
def embedder_for(model_dir: str) -> TorchEmbedder:
    """One embedder per model directory for the whole session (model loads are slow)."""
    return TorchEmbedder(resolve_model(model_dir))


def index_folder(folder: Path, data_dir: Path, model_dir: Path, config: Config | None = None) -> Report:
    data = DataDir(data_dir)
    with data.writer_lock(), Indexer(data, config or Config(), embedder_for(str(model_dir))) as indexer:
        return indexer.run([str(folder)])


def index_for_app(folder: Path, data_dir: Path, model_dir: Path, **settings: object) -> Config:
    """`folder` indexed with the model and saved as the data dir's only root, as the app finds it
    (no reranker, no downloads, unless `settings` say otherwise)."""
    config = Config(**{"roots": [str(folder)], "model": str(model_dir), "reranker": "",
                       **settings})
    index_folder(folder, data_dir, model_dir, config)
    config.save(data_dir)
    return config


def searcher(data_dir: Path, model_dir: Path) -> Searcher:
    return Searcher(DataDir(data_dir), embedder_for(str(model_dir)))


def snapshot(data_dir: Path) -> dict[str, dict]:
    """Per file: status, reason and its chunks (text, page, offsets, embedding), ids left out."""
    catalog = DataDir(data_dir).open_catalog(readonly=True)
    try:
        files = {}
        for row in catalog.files():
            chunks = catalog.conn.execute(
                "SELECT text, page, char_start, char_end, embedding FROM chunks WHERE file_id = ? "
                "ORDER BY ordinal", (row.id,),
            ).fetchall()
            files[row.path] = {
                "status": row.status,
                "reason": row.reason,
                "chunks": [(t, p, s, e) for t, p, s, e, _ in chunks],
                "embeddings": [None if b is None else np.frombuffer(b, dtype=np.float32) for *_, b in chunks],
            }
        return files
    finally:
        catalog.close()


def assert_same_index(actual_dir: Path, expected_dir: Path) -> None:
    """Same paths, statuses, chunk texts, offsets and pages; embeddings equal within tolerance."""
    actual, expected = snapshot(actual_dir), snapshot(expected_dir)
    assert sorted(actual) == sorted(expected)
    for path, want in expected.items():
        got = actual[path]
        assert (got["status"], got["chunks"]) == (want["status"], want["chunks"]), path
        for a, b in zip(got["embeddings"], want["embeddings"], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-4)


def assert_vectors_match_catalog(data_dir: Path) -> None:
    """The saved FAISS file is current and holds exactly the catalog's embedded chunk ids."""
    data = DataDir(data_dir)
    catalog = data.open_catalog(readonly=True)
    try:
        saved = VectorIndex.read(data.vectors_path)
        assert saved is not None, "vector file missing or unreadable"
        assert saved.generation == catalog.generation
        ids = [r[0] for r in catalog.conn.execute(
            "SELECT id FROM chunks WHERE embedding IS NOT NULL ORDER BY id")]
        assert sorted(saved.ids().tolist()) == ids  # no id missing, none twice
    finally:
        catalog.close()


def fts_rowids(data_dir: Path) -> set[int]:
    catalog = DataDir(data_dir).open_catalog(readonly=True)
    try:
        return {r[0] for r in catalog.conn.execute("SELECT rowid FROM chunks_fts")}
    finally:
        catalog.close()


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def survivors(processes: list[psutil.Process], within_s: float) -> list[psutil.Process]:
    """Those of `processes` still running (zombies count as gone) after up to `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        alive = []
        for proc in processes:
            try:
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def kill_9(proc: subprocess.Popen) -> list[psutil.Process]:
    """SIGKILL `proc` and return its descendants still running 5 s later (killed too, so no test
    leaves them behind)."""
    workers = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    left = survivors(workers, within_s=5)
    for straggler in left:
        straggler.kill()
    return left
