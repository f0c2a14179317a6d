"""Never purge what could not be read: unreadable folders, missing roots and unmounted drives
keep their files (issue 12); a folder that was read and lost a file still purges it."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import embedder_for, index_folder
from test_watcher import DEBOUNCE, wait_until

import indexer.ingest.scan as scan_module
from indexer.cli import cli
from indexer.config import Config
from indexer.datadir import DataDir
from indexer.store.catalog import SCHEMA_VERSION
from indexer.write.availability import NOT_FOUND, OTHER_DEVICE
from indexer.write.pipeline import Indexer
from indexer.write.watcher import Watcher, WatchOptions


def make_docs(folder: Path) -> Path:
    (folder / "drive" / "deep").mkdir(parents=True)
    (folder / "home").mkdir()
    (folder / "drive" / "contract.txt").write_text("The lighthouse keeper signed the contract in March.")
    (folder / "drive" / "deep" / "ledger.txt").write_text("Ledger of the lighthouse: oil, wicks and glass.")
    (folder / "home" / "notes.txt").write_text("Notes about the garden and its tomatoes.")
    (folder / "home" / "gone.txt").write_text("A file that will be deleted for good.")
    return folder


def paths_in(data: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT path FROM files")}
    finally:
        conn.close()


def run(folder: Path, data: Path, model: Path, roots: list[Path] | None = None):
    """One `Indexer.run` over the configured roots (`folder` unless `roots` says otherwise)."""
    config = Config(roots=[str(r) for r in (roots or [folder])])
    with DataDir(data).writer_lock(), Indexer(DataDir(data), config, embedder_for(str(model))) as indexer:
        return indexer.run(config.roots)


def status_json(data: Path) -> dict:
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "status", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def refuse(monkeypatch):
    """Make the scan's walk fail to list the given folders, as `os.walk` does on EACCES."""
    blocked: set[str] = set()
    real_walk = os.walk

    def walk(top, onerror=None, followlinks=False):
        for dirpath, dirnames, filenames in real_walk(top, onerror=onerror, followlinks=followlinks):
            if dirpath in blocked:
                dirnames[:] = []
                if onerror:
                    onerror(PermissionError(errno.EACCES, "Permission denied", dirpath))
                continue
            yield dirpath, dirnames, filenames

    monkeypatch.setattr(scan_module.os, "walk", walk)
    return blocked


def test_an_unreadable_folder_keeps_its_files_and_the_rest_is_indexed(tmp_path, tiny_model_dir, refuse):
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    before = paths_in(data)
    refuse.add(str(docs / "drive"))
    (docs / "home" / "gone.txt").unlink()
    (docs / "home" / "new.txt").write_text("A new note about the harbour.")

    report = run(docs, data, tiny_model_dir)

    kept = {p for p in before if p.startswith(str(docs / "drive"))}
    assert len(kept) == 2 and kept <= paths_in(data)
    assert str(docs / "home" / "gone.txt") not in paths_in(data)  # its folder was read: purged
    assert str(docs / "home" / "new.txt") in paths_in(data)
    assert report.kept == 2 and report.removed == 1
    assert [(u.path, u.reason) for u in report.unavailable] == [
        (str(docs / "drive"), "cannot be read: Permission denied")]
    assert status_json(data)["unavailable"] == [
        {"path": str(docs / "drive"), "reason": "cannot be read: Permission denied"}]
    # Still searchable.
    reader = DataDir(data)
    from indexer.search.searcher import Searcher

    searcher = Searcher(reader, embedder_for(str(tiny_model_dir)))
    try:
        assert str(docs / "drive" / "contract.txt") in {r.path for r in searcher.search("contract", k=10)}
    finally:
        searcher.close()

    refuse.clear()  # readable again: updated normally, and no longer reported
    (docs / "drive" / "deep" / "ledger.txt").unlink()
    report = run(docs, data, tiny_model_dir)
    assert str(docs / "drive" / "deep" / "ledger.txt") not in paths_in(data)
    assert report.unavailable == [] and status_json(data)["unavailable"] == []


