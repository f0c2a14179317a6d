"""Global options (`--data-dir`, `--model`, `--backend`, and any added later) before or after any command."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import indexer.cli
from indexer.cli import cli
from indexer.cli.global_options import hoist
from indexer.datadir import DataDir
from indexer.write.watch.power import pause_flag, request_pause


def command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every registered command, subcommands of groups included (`roots list`)."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            if command.invoke_without_command:  # `models` lists, `models download` fetches
                yield (*prefix, name)
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


ALL_COMMANDS = sorted(command_paths())


def invoke(args: list[str], env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env)


# -- the mechanism ------------------------------------------------------------------------------


def test_hoist_moves_global_options_in_front_of_the_command() -> None:
    assert hoist(cli, ["status", "--json", "--data-dir", "D"]) == ["--data-dir", "D", "status", "--json"]
    assert hoist(cli, ["--model", "M", "roots", "list", "--data-dir=D", "--backend", "onnx"]) == [
        "--model", "M", "--data-dir=D", "--backend", "onnx", "roots", "list"]
    # other dashed tokens stay where they are: `search` keeps them as query text
    assert hoist(cli, ["search", "-draft", "notes", "--data-dir", "D", "--k", "3"]) == [
        "--data-dir", "D", "search", "-draft", "notes", "--k", "3"]
    assert hoist(cli, ["search", "--", "--model", "x"]) == ["search", "--", "--model", "x"]
    assert hoist(cli, ["search", "a", "--", "--data-dir", "D"]) == ["search", "a", "--", "--data-dir", "D"]


def test_an_option_added_to_the_group_later_is_global_too() -> None:
    @click.group(cls=indexer.cli.FindlingGroup)
    @click.option("--quiet", is_flag=True)
    @click.option("--threads", type=int)
    def group(quiet: bool, threads: int | None) -> None:
        click.echo(f"quiet={quiet} threads={threads}")

    assert hoist(group, ["status", "--threads", "2", "--quiet", "--json"]) == [
        "--threads", "2", "--quiet", "status", "--json"]


def test_a_global_option_without_its_value_is_a_usage_error(tmp_path: Path) -> None:
    result = invoke(["status", "--data-dir"])
    assert result.exit_code == 2 and "'--data-dir' requires an argument" in result.output


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_takes_the_global_options_after_it(path: tuple[str, ...], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The group's App gets the values given after the command (the command itself is not run)."""
    seen = {}

    class Stop(Exception):
        pass

    def recording_app(data_dir: Path, model: str | None, backend: str | None) -> None:
        seen.update(data_dir=data_dir, model=model, backend=backend)
        raise Stop

    monkeypatch.setattr(indexer.cli, "App", recording_app)
    result = invoke([*path, "--data-dir", str(tmp_path / "d"), "--model", "m", "--backend", "onnx"])
    assert isinstance(result.exception, Stop), result.output
    assert seen == {"data_dir": (tmp_path / "d").resolve(), "model": "m", "backend": "onnx"}


