"""The shared index kept live by `findling watch` (issue 22), on Milvus Lite started by the test.

The watcher mirrors every commit (the first scan, edits, moves, deletes, embeddings), renews its
lease while nothing changes, releases it at the stop, and indexes on when Milvus is out of reach,
catching up once it is back. Status on a reader shows the shared index only. One Lite file for
the module (a collection per test), released at its end; every watcher is stopped by its test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus", reason="the milvus extra (pymilvus) is not installed")
pytest.importorskip("milvus_lite", reason="the milvus extra (milvus-lite) is not installed")

from click.testing import CliRunner  # noqa: E402
from helpers import embedder_for  # noqa: E402

from indexer.cli import cli  # noqa: E402
from indexer.config import Config  # noqa: E402
from indexer.datadir import DataDir  # noqa: E402
from indexer.store import milvus_mirror  # noqa: E402
from indexer.store.catalog import from_blob  # noqa: E402
from indexer.store.errors import StoreUnavailable  # noqa: E402
from indexer.store.milvus_mirror import MilvusMirror  # noqa: E402
from indexer.store.milvus_schema import meta_collection  # noqa: E402
from indexer.store.milvus_store import MilvusStore, read_meta  # noqa: E402
from indexer.store.store_uri import parse_store_uri  # noqa: E402
from indexer.write.pipeline import Indexer  # noqa: E402
from indexer.write.watcher import Watcher, WatchOptions  # noqa: E402

TIMEOUT = 30.0
DOCS = {
    "sea.txt": "The lighthouse keeper watched the stormy sea every night from the rocky island.",
    "invoice.md": "Invoice INV-2024-0173 for garden tools and a lawn mower, paid in March.",
    "notes/recipe.txt": "Bake the bread with flour, water, salt and yeast for forty minutes.",
}


@pytest.fixture
def peek(lite_db: Path) -> Iterator[Callable[[str], MilvusStore]]:
    """Reader clients on the module's Lite server (closed at the end)."""
    opened: list[MilvusStore] = []

    def make(collection: str) -> MilvusStore:
        store = MilvusStore(parse_store_uri(f"milvus://{lite_db}?collection={collection}"))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def write_docs(folder: Path, docs: dict[str, str] = DOCS) -> Path:
    for name, text in docs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def wait_until(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def catalog_rows(data: Path) -> dict[int, tuple[str, bytes]]:
    """Every embedded passage of the writer's catalog: id → (path, embedding blob)."""
    path = data / "catalog.sqlite"
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return {int(i): (p, e) for i, p, e in conn.execute(
            "SELECT c.id, f.path, c.embedding FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.embedding IS NOT NULL")}
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        conn.close()


def pending(data: Path) -> int:
    conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM chunks WHERE embedding IS NULL").fetchone()[0]
    finally:
        conn.close()


def milvus_rows(store: MilvusStore) -> dict[int, str]:
    rows = store.client.query(store.collection, filter="id >= 0", output_fields=["id", "path"])
    return {int(r["id"]): r["path"] for r in rows}


def in_step(store: MilvusStore, data: Path) -> bool:
    ours = catalog_rows(data)
    return bool(ours) and pending(data) == 0 and milvus_rows(store) == {i: p for i, (p, _) in ours.items()}


def lease(store: MilvusStore) -> dict | None:
    meta = read_meta(store.client, store.collection)
    return json.loads(meta["lease"]) if meta.get("lease") else None


@pytest.fixture
def watch(lite_db: Path, tiny_model_dir: Path, tmp_path: Path):
    """Start a watcher on `docs` that mirrors into `collection`; every one stopped at the end."""
    started: list[Watcher] = []

    def start(docs: Path, collection: str, messages: list[str] | None = None) -> tuple[Watcher, list]:
        mirrors: list[MilvusMirror] = []
        say = messages.append if messages is not None else (lambda text: None)

        def mirror(indexer: Indexer) -> MilvusMirror:
            mirrors.append(MilvusMirror(parse_store_uri(f"milvus://{lite_db}?collection={collection}"),
                                        indexer.catalog, indexer.embedder, "test watch", say=say).open())
            return mirrors[-1]

        options = WatchOptions(debounce=0.05, low_priority=False, battery=lambda: None, mirror=mirror)
        embedder = embedder_for(str(tiny_model_dir))
        watcher = Watcher(DataDir(tmp_path / "data"), Config(), embedder, [str(docs)], options)
        started.append(watcher)
        watcher.start()
        return watcher, mirrors

    yield start
    for watcher in started:
        watcher.stop()
        assert not any(t.name == "findling-lease" for t in threading.enumerate())


def test_watch_mirrors_the_first_scan_an_edit_a_move_and_a_delete(watch, peek, tmp_path) -> None:
    docs = write_docs(tmp_path / "docs")
    data = tmp_path / "data"
    watcher, _ = watch(docs, "watched")
    store = peek("watched")
    wait_until(lambda: in_step(store, data), "the first scan in Milvus")
    assert len(milvus_rows(store)) == len(DOCS)

    (docs / "sea.txt").write_text("The harbour master counted the fishing boats at dawn.", encoding="utf-8")
    (docs / "archive").mkdir()
    shutil.move(docs / "notes" / "recipe.txt", docs / "archive" / "recipe.txt")
    (docs / "invoice.md").unlink()
    moved = str(docs / "archive" / "recipe.txt")
    wait_until(lambda: in_step(store, data) and moved in milvus_rows(store).values()
               and len(milvus_rows(store)) == 2, "the edit, the move and the delete in Milvus")
    paths = set(milvus_rows(store).values())
    assert paths == {str(docs / "sea.txt"), str(docs / "archive" / "recipe.txt")}
    # each passage reached Milvus with its vector: the catalog's embedding of the edited text
    edited = {i: blob for i, (p, blob) in catalog_rows(data).items() if p.endswith("sea.txt")}
    stored = store.vectors(list(edited))
    for i, blob in edited.items():
        assert np.allclose(stored[i], from_blob(blob), atol=1e-6)
    text = store.client.query(store.collection, filter=f"id == {next(iter(edited))}", output_fields=["text"])
    assert "harbour master" in text[0]["text"]
    watcher.stop()
    assert lease(store) is None  # released at the stop


@pytest.mark.parametrize("missed_max", [200_000, 0], ids=["by-missed-ids", "reconciled"])
def test_milvus_out_of_reach_mid_watch_leaves_indexing_going_and_it_catches_up(
        watch, peek, tmp_path, monkeypatch, missed_max) -> None:
    monkeypatch.setattr(milvus_mirror, "RETRY_FIRST", 0.3)
    monkeypatch.setattr(milvus_mirror, "MISSED_MAX", missed_max)  # 0: too many ids kept, so it reconciles
    docs = write_docs(tmp_path / "docs", {"a.txt": "Alpha centauri is a star system."})
    data = tmp_path / "data"
    messages: list[str] = []
    watcher, mirrors = watch(docs, f"outage_{missed_max}", messages)
    store = peek(f"outage_{missed_max}")
    wait_until(lambda: in_step(store, data), "the first scan in Milvus")

    real_connect = milvus_mirror.connect

    def down(target):  # noqa: ANN001
        raise StoreUnavailable(f"The shared index {target.shown} cannot be reached: connection refused")

    monkeypatch.setattr(milvus_mirror, "connect", down)
    mirrors[0].client.close()  # the server is gone: every call on this client fails from now on
    (docs / "b.txt").write_text("Beta carotene colours carrots orange.", encoding="utf-8")
    (docs / "a.txt").unlink()
    wait_until(lambda: {Path(p).name for p, _ in catalog_rows(data).values()} == {"b.txt"}
               and not pending(data), "local indexing to go on")
    assert set(milvus_rows(store).values()) == {str(docs / "a.txt")}  # Milvus missed both batches
    result = CliRunner().invoke(cli, ["status", "--data-dir", str(data)])
    assert "batches behind, retrying" in result.output, result.output
    assert any("cannot be reached" in m for m in messages)
    assert all("Traceback" not in m for m in messages)

    monkeypatch.setattr(milvus_mirror, "connect", real_connect)  # back: no new change is needed
    wait_until(lambda: in_step(store, data), "the watcher to catch up", timeout=15)
    assert set(milvus_rows(store).values()) == {str(docs / "b.txt")}
    assert any("is back: caught up" in m for m in messages)
    wait_until(lambda: "in step with this index" in CliRunner().invoke(
        cli, ["status", "--data-dir", str(data)]).output, "status to say it is in step")
    assert watcher.status().state != "stopped"


def test_the_lease_is_renewed_in_a_quiet_watch_and_released_at_stop(watch, peek, tmp_path,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(milvus_mirror, "RENEW_EVERY", 0.2)
    docs = write_docs(tmp_path / "docs", {"a.txt": "Alpha centauri is a star system."})
    data = tmp_path / "data"
    watcher, _ = watch(docs, "renewed")
    store = peek("renewed")
    wait_until(lambda: in_step(store, data) and watcher.wait_idle(0.1), "the watcher to be idle")
    first = lease(store)
    assert first is not None and first["holder"] == "test watch" and first["pid"] == os.getpid()
    wait_until(lambda: lease(store)["renewed"] > first["renewed"] + 0.3, "renewals with no batch", timeout=10)
    assert lease(store)["id"] == first["id"]
    watcher.stop()
    assert lease(store) is None


def test_cli_watch_with_store_mirrors_and_releases_its_lease_on_sigterm(lite_db, tiny_model_dir, peek,
                                                                       tmp_path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.txt": "Alpha centauri is a star system."})
    data = tmp_path / "data"
    uri = f"milvus://{lite_db}?collection=cli_watch"
    seen: dict = {}

    def drive() -> None:  # another thread: the CLI's watch runs in the main one, as a user's does
        try:
            store = None
            deadline = time.monotonic() + TIMEOUT
            while time.monotonic() < deadline:
                try:
                    store = store or peek("cli_watch")
                    if in_step(store, data):
                        break
                except Exception:  # noqa: BLE001 - the collection is not made yet
                    pass
                time.sleep(0.1)
            seen["lease"] = lease(store)
            (docs / "c.txt").write_text("Comets have icy cores.", encoding="utf-8")
            wait_until(lambda: len(milvus_rows(store)) == 2 and in_step(store, data),
                       "the new file in Milvus")
            seen["mirrored"] = True
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    helper = threading.Thread(target=drive)
    helper.start()
    result = CliRunner().invoke(cli, ["--store", uri, "--data-dir", str(data), "--model", str(tiny_model_dir),
                                      "watch", str(docs), "--debounce", "0.05"])
    helper.join()
    assert result.exit_code == 0, result.output
    assert "Shared index" in result.output and "Stopped." in result.output
    assert seen["lease"]["holder"] == "findling watch" and seen.get("mirrored")
    assert lease(peek("cli_watch")) is None  # released on SIGTERM


def test_status_on_a_reader_shows_only_the_shared_index_and_on_the_writer_both(
        watch, peek, tmp_path, lite_db) -> None:
    docs = write_docs(tmp_path / "docs")
    data = tmp_path / "data"
    watcher, _ = watch(docs, "status")
    store = peek("status")
    wait_until(lambda: in_step(store, data), "the first scan in Milvus")
    uri = f"milvus://{lite_db}?collection=status"
    shown = parse_store_uri(uri).shown
    reader = CliRunner().invoke(cli, ["--store", uri, "--data-dir", str(tmp_path / "reader"), "status"])
    assert reader.exit_code == 0, reader.output
    lines = reader.output.splitlines()
    assert lines[0] == f"Shared index: {shown} (read here; no local catalog writes it)"
    assert f"  Passages: {len(DOCS)} in {len(DOCS)} files" in lines
    assert any(line.startswith("  Writer:   test watch on ") and "lease renewed" in line for line in lines)
    assert not any(line.startswith(("Index:", "Files:", "Chunks:", "Local index")) for line in lines)
    as_json = json.loads(CliRunner().invoke(
        cli, ["--store", uri, "--data-dir", str(tmp_path / "reader"), "status", "--json"]).output)
    assert as_json["role"] == "reader" and as_json["shared_index"]["files"] == len(DOCS)
    assert not (tmp_path / "reader" / "catalog.sqlite").exists()
    watcher.stop()

    writer = CliRunner().invoke(cli, ["--store", uri, "--data-dir", str(data), "status"])
    assert writer.exit_code == 0, writer.output
    assert writer.output.startswith("Local index (the shared index's writer")
    assert f"Files:    {len(DOCS)} indexed" in writer.output
    assert f"Shared index: {shown} (this index is its writer)" in writer.output
    assert "  Mirror:   in step with this index" in writer.output
    assert "  Writer:   no writer now" in writer.output


def test_sample_vectors_draws_across_the_collection(lite_db, tiny_model_dir, peek, tmp_path) -> None:
    docs = write_docs(tmp_path / "docs", {f"note{i:02d}.txt": f"Note number {i} about topic {i * 7}."
                                          for i in range(40)})
    data_dir = DataDir(tmp_path / "data")
    embedder = embedder_for(str(tiny_model_dir))
    target = parse_store_uri(f"milvus://{lite_db}?collection=sampled")
    with data_dir.writer_lock(), Indexer(data_dir, Config(), embedder) as indexer:
        indexer.mirror = MilvusMirror(target, indexer.catalog, embedder, "test").open()
        try:
            indexer.run([str(docs)])
        finally:
            indexer.mirror.close()
    store = peek("sampled")
    everything = store.vectors(sorted(milvus_rows(store)))
    ids = sorted(everything)
    first = store.client.query(store.collection, filter="id >= 0", limit=10, output_fields=["id"])

    def ids_of(sample: np.ndarray) -> set[int]:
        return {next(i for i in ids if np.allclose(everything[i], v)) for v in sample}

    sample = store.sample_vectors(10)
    assert sample.shape == (10, everything[ids[0]].shape[0])
    drawn = ids_of(sample)
    assert len(drawn) == 10 and drawn != {int(r["id"]) for r in first}  # not the storage order's head
    assert max(drawn) > ids[19] and min(drawn) < ids[20]  # both halves of the collection
    assert ids_of(store.sample_vectors(10)) == drawn  # fixed seed
    # a collection written before `max_id` was kept: its ids are listed and drawn from
    store.client.delete(meta_collection("sampled"), ids=["max_id"])
    older = ids_of(store.sample_vectors(10))
    assert len(older) == 10 and max(older) > ids[19]
    assert len(store.sample_vectors(100)) == len(ids)  # fewer than asked: all of them


def test_roots_remove_and_reindex_with_a_store_reach_the_shared_index(lite_db, tiny_model_dir, tiny_e5_dir,
                                                                       peek, tmp_path) -> None:
    kept = write_docs(tmp_path / "kept", {"a.txt": "Alpha centauri is a star system."})
    gone = write_docs(tmp_path / "gone", {"b.txt": "Beta carotene colours carrots orange."})
    data = tmp_path / "data"
    uri = f"milvus://{lite_db}?collection=one_offs"
    base = ["--store", uri, "--data-dir", str(data)]
    result = CliRunner().invoke(cli, [*base, "--model", str(tiny_model_dir), "index", str(kept), str(gone)])
    assert result.exit_code == 0, result.output
    store = peek("one_offs")
    assert {Path(p).name for p in milvus_rows(store).values()} == {"a.txt", "b.txt"}

    result = CliRunner().invoke(cli, [*base, "roots", "remove", str(gone)])
    assert result.exit_code == 0, result.output
    assert {Path(p).name for p in milvus_rows(store).values()} == {"a.txt"}  # gone from the team's too

    result = CliRunner().invoke(cli, [*base, "--model", str(tiny_e5_dir), "reindex"])
    assert result.exit_code == 0, result.output
    assert "made anew" in result.output
    after = peek("one_offs")
    assert after.model() == embedder_for(str(tiny_e5_dir)).model_id
    ours = catalog_rows(data)
    assert set(milvus_rows(after)) == set(ours)
    for i, vector in after.vectors(list(ours)).items():
        assert np.allclose(vector, from_blob(ours[i][1]), atol=1e-6)


def test_a_writer_whose_lease_was_taken_over_stops_mirroring_and_leaves_it(lite_db, tiny_model_dir, peek,
                                                                         tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(milvus_mirror, "RENEW_EVERY", 0.1)
    docs = write_docs(tmp_path / "docs", {"a.txt": "Alpha centauri is a star system."})
    data_dir = DataDir(tmp_path / "data")
    embedder = embedder_for(str(tiny_model_dir))
    messages: list[str] = []
    with data_dir.writer_lock(), Indexer(data_dir, Config(), embedder) as indexer:
        mirror = MilvusMirror(parse_store_uri(f"milvus://{lite_db}?collection=taken"), indexer.catalog,
                              embedder, "first", say=messages.append).open()
        indexer.mirror = mirror
        try:
            indexer.run([str(docs)])
            store = peek("taken")
            other = {"id": "other", "holder": "second", "host": "elsewhere", "pid": 1, "renewed": time.time()}

            def other_renews() -> bool:  # the other writer renews its lease, as a live one does (a renewal
                # of the first that read the lease just before the takeover may overwrite it once)
                if mirror.lost is None:
                    row = {"key": "lease", "value": json.dumps(other), "pad": [0.0, 0.0]}
                    store.client.upsert(meta_collection("taken"), [row])
                return mirror.lost is not None

            wait_until(other_renews, "the renewer to see the other lease", timeout=10)
            (docs / "b.txt").write_text("Beta carotene colours carrots orange.", encoding="utf-8")
            indexer.run([str(docs)])
        finally:
            mirror.close()
    assert {Path(p).name for p in milvus_rows(store).values()} == {"a.txt"}  # not written by the first
    assert lease(store)["id"] == "other"  # and not released by it
    assert any("second on elsewhere (pid 1) took the shared index over" in m for m in messages)
    result = CliRunner().invoke(cli, ["status", "--data-dir", str(tmp_path / "data")])
    assert "not written by this index now" in result.output, result.output
