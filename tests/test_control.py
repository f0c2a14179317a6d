"""Stop and pause reach a run through a RunControl, at commit points only."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from helpers import assert_vectors_match_catalog, embedder_for, index_folder

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.write import pipeline
from indexer.write.control import RunControl
from indexer.write.pipeline import Indexer


def files_in(data: Path) -> int:
    conn = sqlite3.connect(data / "catalog.sqlite")
    try:
        return conn.execute("SELECT count(*) FROM files").fetchone()[0]
    finally:
        conn.close()


def make_docs(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        (folder / f"note{i:02d}.txt").write_text(f"Note {i} about the garden, the river and the bridge.")
    return folder


def test_checkpoint_goes_on_waits_out_a_pause_and_stops() -> None:
    reasons = ["battery", "battery", None]
    told: list[str] = []
    saved: list[bool] = []
    control = RunControl(lambda: reasons[0], wait=lambda _: reasons.pop(0), on_pause=told.append,
                         on_resume=lambda: told.append("resumed"))
    assert control.checkpoint(lambda: saved.append(True))
    assert told == ["battery", "battery", "resumed"] and saved == [True]  # saved once, before waiting
    assert control.checkpoint()  # no pause: goes on at once
    control.stop()
    assert not control.checkpoint()


def test_a_stop_ends_the_run_at_a_commit_point_and_the_next_run_finishes(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(pipeline, "BATCH_FILES", 4)
    docs = make_docs(tmp_path / "docs", 10)
    data = DataDir(tmp_path / "data")
    control = RunControl()

    class StopAfterFirstFile:
        def start(self, total: int) -> None:
            pass

        def advance(self, path: str, chunks: int) -> None:
            control.stop()  # asked mid-batch: obeyed once the batch is committed

        def message(self, text: str) -> None:
            pass

    with data.writer_lock(), Indexer(data, Config(), embedder_for(str(tiny_model_dir)), StopAfterFirstFile(),
                                     control) as indexer:
        report = indexer.run([str(docs)])
    assert report.interrupted and report.indexed == 4 and files_in(data.path) == 4  # one whole batch
    rest = index_folder(docs, data.path, tiny_model_dir)
    assert not rest.interrupted and (rest.unchanged, rest.indexed) == (4, 6)
    assert_vectors_match_catalog(data.path)


def test_a_pause_holds_the_run_between_commits(tmp_path: Path, tiny_model_dir: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(pipeline, "BATCH_FILES", 4)
    docs = make_docs(tmp_path / "docs", 10)
    data = DataDir(tmp_path / "data")
    paused = threading.Event()
    paused.set()
    seen: list[int] = []

    def on_pause(reason: str) -> None:
        seen.append(files_in(data.path))
        if len(seen) == 3:
            paused.clear()

    control = RunControl(lambda: "testing" if paused.is_set() else None, wait=lambda _: None,
                         on_pause=on_pause)
    with data.writer_lock(), Indexer(data, Config(), embedder_for(str(tiny_model_dir)), None, control) as ix:
        report = ix.run([str(docs)], phase="text")
    assert not report.interrupted and report.indexed == 10
    assert seen == [4, 4, 4]  # waiting after the first batch's commit, nothing written meanwhile
