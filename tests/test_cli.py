"""The `findling` command end to end (in-process through click, plus one real subprocess)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "garden.txt").write_text("Tomatoes need sun and water every day in summer.")
    (folder / "taxes.md").write_text("File the quarterly tax return before the deadline.")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    (folder / "holiday-photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))
    return folder


def run(*args: str, data: Path, model: Path) -> object:
    runner = CliRunner()
    return runner.invoke(cli, ["--data-dir", str(data), "--model", str(model), *args],
                         catch_exceptions=False)


def test_index_status_search_json(tmp_path: Path, docs: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    result = run("index", str(docs), data=data, model=tiny_model_dir)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700

    status = json.loads(run("status", "--json", data=data, model=tiny_model_dir).stdout)
    assert (status["indexed"], status["skipped"], status["errors"]) == (2, 1, 1)
    assert status["error_files"] == [{"path": str(docs / "broken.pdf"),
                                      "reason": status["error_files"][0]["reason"]}]
    assert "pdf" in status["error_files"][0]["reason"].lower()
    assert status["model"] == str(tiny_model_dir)
    assert status["roots"] == [str(docs)]

    out = run("search", "tomatoes", "sun", "--json", "--k", "3", data=data, model=tiny_model_dir)
    payload = json.loads(out.stdout)
    assert payload["query"] == "tomatoes sun"
    assert 1 <= len(payload["results"]) <= 3
    for result_item in payload["results"]:
        assert set(result_item) >= {"path", "page", "score", "snippet", "chunk_id", "passages"}
        assert Path(result_item["path"]).is_absolute()
    paths = [r["path"] for r in payload["results"]]
    assert len(paths) == len(set(paths))  # one result per file


def test_file_without_text_is_found_by_name(tmp_path: Path, docs: Path) -> None:
    from indexer.models.embedding import bundled_model_path

    minilm = bundled_model_path()
    data = tmp_path / "data"
    run("index", str(docs), data=data, model=minilm)
    out = run("search", "holiday photo", "--json", "--k", "1", data=data, model=minilm)
    assert json.loads(out.stdout)["results"][0]["path"] == str(docs / "holiday-photo.jpg")


def test_missing_path_is_a_usage_error(tmp_path: Path, tiny_model_dir: Path) -> None:
    result = run("index", str(tmp_path / "nope"), data=tmp_path / "data", model=tiny_model_dir)
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_roots_add_list_remove_purges(tmp_path: Path, docs: Path, tiny_model_dir: Path) -> None:
    data = tmp_path / "data"
    other = tmp_path / "other"
    other.mkdir()
    (other / "note.txt").write_text("A note in another folder.")
    run("index", str(docs), data=data, model=tiny_model_dir)
    assert run("roots", "add", str(other), data=data, model=tiny_model_dir).exit_code == 0
    assert run("roots", "list", data=data, model=tiny_model_dir).stdout.split() == [str(docs), str(other)]
    run("index", data=data, model=tiny_model_dir)  # no path: every configured root
    assert json.loads(run("status", "--json", data=data, model=tiny_model_dir).stdout)["indexed"] == 3
    assert run("roots", "remove", str(docs), data=data, model=tiny_model_dir).exit_code == 0
    status = json.loads(run("status", "--json", data=data, model=tiny_model_dir).stdout)
    assert (status["indexed"], status["skipped"], status["errors"]) == (1, 0, 0)
    assert status["roots"] == [str(other)]


def test_other_model_is_refused_and_reindex_switches(
    tmp_path: Path, docs: Path, tiny_model_dir: Path, tiny_e5_dir: Path
) -> None:
    data = tmp_path / "data"
    run("index", str(docs), data=data, model=tiny_model_dir)
    refused = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_e5_dir), "index"])
    assert refused.exit_code == 1
    assert "findling reindex --model" in refused.output
    before = json.loads(run("status", "--json", data=data, model=tiny_model_dir).stdout)
    assert run("reindex", data=data, model=tiny_e5_dir).exit_code == 0
    after = json.loads(run("status", "--json", data=data, model=tiny_e5_dir).stdout)
    assert after["model"] == str(tiny_e5_dir)
    assert after["chunks"] == before["chunks"]
    assert run("index", data=data, model=tiny_e5_dir).exit_code == 0  # now the recorded model
    hits = json.loads(run("search", "tax return", "--json", data=data, model=tiny_e5_dir).stdout)
    assert hits["results"]


def test_second_writer_is_refused(tmp_path: Path, docs: Path, tiny_model_dir: Path) -> None:
    from indexer.datadir import DataDir

    data = tmp_path / "data"
    with DataDir(data).writer_lock("findling watch"):
        result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_model_dir),
                                          "index", str(docs)])
    assert result.exit_code == 1
    assert f"Another Findling process (findling watch, pid {os.getpid()}) is writing" in result.output
    assert not (data / "config.toml").exists()  # refused before changing anything


def test_search_json_stdout_is_pure_json_in_a_real_process(
    tmp_path: Path, docs: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "FINDLING_DATA_DIR": str(data), "FINDLING_MODEL": str(tiny_model_dir)}
    subprocess.run([sys.executable, "-m", "indexer.cli", "index", str(docs)], env=env, check=True,
                   capture_output=True)
    done = subprocess.run([sys.executable, "-m", "indexer.cli", "search", "tax", "--json"], env=env,
                          check=True, capture_output=True, text=True)
    assert json.loads(done.stdout)["results"]