def test_a_root_that_no_longer_exists_keeps_its_files_and_comes_back(tmp_path, tiny_model_dir):
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    drive = docs / "drive"
    index_folder(drive, data, tiny_model_dir)
    before = paths_in(data)
    away = tmp_path / "unplugged"
    shutil.move(drive, away)

    report = run(drive, data, tiny_model_dir)
    assert paths_in(data) == before
    assert [(u.path, u.reason) for u in report.unavailable] == [(str(drive), NOT_FOUND)]
    found = CliRunner().invoke(cli, ["--data-dir", str(data), "search", "--mode", "keyword", "--json",
                                     "contract"])
    assert found.exit_code == 0, found.output
    hit = json.loads(found.output)["results"][0]
    assert hit["path"] == str(drive / "contract.txt") and hit["unavailable"] == NOT_FOUND  # still found
    shown = CliRunner().invoke(cli, ["--data-dir", str(data), "search", "--mode", "keyword", "contract"])
    assert f"(out of reach, kept in the index: {NOT_FOUND})" in shown.output

    (away / "contract.txt").write_text("The contract was renewed in April.")  # edited while away
    (away / "deep" / "ledger.txt").unlink()  # deleted while away
    shutil.move(away, drive)
    report = run(drive, data, tiny_model_dir)
    assert paths_in(data) == {str(drive / "contract.txt")}
    assert report.indexed == 1 and report.removed == 1 and report.unavailable == []


def test_a_folder_on_another_device_than_recorded_is_an_unmounted_drive(tmp_path, tiny_model_dir):
    """An unmounted mount point is an empty, readable folder on the parent's device."""
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    drive = docs / "drive"
    index_folder(docs, data, tiny_model_dir)
    conn = sqlite3.connect(data / "catalog.sqlite")
    with conn:  # as if they had been seen on the drive's own device
        conn.execute("UPDATE files SET dev = dev + 1 WHERE path LIKE ?", (f"{drive}/%",))
    conn.close()
    shutil.rmtree(drive)
    drive.mkdir()  # the empty mount point left behind

    report = run(docs, data, tiny_model_dir)
    assert {str(drive / "contract.txt"), str(drive / "deep" / "ledger.txt")} <= paths_in(data)
    assert [(u.path, u.reason) for u in report.unavailable] == [(str(drive), OTHER_DEVICE)]
    assert status_json(data)["unavailable"] == [{"path": str(drive), "reason": OTHER_DEVICE}]


def test_a_root_emptied_on_the_same_device_is_purged(tmp_path, tiny_model_dir):
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    drive = docs / "drive"
    index_folder(drive, data, tiny_model_dir)
    shutil.rmtree(drive)
    drive.mkdir()
    report = run(drive, data, tiny_model_dir)
    assert paths_in(data) == set() and report.removed == 2 and report.unavailable == []


def test_a_renumbered_device_is_the_same_drive(tmp_path, tiny_model_dir):
    """Removable and network drives may get another device number at each mount: a file deleted
    from a drive the scan sees renumbered is purged, not kept as unavailable."""
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    conn = sqlite3.connect(data / "catalog.sqlite")
    with conn:
        conn.execute("UPDATE files SET dev = dev + 1")
    conn.close()
    (docs / "home" / "gone.txt").unlink()
    report = run(docs, data, tiny_model_dir)
    assert str(docs / "home" / "gone.txt") not in paths_in(data)
    assert report.removed == 1 and report.unavailable == []
    conn = sqlite3.connect(data / "catalog.sqlite")
    devices = {row[0] for row in conn.execute("SELECT DISTINCT dev FROM files")}
    conn.close()
    assert devices == {os.stat(docs).st_dev}  # recorded anew


def test_removing_the_root_purges_its_unavailable_files(tmp_path, tiny_model_dir):
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    drive = docs / "drive"
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_model_dir),
                                      "index", "--phase", "text", str(drive)])
    assert result.exit_code == 0, result.output
    shutil.move(drive, tmp_path / "unplugged")
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_model_dir),
                                      "index", "--phase", "text"])
    assert result.exit_code == 0, result.output
    assert f"Unavailable, its files kept in the index: {drive} ({NOT_FOUND})" in result.output
    assert "2 kept (folder unavailable)" in result.output
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_model_dir),
                                      "roots", "remove", str(drive)])
    assert result.exit_code == 0, result.output
    assert paths_in(data) == set() and status_json(data)["unavailable"] == []


# -- the watcher: its reconcile and its live walk follow the same rule ------------------------------
def watch(data: Path, model: Path, roots: list[Path]) -> Watcher:
    watcher = Watcher(DataDir(data), Config(roots=[str(r) for r in roots]), embedder_for(str(model)),
                      [str(r) for r in roots], WatchOptions(debounce=DEBOUNCE, low_priority=False,
                                                            battery=lambda: None))
    watcher.start()
    return watcher


