"""Every file in a data dir is readable by its user only (0600, the dir 0700), whatever the umask;
files an older version left readable are tightened when a writer takes the index."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli
from indexer.datadir import DataDir
from indexer.write.watch.power import request_pause

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


@pytest.fixture(params=[0o022, 0o000], ids=["umask022", "umask000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()}


def index(data: Path, docs: Path, model: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(model), "index", str(docs)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_catalog_files_are_0600_whatever_the_umask(tmp_path: Path, tiny_model_dir: Path, umask: int) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("A private letter about the garden.")
    data = tmp_path / "data"
    index(data, docs, tiny_model_dir)
    request_pause(data)
    catalog = DataDir(data).open_catalog()  # a writer with the WAL open: -wal and -shm exist
    try:
        with catalog.transaction():
            catalog.meta_set("probe", "1")
        found = modes(data)
    finally:
        catalog.close()
    assert {"catalog.sqlite", "catalog.sqlite-wal", "catalog.sqlite-shm", "vectors.faiss", "config.toml",
            "writer.lock"} <= set(found)
    assert found == dict.fromkeys(found, 0o600)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700


def test_a_writer_tightens_files_left_readable(tmp_path: Path, tiny_model_dir: Path, umask: int) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("A private letter about the garden.")
    data = tmp_path / "data"
    index(data, docs, tiny_model_dir)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to change")
    os.chmod(outside, 0o644)
    (data / "link").symlink_to(outside)  # chmod would follow it: left alone
    (data / "older").mkdir()
    (data / "older" / "notes.txt").write_text("left by another version")
    for path in [*data.iterdir(), data / "older" / "notes.txt"]:
        if not path.is_symlink():
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    index(data, docs, tiny_model_dir)  # a writer takes the index
    found = {name: mode for name, mode in modes(data).items() if name != "link"}
    assert found == {**dict.fromkeys(found, 0o600), "older": 0o700}
    assert stat.S_IMODE((data / "older" / "notes.txt").stat().st_mode) == 0o600
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644
