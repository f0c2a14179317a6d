"""The compressed vector index (issue 21): switching to it and back, edits and deletes while compressed,
a reader during a retrain, kill -9 during a build. Tiny model (32 dims), a few hundred passages."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import embedder_for, index_folder, searcher

from indexer.cli import cli
from indexer.config import Config
from indexer.datadir import DataDir
from indexer.search.query import parse
from indexer.store import compressed
from indexer.store.vector_file import header_of
from indexer.write import vector_upkeep
from indexer.write.pipeline import Indexer

WORDS = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbor", "iris", "juniper",
         "kelp", "lagoon", "meadow", "nectar", "obsidian", "prairie", "quartz", "reef", "sierra"]
THRESHOLD = 150


def write_files(folder: Path, names: range, seed: int = 0) -> None:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in names:
        words = " ".join(rng.choice(WORDS) for _ in range(12))
        (folder / f"note{i:04d}.txt").write_text(f"Note {i} about {words}.", encoding="utf-8")


def config() -> Config:
    return Config(compress_above=THRESHOLD)


def chunk_of(data: Path, path: Path) -> tuple[int, np.ndarray]:
    """The (chunk id, stored vector) of a one-chunk file."""
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        row = catalog.file(str(path))
        assert row is not None
        rows = catalog.conn.execute("SELECT id FROM chunks WHERE file_id = ?", (row.id,)).fetchall()
        (chunk_id,) = [r[0] for r in rows]
        return chunk_id, catalog.stored_embeddings([chunk_id])[chunk_id]
    finally:
        catalog.close()


def dense_ids(data: Path, model: Path, vector: np.ndarray, text: str = "note", k: int = 10) -> list[int]:
    found = searcher(data, model)
    try:
        return [i for i, _ in found.dense(parse(text), k, query_vector=vector)]
    finally:
        found.close()


def status(data: Path, model: Path, *args: str) -> str:
    return CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(model), "status", *args],
                              catch_exceptions=False).output


def kind_of(data: Path) -> str:
    header = header_of(DataDir(data).vectors_path)
    assert header is not None
    return header.kind


def recorded(data: Path) -> dict:
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        return json.loads(catalog.meta_get("vector_index") or "{}")
    finally:
        catalog.close()


def test_past_the_size_the_index_compresses_and_below_it_goes_back(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_files(docs, range(THRESHOLD - 20))
    index_folder(docs, data, tiny_model_dir, config())
    assert kind_of(data) == "flat"
    write_files(docs, range(THRESHOLD - 20, THRESHOLD + 40))
    index_folder(docs, data, tiny_model_dir, config())
    assert kind_of(data) == "ivf-sq8"
    info = recorded(data)
    assert info["kind"] == "ivf-sq8" and info["passages"] == THRESHOLD + 40
    assert info["recall_queries"] == THRESHOLD + 40  # 200 stored vectors, or all when fewer
    assert 0.9 <= info["recall_at_10"] <= 1.0 and info["memory_bytes"] > 0
    chunk_id, vector = chunk_of(data, docs / "note0007.txt")
    assert dense_ids(data, tiny_model_dir, vector)[0] == chunk_id
    shown = json.loads(status(data, tiny_model_dir, "--json"))["vector_index"]
    assert shown["kind"] == "ivf-sq8" and not shown["exact"] and shown["recall_at_10"] == info["recall_at_10"]
    text = status(data, tiny_model_dir)
    assert f"compressed (IVF-SQ8), {THRESHOLD + 40} passages" in text and "recall@10 " in text
    for i in range(THRESHOLD - 40, THRESHOLD + 40):  # 110 left: below 0.9 × 150
        (docs / f"note{i:04d}.txt").unlink()
    index_folder(docs, data, tiny_model_dir, config())
    assert kind_of(data) == "flat" and recorded(data)["kind"] == "flat"
    text = status(data, tiny_model_dir)
    assert "Vectors:  exact (flat), 110 passages" in text
    assert dense_ids(data, tiny_model_dir, vector)[0] == chunk_id


def test_edits_and_deletes_while_compressed_never_bring_a_deleted_passage_back(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_files(docs / "a", range(0, 100))
    write_files(docs / "b", range(100, 200), seed=1)
    index_folder(docs, data, tiny_model_dir, config())
    assert kind_of(data) == "ivf-sq8"
    base_seq = header_of(DataDir(data).vectors_path).seq
    deleted, deleted_vector = chunk_of(data, docs / "a" / "note0010.txt")
    edited, edited_vector = chunk_of(data, docs / "b" / "note0150.txt")
    (docs / "a" / "note0010.txt").unlink()
    (docs / "b" / "note0150.txt").write_text("An entirely new text about harbor lights.", encoding="utf-8")
    index_folder(docs, data, tiny_model_dir, config())
    assert header_of(DataDir(data).vectors_path).seq == base_seq  # not rebuilt: tombstones and a delta
    new_id, new_vector = chunk_of(data, docs / "b" / "note0150.txt")
    assert new_id != edited
    for query_vector in (deleted_vector, edited_vector):
        found = dense_ids(data, tiny_model_dir, query_vector, k=200)
        assert deleted not in found and edited not in found and len(found) == 199
    assert dense_ids(data, tiny_model_dir, new_vector)[0] == new_id
    # with a filter (an IDSelector on the base, the delta filtered too), in a fresh reader
    in_b = f"note in:{docs / 'b'}"
    found = dense_ids(data, tiny_model_dir, new_vector, text=in_b, k=50)
    assert found[0] == new_id and edited not in found
    in_a = f"note in:{docs / 'a'}"
    assert deleted not in dense_ids(data, tiny_model_dir, deleted_vector, text=in_a, k=150)
    searching = searcher(data, tiny_model_dir)
    try:
        scores = [s for _, s in searching.dense(parse("note"), 5, query_vector=new_vector)]
        assert scores[0] == pytest.approx(float(new_vector @ new_vector), abs=1e-5)  # exact, rescored
    finally:
        searching.close()


def test_a_reader_keeps_searching_during_a_build_and_then_uses_the_compressed_index(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_files(docs, range(THRESHOLD + 20))
    release, started = threading.Event(), threading.Event()
    real_build = compressed.build_compressed

    def held_build(*args, **kwargs):  # noqa: ANN002, ANN003
        started.set()
        release.wait(30)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(vector_upkeep, "build_compressed", held_build)
    data_dir = DataDir(data)
    with data_dir.writer_lock(), Indexer(data_dir, config(), embedder_for(str(tiny_model_dir))) as writer:
        writer.run([str(docs)], phase="text")
        writer.embed_pending()
        writer.save_vectors()  # starts the build in the background, does not wait
        assert started.wait(10) and writer.upkeep.building
        assert kind_of(data) == "flat"
        reader = searcher(data, tiny_model_dir)
        try:
            chunk_id, vector = chunk_of(data, docs / "note0003.txt")
            assert reader.dense(parse("note"), 3, query_vector=vector)[0][0] == chunk_id
            write_files(docs, range(THRESHOLD + 20, THRESHOLD + 30), seed=5)  # changes during the build
            (docs / "note0003.txt").unlink()
            writer.run([str(docs)])
            late_id, late_vector = chunk_of(data, docs / f"note{THRESHOLD + 25:04d}.txt")
            assert reader.dense(parse("note"), 3, query_vector=late_vector)[0][0] == late_id
            assert chunk_id not in [i for i, _ in reader.dense(parse("note"), 400, query_vector=vector)]
            release.set()
            writer.save_vectors(wait_for_build=True)
            assert kind_of(data) == "ivf-sq8" and not writer.upkeep.building
            assert reader.vectors().kind == "ivf-sq8"  # the reader saw the new file, and never trained
            assert reader.dense(parse("note"), 3, query_vector=late_vector)[0][0] == late_id
            assert chunk_id not in [i for i, _ in reader.dense(parse("note"), 400, query_vector=vector)]
        finally:
            reader.close()


BUILD_KILLED = """
import time
from pathlib import Path
from indexer.config import Config
from indexer.datadir import DataDir
from indexer.store import compressed
from indexer.write import vector_upkeep
from indexer.write.pipeline import Indexer