# -- each command uses the data dir named after it ------------------------------------------------


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    """(docs, data): two documents indexed with the tiny model; copied for each test."""
    base = tmp_path_factory.mktemp("indexed")
    docs = base / "docs"
    docs.mkdir()
    (docs / "garden.txt").write_text("Tomatoes need sun and water every day in summer.")
    (docs / "taxes.md").write_text("File the quarterly tax return before the deadline.")
    result = invoke(["index", str(docs), "--data-dir", str(base / "data"), "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    return docs, base / "data"


@pytest.fixture
def data(indexed: tuple[Path, Path], tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(indexed[1], copy)
    return copy


def busy(data: Path, args: list[str]) -> str:
    """The output of a writing command run while this test holds `data`'s writer lock."""
    with DataDir(data).writer_lock("the test"):
        result = invoke(args)
    assert result.exit_code == 1, result.output
    return result.output


Case = Callable[[Path, Path, Path, Path], None]  # (data, docs, model, tmp_path)


def case_index(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    result = invoke(["index", str(docs), "--data-dir", str(fresh), "--model", str(model)])
    assert result.exit_code == 0, result.output
    assert DataDir(fresh).recorded_model() == str(model) and DataDir(fresh).config().roots == [str(docs)]


def case_reindex(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert f"writing the index in {data}" in busy(data, ["reindex", "--model", str(model),
                                                         "--data-dir", str(data)])


def case_search(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    result = invoke(["search", "tomatoes", "-draft", "--json", "--data-dir", str(data),
                     "--model", str(model)])
    payload = json.loads(result.stdout)
    assert payload["query"] == "tomatoes -draft"  # `-draft` stays query text (an exclusion)
    assert payload["results"][0]["path"] == str(docs / "garden.txt")


def case_status(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    status = json.loads(invoke(["status", "--json", "--data-dir", str(data)]).stdout)
    assert status["data_dir"] == str(data) and status["indexed"] == 2


def case_similar(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    result = invoke(["similar", str(docs / "garden.txt"), "--json", "--data-dir", str(data)])
    payload = json.loads(result.stdout)
    assert payload["path"] == str(docs / "garden.txt") and payload["results"]


def case_duplicates(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert json.loads(invoke(["duplicates", "--json", "--data-dir", str(data)]).stdout)["groups"] == []


def case_roots_list(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert invoke(["roots", "list", "--data-dir", str(data)]).stdout.split() == [str(docs)]


def case_roots_add(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert invoke(["roots", "add", str(tmp_path), "--data-dir", str(data)]).exit_code == 0
    assert DataDir(data).config().roots == [str(docs), str(tmp_path)]


def case_roots_remove(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    output = busy(data, ["roots", "remove", str(docs), "--data-dir", str(data)])
    assert f"writing the index in {data}" in output


def tiny_beir(folder: Path) -> Path:
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "Tomatoes need sun."}\n')
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "tomatoes"}\n')
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


def case_eval(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    dataset = tiny_beir(tmp_path / "beir")
    assert f"writing the index in {data}" in busy(data, ["eval", str(dataset), "--data-dir", str(data)])
    assert (data.parent / f"{data.name}-corpus").is_dir()  # beside the data dir named, not in the eval cache


def case_watch(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert f"writing the index in {data}" in busy(data, ["watch", "--data-dir", str(data)])


def case_pause(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert invoke(["pause", "--data-dir", str(data)]).exit_code == 0
    assert pause_flag(data).exists()


def case_resume(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    request_pause(data)
    result = invoke(["resume", "--data-dir", str(data)])
    assert "Resumed." in result.output and not pause_flag(data).exists()


def case_models(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert json.loads(invoke(["models", "--json", "--data-dir", str(data)]).stdout)["data_dir"] == str(data)


def case_export_onnx(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    config = DataDir(data).config()
    config.reranker = str(tmp_path / "the-reranker-of-this-index")
    config.save(data)
    result = invoke(["export-onnx", "--reranker", "--data-dir", str(data)])
    assert result.exit_code == 1 and "the-reranker-of-this-index" in result.output


def case_models_download(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    """The one command that needs no data dir: the option is still taken after it, and no data
    dir is made (the download itself fails offline, as tests run)."""
    result = invoke(["models", "download", "intfloat/no-such-model", "--data-dir", str(tmp_path / "unused")],
                    env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")})
    assert result.exit_code == 1 and "No such option" not in result.output
    assert not (tmp_path / "unused").exists()


def case_config_path(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    assert invoke(["config", "path", "--data-dir", str(data)]).stdout.strip() == str(data / "config.toml")


def case_config_reset(data: Path, docs: Path, model: Path, tmp_path: Path) -> None:
    result = invoke(["config", "reset", "--data-dir", str(data)])
    assert result.exit_code == 0 and f"Wrote default settings to {data / 'config.toml'}" in result.output
    assert DataDir(data).config().roots == [str(docs)]  # the folders are kept


CASES: dict[tuple[str, ...], Case] = {
    ("index",): case_index, ("reindex",): case_reindex, ("search",): case_search, ("status",): case_status,
    ("roots", "list"): case_roots_list, ("roots", "add"): case_roots_add,
    ("roots", "remove"): case_roots_remove, ("eval",): case_eval, ("watch",): case_watch,
    ("pause",): case_pause, ("resume",): case_resume, ("models",): case_models,
    ("models", "download"): case_models_download, ("config", "path"): case_config_path,
    ("config", "reset"): case_config_reset,
    ("export-onnx",): case_export_onnx, ("similar",): case_similar, ("duplicates",): case_duplicates,
}


def test_every_command_has_a_data_dir_case() -> None:
    assert sorted(CASES) == ALL_COMMANDS


@pytest.mark.parametrize("path", ALL_COMMANDS, ids=" ".join)
def test_every_command_uses_the_data_dir_named_after_it(
    path: tuple[str, ...], data: Path, indexed: tuple[Path, Path], tiny_model_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = tmp_path / "default-data"
    monkeypatch.setenv("FINDLING_DATA_DIR", str(default))  # what would be used without the option
    cache = tmp_path / ".cache" / "findling"  # as on Linux: inside a folder the default excludes cover
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(cache))
    CASES[path](data, indexed[0], tiny_model_dir, tmp_path)
    assert not default.exists() and not (tmp_path / "cache").exists()


# -- `--`, environment variables, eval's cache ----------------------------------------------------


def test_double_dash_ends_the_options(data: Path, tiny_model_dir: Path) -> None:
    env = {"FINDLING_DATA_DIR": str(data), "FINDLING_MODEL": str(tiny_model_dir)}
    result = invoke(["search", "--json", "--", "--model"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["query"] == "--model"


def test_environment_applies_and_an_option_after_the_command_overrides_it(data: Path, tmp_path: Path) -> None:
    env = {"FINDLING_DATA_DIR": str(data)}
    assert json.loads(invoke(["status", "--json"], env=env).stdout)["data_dir"] == str(data)
    other = tmp_path / "other"
    after = invoke(["status", "--json", "--data-dir", str(other)], env=env)
    assert json.loads(after.stdout)["data_dir"] == str(other)


def test_eval_without_a_data_dir_uses_its_cache(tmp_path: Path, tiny_model_dir: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = tiny_beir(tmp_path / "tiny-beir")
    monkeypatch.delenv("FINDLING_DATA_DIR", raising=False)
    cache = tmp_path / ".cache" / "findling"  # as on Linux: inside a folder the default excludes cover
    monkeypatch.setattr("platformdirs.user_cache_dir", lambda *a, **k: str(cache))
    result = invoke(["eval", str(dataset), "--json", "--no-rerank", "--mode", "keyword",
                     "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ndcg@10"] == 1.0  # the corpus was indexed (not in the data dir)
    assert sorted(p.name for p in (cache / "eval").iterdir())[0].startswith("tiny-beir--")