def unavailable_in(data: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return list(conn.execute("SELECT path, reason FROM unavailable ORDER BY path"))
    finally:
        conn.close()


def test_the_watchers_reconcile_keeps_missing_unreadable_and_unmounted_folders(
        tmp_path, tiny_model_dir, refuse):
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    other = tmp_path / "other"
    (other / "mnt").mkdir(parents=True)
    (other / "mnt" / "photo-notes.txt").write_text("Notes on the photos from the lighthouse.")
    usb = tmp_path / "usb"
    (usb / "sub").mkdir(parents=True)
    (usb / "sub" / "backup.txt").write_text("Backup of the lighthouse letters.")
    for folder in (docs, other, usb):
        index_folder(folder, data, tiny_model_dir)
    before = paths_in(data)
    conn = sqlite3.connect(data / "catalog.sqlite")
    with conn:
        conn.execute("UPDATE files SET dev = dev + 1 WHERE path LIKE ?", (f"{other}/mnt/%",))
    conn.close()
    shutil.rmtree(other / "mnt")
    (other / "mnt").mkdir()  # unmounted: an empty folder on the parent's device
    refuse.add(str(docs / "drive"))  # cannot be listed
    shutil.move(usb, tmp_path / "unplugged")  # the root is gone

    watcher = watch(data, tiny_model_dir, [docs, other, usb])
    try:
        wait_until(lambda: len(unavailable_in(data)) == 3, "three unavailable folders")
        assert watcher.wait_idle(30)
        assert paths_in(data) == before
        assert unavailable_in(data) == sorted([
            (str(docs / "drive"), "cannot be read: Permission denied"),
            (str(other / "mnt"), OTHER_DEVICE),
            (str(usb), NOT_FOUND),
        ])
        # A live change under the unreadable folder does not purge it either.
        (docs / "drive" / "contract.txt").write_text("Edited while it could not be read.")
        (docs / "home" / "gone.txt").unlink()  # a readable folder's deletion still purges
        wait_until(lambda: str(docs / "home" / "gone.txt") not in paths_in(data), "the deletion")
        assert watcher.wait_idle(30)
        assert str(docs / "drive" / "contract.txt") in paths_in(data)
    finally:
        watcher.stop()

    refuse.clear()
    shutil.move(tmp_path / "unplugged", usb)  # plugged in again
    watcher = watch(data, tiny_model_dir, [docs, other, usb])
    try:
        wait_until(lambda: unavailable_in(data) == [(str(other / "mnt"), OTHER_DEVICE)],
                   "the folders back in reach")
        assert watcher.wait_idle(30)
        assert str(usb / "sub" / "backup.txt") in paths_in(data)
    finally:
        watcher.stop()


def test_an_older_catalog_gains_devices_without_re_embedding(tmp_path, tiny_model_dir):
    """Schema 3 → 4: new columns and table; embeddings kept; devices recorded by the next run."""
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    conn = sqlite3.connect(data / "catalog.sqlite")
    with conn:  # back to what schema 3 had
        conn.execute("DROP TABLE unavailable")
        conn.execute("ALTER TABLE files DROP COLUMN dev")
        conn.execute("ALTER TABLE files DROP COLUMN mode")
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
        conn.execute("DROP TABLE _sqlite_migrations")  # schema 3 predates the migrations' record
    embedded = conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
    conn.close()

    report = run(docs, data, tiny_model_dir)
    assert report.chunks_embedded == 0 and report.unchanged == 4
    conn = sqlite3.connect(data / "catalog.sqlite")
    try:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        assert version == str(SCHEMA_VERSION)
        assert conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall() == embedded
        assert {r[0] for r in conn.execute("SELECT dev FROM files")} == {os.stat(docs).st_dev}
    finally:
        conn.close()


def test_a_root_unplugged_while_watched_is_kept_and_updated_when_back(tmp_path, tiny_model_dir,
                                                                      monkeypatch):
    import indexer.write.watcher as watcher_module

    monkeypatch.setattr(watcher_module, "RETRY_WATCH", 0.3)
    docs, data = make_docs(tmp_path / "docs"), tmp_path / "data"
    drive = docs / "drive"
    watcher = watch(data, tiny_model_dir, [drive])
    try:
        wait_until(lambda: len(paths_in(data)) == 2, "the drive indexed")
        assert watcher.wait_idle(30)
        shutil.copytree(drive, tmp_path / "unplugged")
        shutil.rmtree(drive)  # as an unmount does, this ends the root's watch
        wait_until(lambda: unavailable_in(data) == [(str(drive), NOT_FOUND)], "the drive reported")
        assert len(paths_in(data)) == 2
        (tmp_path / "unplugged" / "contract.txt").unlink()
        shutil.move(tmp_path / "unplugged", drive)  # plugged in again, one file fewer
        wait_until(lambda: paths_in(data) == {str(drive / "deep" / "ledger.txt")}, "the drive updated")
        wait_until(lambda: unavailable_in(data) == [], "the drive no longer reported")
        (drive / "new.txt").write_text("Watched again: a new file on the drive.")
        wait_until(lambda: str(drive / "new.txt") in paths_in(data), "a live change on the drive")
    finally:
        watcher.stop()