real = compressed.build_compressed
def slow(catalog, dim, should_stop=None, sample_size=None):
    index = real(catalog, dim)
    Path({marker!r}).write_text("trained")
    time.sleep(120)
    return index
vector_upkeep.build_compressed = slow
data = DataDir(Path({data!r}))
with data.writer_lock():
    writer = Indexer(data, Config(compress_above={threshold}), embedder=None)  # nothing to embed
    writer.save_vectors(wait_for_build=True)
"""


def test_kill_9_during_a_build_leaves_the_flat_index_and_the_next_start_builds(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    docs, data, marker = tmp_path / "docs", tmp_path / "data", tmp_path / "trained"
    write_files(docs, range(THRESHOLD + 20))
    index_folder(docs, data, tiny_model_dir, Config(compress_above=10 * THRESHOLD))  # exact, for now
    script = BUILD_KILLED.format(marker=str(marker), data=str(data), threshold=THRESHOLD)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ})
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "the build never ran"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert kind_of(data) == "flat"  # the saved flat index is intact and current
    chunk_id, vector = chunk_of(data, docs / "note0042.txt")
    assert dense_ids(data, tiny_model_dir, vector)[0] == chunk_id
    index_folder(docs, data, tiny_model_dir, config())  # the next start: nothing changed, it builds
    assert kind_of(data) == "ivf-sq8" and recorded(data)["passages"] == THRESHOLD + 20
    assert dense_ids(data, tiny_model_dir, vector)[0] == chunk_id


def test_past_its_share_of_tombstones_the_writer_retrains_and_the_deleted_stay_gone(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_files(docs, range(THRESHOLD + 30))
    index_folder(docs, data, tiny_model_dir, config())
    first = header_of(DataDir(data).vectors_path)
    assert first.kind == "ivf-sq8"
    gone = [chunk_of(data, docs / f"note{i:04d}.txt") for i in range(8)]
    monkeypatch.setattr(compressed, "MERGE_MIN", 5)
    monkeypatch.setattr(compressed, "MERGE_SHARE", 0.0)
    for i in range(8):
        (docs / f"note{i:04d}.txt").unlink()
    index_folder(docs, data, tiny_model_dir, config())  # 8 tombstones > 5: rebuilt
    rebuilt = header_of(DataDir(data).vectors_path)
    assert rebuilt.kind == "ivf-sq8" and rebuilt.seq > first.seq
    reader = searcher(data, tiny_model_dir)
    try:
        store = reader.vectors()
        assert store.pending == 0 and store.size == THRESHOLD + 22  # no tombstone left, nothing missing
        for chunk_id, vector in gone:
            assert chunk_id not in [i for i, _ in reader.dense(parse("note"), 200, query_vector=vector)]
    finally:
        reader.close()


def test_status_counts_the_passages_of_an_exact_index_the_writer_never_recorded(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_files(docs, range(3))
    index_folder(docs, data, tiny_model_dir)  # small: no upkeep event records the index
    assert kind_of(data) == "flat" and recorded(data) == {}
    assert "Vectors:  exact (flat), 3 passages, " in status(data, tiny_model_dir)
