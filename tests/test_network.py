"""No network call the user did not ask for (issue 15): resolution never probes the hub, and
`findling models download` (or Settings → Download) is the one way a model is fetched."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from indexer.cli import cli
from indexer.config import CONFIG_VERSION, Config
from indexer.models import download as download_module
from indexer.models.onnx_export import export_embedder
from indexer.models.onnx_runtime import MODELS_DIR_ENV
from indexer.models.resolution import resolve_model


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and refuse) every DNS lookup and connect; the hub is not declared offline."""
    attempts: list[str] = []

    def refuse(what: str):  # noqa: ANN202
        def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            attempts.append(f"{what}{args[1:2] or args[:1]}")
            raise OSError("network use in a test")
        return call

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    return attempts


def test_index_and_search_with_a_missing_model_touch_no_network(tmp_path: Path,
                                                                no_network: list[str]) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "plumber.txt").write_text("The invoice from the plumber for the kitchen tap.")
    runner = CliRunner()
    indexed = runner.invoke(cli, ["--data-dir", str(data), "--model", "intfloat/multilingual-e5-small",
                                  "index", "--phase", "text", str(docs)])
    assert indexed.exit_code == 0, indexed.output
    assert "findling models download intfloat/multilingual-e5-small" in indexed.output
    found = runner.invoke(cli, ["--data-dir", str(data), "--model", "intfloat/multilingual-e5-small",
                                "search", "--mode", "keyword", "--json", "plumber"])
    assert found.exit_code == 0, found.output
    assert no_network == []


def hub_repo(tiny_e5_dir: Path, folder: Path, with_onnx: bool) -> Path:
    """What a hub snapshot of a sentence-transformers model looks like, optionally with ONNX files."""
    repo = shutil.copytree(tiny_e5_dir, folder)
    if with_onnx:
        export = export_embedder(resolve_model(str(tiny_e5_dir)), None, folder.parent / "export").path
        (repo / "onnx").mkdir()
        shutil.copy(export / "model.onnx", repo / "onnx" / "model.onnx")
    return repo


def fake_snapshot(repo: Path, calls: list[tuple]):  # noqa: ANN201
    def snapshot_download(repo_id: str, **kwargs) -> str:  # noqa: ANN003
        calls.append((repo_id, kwargs))
        if kwargs.get("tqdm_class"):
            bar = kwargs["tqdm_class"](total=2)
            bar.update(1)
            bar.update(1)
            bar.close()
        return str(repo)
    return snapshot_download


def test_models_download_checks_and_uses_shipped_onnx_files(tmp_path: Path, tiny_e5_dir: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "models"))
    repo = hub_repo(tiny_e5_dir, tmp_path / "hub" / "acme--tiny-e5", with_onnx=True)
    calls: list[tuple] = []
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot(repo, calls))
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "models", "download",
                                      "acme/tiny-e5"])
    assert result.exit_code == 0, result.output
    assert [c[0] for c in calls] == ["acme/tiny-e5"]
    assert "runs on ONNX Runtime (onnx/model.onnx)" in result.output
    assert "findling reindex --model acme/tiny-e5" in result.output


def test_a_download_without_onnx_files_says_what_it_needs(tmp_path: Path, tiny_e5_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    repo = hub_repo(tiny_e5_dir, tmp_path / "hub" / "acme--plain", with_onnx=False)
    monkeypatch.setattr(download_module, "torch_installed", lambda: False)
    done = download_module.download_model("acme/plain", snapshot=fake_snapshot(repo, []))
    assert done.runs_on == "" and "needs the torch extra" in done.note
    monkeypatch.setattr(download_module, "torch_installed", lambda: True)
    done = download_module.download_model("acme/plain", snapshot=fake_snapshot(repo, []))
    assert done.runs_on == "torch" and "findling export-onnx acme/plain" in done.note


def test_a_broken_shipped_onnx_file_is_not_used(tmp_path: Path, tiny_e5_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "models"))
    repo = hub_repo(tiny_e5_dir, tmp_path / "hub" / "acme--broken", with_onnx=True)
    (repo / "onnx" / "model.onnx").write_bytes(b"not a model")
    monkeypatch.setattr(download_module, "torch_installed", lambda: False)
    done = download_module.download_model("acme/broken", snapshot=fake_snapshot(repo, []))
    assert done.runs_on == "" and "its ONNX file failed a check" in done.note


def test_a_failed_download_is_one_plain_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def offline(repo_id: str, **kwargs) -> str:  # noqa: ANN003
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "models", "download", "acme/x"])
    assert result.exit_code == 1
    assert "Could not download acme/x: ConnectionError: Failed to resolve 'huggingface.co'" in result.output
    assert "Traceback" not in result.output


def test_the_allow_download_setting_is_migrated_away(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('roots = ["/srv/docs"]\nallow_download = true\nmodel = "m"\n')
    config = Config.load(tmp_path)
    assert config.roots == ["/srv/docs"] and config.model == "m"
    assert not hasattr(config, "allow_download")
    config.save(tmp_path)
    saved = (tmp_path / "config.toml").read_text()
    assert "allow_download" not in saved and f"config_version = {CONFIG_VERSION}" in saved


def test_models_without_a_subcommand_still_lists(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "models", "--json"])
    assert result.exit_code == 0, result.output
    assert "models" in json.loads(result.output)
