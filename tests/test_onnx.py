"""The ONNX fast path: export, manifest, parity with PyTorch, no torch at run time, backend choice,
fallback on missing or corrupt files, the registry, and the CLI commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import platformdirs
import pytest
from helpers import embedder_for, index_folder

from indexer.config import default_data_dir
from indexer.datadir import DataDir
from indexer.models import onnx_export
from indexer.models.embedding import TorchEmbedder
from indexer.models.onnx_export import ExportRefused, export_embedder, export_reranker, sha256_of
from indexer.models.onnx_runtime import (
    MODELS_DIR_ENV,
    OnnxEmbedder,
    OnnxModel,
    OnnxReranker,
    OnnxUnavailable,
    length_sorted_batches,
    models_dir,
    open_embedder,
    open_reranker,
    pool,
    pooling_modes,
    register,
    registered_export,
    registry_key,
    resolve_backend,
    unregister,
)
from indexer.models.resolution import resolve_model
from indexer.search.searcher import Searcher

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "hello world",
    "The invoice from the plumber is due next week, please pay it before Friday.",
    "",
    "Ein kurzer deutscher Satz über Rechnungen.",
    "word " * 300,  # longer than the model's 128-token budget: both backends truncate
    "a",
    "search document query passage report file",
]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty per-test models dir."""
    folder = tmp_path / "models"
    monkeypatch.setenv(MODELS_DIR_ENV, str(folder))
    return folder


@pytest.fixture(scope="module")
def e5_export(tiny_e5_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The tiny e5 model exported once (fp32 + int8) and registered in a module-wide models dir."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(MODELS_DIR_ENV, str(tmp_path_factory.mktemp("models")))
        yield export_embedder(resolve_model(str(tiny_e5_dir)), "int8").path


@pytest.fixture
def e5_copy(e5_export: Path, tmp_path: Path, registry: Path, tiny_e5_dir: Path) -> Path:
    """A private copy of the export, registered in this test's models dir (free to break)."""
    copy = shutil.copytree(e5_export, tmp_path / "export")
    register(str(tiny_e5_dir.resolve()), copy, "embedder")
    return copy


# -- export, manifest, parity ---------------------------------------------------------------------


def test_export_writes_a_complete_manifest(e5_export: Path, tiny_e5_dir: Path) -> None:
    manifest = json.loads((e5_export / "manifest.json").read_text())
    source = str(tiny_e5_dir.resolve())
    assert manifest["source_model"] == source and manifest["kind"] == "embedder"
    assert (manifest["pooling"], manifest["normalize"], manifest["dim"]) == (["mean"], True, 32)
    assert (manifest["query_prefix"], manifest["passage_prefix"]) == ("query: ", "passage: ")
    assert manifest["max_seq_length"] == 128
    assert manifest["inputs"] == ["input_ids", "attention_mask", "token_type_ids"]  # a BERT tokenizer
    assert manifest["created"] and {"torch", "onnxruntime", "transformers"} <= set(manifest["versions"])
    assert set(manifest["variants"]) == {"fp32", "int8"}
    for variant, entry in manifest["variants"].items():
        file = e5_export / entry["file"]
        assert entry["bytes"] == file.stat().st_size and entry["sha256"] == sha256_of(file)
        validation = entry["validation"]
        assert validation["passed"] and validation["metric"] == "cosine"
        assert validation["threshold"] == {"fp32": 0.999, "int8": 0.99}[variant]
        assert validation["minimum"] >= validation["threshold"] and validation["count"] == 30
    assert manifest["variants"]["fp32"]["quantization"] is None
    assert manifest["variants"]["int8"]["quantization"]["per_channel"] is True
    assert "MatMul" in manifest["variants"]["int8"]["quantization"]["op_types"]
    assert (e5_export / "tokenizer.json").read_bytes() == (tiny_e5_dir / "tokenizer.json").read_bytes()


@pytest.mark.parametrize(("variant", "threshold"), [("fp32", 0.999), ("int8", 0.99)])
def test_onnx_embeddings_match_pytorch(e5_export: Path, tiny_e5_dir: Path, variant: str,
                                       threshold: float) -> None:
    torch_embedder = embedder_for(str(tiny_e5_dir))
    onnx = OnnxEmbedder.from_export(e5_export, variant, batch_size=3)
    for encode in ("encode_passages", "encode_queries"):  # prefixes, truncation, input order
        expected, got = getattr(torch_embedder, encode)(TEXTS), getattr(onnx, encode)(TEXTS)
        assert got.dtype == np.float32 and got.shape == (len(TEXTS), 32)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-5)
        assert cosines(expected, got).min() >= threshold
    assert onnx.encode_passages([]).shape == (0, 32)


def test_onnx_embedder_is_a_drop_in(e5_export: Path, tiny_e5_dir: Path) -> None:
    torch_embedder = embedder_for(str(tiny_e5_dir))
    info = torch_embedder.info
    embedder, note = open_embedder(info)  # e5_export is registered in the module's models dir
    assert isinstance(embedder, OnnxEmbedder) and note is None
    assert embedder.info is info and embedder.model_id == info.model_id
    assert embedder.dim == torch_embedder.dim == 32
    assert embedder.batch_size == 32
    for text in TEXTS:
        assert embedder.count_tokens(text) == torch_embedder.count_tokens(text)
        assert embedder.tokenizer.encode(text).ids == torch_embedder.tokenizer.encode(text).ids


def test_both_backends_provide_the_model_protocols(e5_export: Path, tiny_e5_dir: Path, tmp_path: Path,
                                                    registry: Path) -> None:
    from tiny_models import make_keyword_cross_encoder

    from indexer.models import protocols
    from indexer.models.rerank import TorchReranker

    torch_embedder = embedder_for(str(tiny_e5_dir))
    onnx = OnnxEmbedder.from_export(e5_export, "fp32")
    assert (torch_embedder.backend, onnx.backend) == ("PyTorch", "ONNX fp32")
    for embedder in (torch_embedder, onnx):
        assert isinstance(embedder, protocols.Embedder)
        assert embedder.encode_queries(["a"]).shape == (1, 32) == (1, embedder.dim)
        assert embedder.encode_passages(["b", "c"]).shape == (2, 32)
        tokens = embedder.tokenizer.encode("invoice", add_special_tokens=False)
        assert embedder.count_tokens("invoice") == len(tokens)
    path = make_keyword_cross_encoder(tmp_path / "keyword-ce", "invoice")
    export_reranker(str(path), path, "fp32")
    torch_reranker = TorchReranker(str(path), path)
    onnx_reranker, _ = open_reranker(torch_reranker)
    assert isinstance(onnx_reranker, OnnxReranker)
    for reranker in (torch_reranker, onnx_reranker):
        assert isinstance(reranker, protocols.Reranker) and reranker.path == path
        scores = reranker.score("invoice", ["nothing", "an invoice"])
        assert scores.dtype == np.float32 and 0 < scores[0] < scores[1] < 1  # sigmoid: probabilities


def test_one_factory_opens_the_models_and_says_what_fell_back(tiny_e5_dir: Path, tmp_path: Path,
                                                               registry: Path) -> None:
    from indexer.config import Config
    from indexer.models.factory import model_name, open_models

    config = Config(model=str(tiny_e5_dir), reranker=str(tmp_path / "no-such-reranker"))
    assert model_name(config) == str(tiny_e5_dir)
    assert model_name(config, None, "recorded") == "recorded"
    assert model_name(config, "mine", "recorded") == "mine"
    resolved = []
    opened = open_models(config, backend="onnx", warm=True, on_resolved=resolved.append)
    assert resolved == [opened.info] and opened.embedder.model_id == str(tiny_e5_dir.resolve())
    assert opened.reranker is None
    assert [(n.about, n.problem) for n in opened.notes] == [("embedder", False), ("reranker", False)]
    assert "no ONNX export" in opened.notes[0].text and "is not available" in opened.notes[1].text
    broken = tmp_path / "broken-ce"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "bert"}')  # no weights, no tokenizer
    opened = open_models(Config(reranker=str(broken)), embedder=False, warm=True)
    assert opened.embedder is None and opened.reranker is None
    assert opened.notes[0].problem and opened.notes[0].text.startswith("Reranking is off: the reranker")
    opened = open_models(Config(reranker=""), embedder=False)
    assert [n.text for n in opened.notes] == ["Reranking is off (no reranker configured)."]


def test_runtime_never_imports_torch(e5_export: Path) -> None:
    code = (
        "import sys\n"
        "from indexer.models.onnx_runtime import OnnxEmbedder\n"
        f"embedder = OnnxEmbedder.from_export({str(e5_export)!r})\n"
        "vectors = embedder.encode_passages(['hello world', 'an invoice']) \n"
        "assert vectors.shape == (2, 32), vectors.shape\n"
        "assert embedder.encode_queries(['invoice']).shape == (1, 32)\n"
        "loaded = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_index_built_with_torch_is_searchable_with_onnx_and_back(e5_export: Path, tiny_e5_dir: Path,
                                                                 tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plumber.txt").write_text("The invoice from the plumber for the kitchen tap.")
    (docs / "school.txt").write_text("The children walk to school every morning with their mother.")
    index_folder(docs, tmp_path / "data", tiny_e5_dir)  # PyTorch
    torch_embedder = embedder_for(str(tiny_e5_dir))
    onnx = OnnxEmbedder.from_export(e5_export, "fp32")  # its model id is the source model's
    results = {}
    for name, embedder in (("torch", torch_embedder), ("onnx", onnx)):
        searcher = Searcher(DataDir(tmp_path / "data"), embedder)
        try:
            results[name] = [r.path for r in searcher.search("invoice from the plumber", mode="dense")]
        finally:
            searcher.close()
    assert results["onnx"] == results["torch"] and len(results["onnx"]) == 2


def test_outlier_matmuls_stay_float32(e5_export: Path, tmp_path: Path) -> None:
    import onnx

    from indexer.models.onnx_export import outlier_matmuls, quantize_int8

    fp32, tokenizer = e5_export / "model.onnx", e5_export / "tokenizer.json"
    texts = ["passage: hello world", "passage: an invoice from the plumber"]
    every = outlier_matmuls(fp32, tokenizer, texts, 128, ratio=0)
    assert len(every) == 12  # 2 layers × (query, key, value, output, two feed-forward)
    assert outlier_matmuls(fp32, tokenizer, texts, 128, ratio=1e9) == []
    quantize_int8(fp32, tmp_path / "int8.onnx", every[:2])
    nodes = {n.name: n.op_type for n in onnx.load(str(tmp_path / "int8.onnx")).graph.node}
    assert [nodes[name] for name in every[:2]] == ["MatMul", "MatMul"]
    assert not any(nodes.get(name) == "MatMul" for name in every[2:])


def test_failed_validation_refuses_the_export(tiny_e5_dir: Path, registry: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(onnx_export.THRESHOLDS, "fp32", 1.01)  # unreachable: the export must be refused
    info = resolve_model(str(tiny_e5_dir))
    with pytest.raises(ExportRefused, match=r"fp32: cosine mean .* FAILED.*Nothing was registered"):
        export_embedder(info, "int8", out=tmp_path / "out")
    assert registered_export(info.model_id) is None
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))  # no staging left


def test_an_int8_variant_that_fails_validation_is_kept_but_never_used(
        tiny_e5_dir: Path, registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(onnx_export.THRESHOLDS, "int8", 1.01)  # unreachable for int8 only
    info = resolve_model(str(tiny_e5_dir))
    said: list[str] = []
    result = export_embedder(info, "int8", out=tmp_path / "out", log=said.append)
    assert not result.manifest["variants"]["int8"]["validation"]["passed"]
    assert result.manifest["variants"]["fp32"]["validation"]["passed"]
    assert any("float32 variant is registered and used instead" in line for line in said)
    embedder, note = open_embedder(info)
    assert isinstance(embedder, OnnxEmbedder) and embedder.onnx.variant == "fp32" and note is None


def test_export_to_a_foreign_folder_is_refused(tiny_e5_dir: Path, registry: Path, tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ExportRefused, match="not a Findling ONNX export"):
        export_embedder(resolve_model(str(tiny_e5_dir)), None, out=tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# -- backend choice and fallback ------------------------------------------------------------------


def test_auto_uses_onnx_only_when_registered(tiny_e5_dir: Path, e5_export: Path, registry: Path) -> None:
    info = resolve_model(str(tiny_e5_dir))
    embedder, note = open_embedder(info, "auto")
    assert isinstance(embedder, TorchEmbedder) and note is None  # nothing registered: PyTorch, silently
    embedder, note = open_embedder(info, "onnx")
    assert isinstance(embedder, TorchEmbedder) and "no ONNX export" in note and "findling export-onnx" in note
    register(info.model_id, e5_export, "embedder")
    embedder, note = open_embedder(info, "auto", batch_size=8, threads=1)
    assert isinstance(embedder, OnnxEmbedder) and note is None
    assert (embedder.onnx.variant, embedder.batch_size, embedder.threads) == ("int8", 8, 1)
    embedder, note = open_embedder(info, "torch")
    assert isinstance(embedder, TorchEmbedder) and note is None


def test_backend_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FINDLING_BACKEND", raising=False)
    assert resolve_backend(None) == "auto"
    monkeypatch.setenv("FINDLING_BACKEND", "torch")
    assert resolve_backend(None) == "torch" and resolve_backend("ONNX") == "onnx"
    with pytest.raises(ValueError, match="auto, onnx, torch"):
        resolve_backend("tensorflow")


def test_int8_is_used_only_when_its_validation_passed(e5_copy: Path, tiny_e5_dir: Path) -> None:
    manifest = json.loads((e5_copy / "manifest.json").read_text())
    manifest["variants"]["int8"]["validation"]["passed"] = False
    (e5_copy / "manifest.json").write_text(json.dumps(manifest))
    embedder, note = open_embedder(resolve_model(str(tiny_e5_dir)))
    assert isinstance(embedder, OnnxEmbedder) and embedder.onnx.variant == "fp32" and note is None


def test_missing_int8_file_falls_back_to_fp32(e5_copy: Path, tiny_e5_dir: Path) -> None:
    (e5_copy / "model_int8.onnx").unlink()
    embedder, note = open_embedder(resolve_model(str(tiny_e5_dir)))
    assert isinstance(embedder, OnnxEmbedder) and embedder.onnx.variant == "fp32"
    assert "model_int8.onnx is missing" in note and "Using ONNX fp32" in note


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "export folder gone"])
def test_broken_onnx_falls_back_to_pytorch(e5_copy: Path, tiny_e5_dir: Path, damage: str) -> None:
    for name in ("model.onnx", "model_int8.onnx"):
        file = e5_copy / name
        if damage == "missing":
            file.unlink()
        elif damage == "truncated":
            file.write_bytes(file.read_bytes()[:1000])
        elif damage == "garbage":  # same size, so only onnxruntime can tell
            size = file.stat().st_size
            file.write_bytes((b"\x07not an onnx graph" * size)[:size])
    if damage == "export folder gone":
        shutil.rmtree(e5_copy)
    info = resolve_model(str(tiny_e5_dir))
    embedder, note = open_embedder(info, "onnx")
    assert isinstance(embedder, TorchEmbedder)
    expected = {"missing": "is missing", "truncated": "is corrupt", "garbage": "cannot be loaded",
                "export folder gone": "is missing"}[damage]
    assert expected in note and "Using PyTorch" in note and "findling export-onnx" in note
    assert embedder.encode_queries(["still works"]).shape == (1, 32)


# -- the registry ---------------------------------------------------------------------------------


def test_registry_is_keyed_by_model_id_or_path(registry: Path, tmp_path: Path) -> None:
    hub_id, path_id = "intfloat/multilingual-e5-small", str(tmp_path / "models" / "multilingual-e5-small")
    assert registry_key(hub_id) != registry_key(path_id)
    assert registry_key(hub_id) == registry_key(hub_id) and "/" not in registry_key(path_id)
    register(hub_id, tmp_path / "a", "embedder")
    register(path_id, tmp_path / "b", "embedder")
    assert registered_export(hub_id) == tmp_path / "a" and registered_export(path_id) == tmp_path / "b"
    assert registered_export("intfloat/other") is None
    assert unregister(hub_id) and registered_export(hub_id) is None and not unregister(hub_id)


def test_models_dir_does_not_depend_on_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(MODELS_DIR_ENV, raising=False)
    monkeypatch.setenv("FINDLING_DATA_DIR", str(tmp_path / "data"))
    default = models_dir()
    assert default == Path(platformdirs.user_data_dir("findling-models", appauthor=False)).resolve()
    assert not default.is_relative_to(default_data_dir()) and not default.is_relative_to(tmp_path)
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "m"))
    assert models_dir() == tmp_path / "m"


# -- pooling and batching -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken"])
def test_numpy_pooling_equals_sentence_transformers(mode: str) -> None:
    import torch

    try:
        from sentence_transformers.sentence_transformer.modules import Pooling
    except ImportError:  # pragma: no cover - older sentence-transformers
        from sentence_transformers.models import Pooling

    rng = np.random.default_rng(0)
    hidden = rng.normal(size=(3, 7, 8)).astype(np.float32)
    mask = np.array([[1] * 7, [1] * 4 + [0] * 3, [1] + [0] * 6])
    expected = Pooling(8, mode)({"token_embeddings": torch.from_numpy(hidden),
                                 "attention_mask": torch.from_numpy(mask)})["sentence_embedding"]
    np.testing.assert_allclose(pool(hidden, mask, [mode]), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_pooling_config_formats(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    config = tmp_path / "1_Pooling" / "config.json"
    config.write_text(json.dumps({"word_embedding_dimension": 8, "pooling_mode_cls_token": True}))
    assert pooling_modes(tmp_path) == ("cls",)
    config.write_text(json.dumps({"embedding_dimension": 8, "pooling_mode": ["mean", "max"]}))
    assert pooling_modes(tmp_path) == ("mean", "max")
    config.write_text(json.dumps({"embedding_dimension": 8, "pooling_mode": "weightedmean"}))
    with pytest.raises(OnnxUnavailable, match="weightedmean"):
        pooling_modes(tmp_path)
    assert pooling_modes(tmp_path / "plain-hf-model") == ("mean",)


def test_batches_are_length_sorted_and_token_bounded() -> None:
    lengths = [5, 100, 7, 100, 50, 6]
    batches = length_sorted_batches(lengths, batch_size=4, max_tokens=200)
    assert [list(b) for b in batches] == [[1, 3], [4, 2, 5, 0]]
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(lengths)))
    assert [len(b) for b in length_sorted_batches([600], 32, 512)] == [1]  # never an empty batch


# -- the reranker ---------------------------------------------------------------------------------


def test_reranker_export_matches_cross_encoder(tmp_path: Path, registry: Path) -> None:
    from tiny_models import make_keyword_cross_encoder

    from indexer.models.rerank import TorchReranker

    path = make_keyword_cross_encoder(tmp_path / "keyword-ce", "invoice")
    result = export_reranker(str(path), path, "int8")
    assert result.manifest["kind"] == "reranker" and result.manifest["activation"] == "sigmoid"
    assert all(v["validation"]["passed"] for v in result.manifest["variants"].values())
    torch_reranker = TorchReranker(str(path), path)
    reranker, note = open_reranker(torch_reranker)
    assert isinstance(reranker, OnnxReranker) and note is None and reranker.onnx.variant == "int8"
    passages = ["nothing here", "the invoice", "invoice and invoice", "an invoice, an invoice, an invoice"]
    scores = reranker.score("invoice", passages)
    assert list(np.argsort(scores)) == list(np.argsort(torch_reranker.score("invoice", passages)))
    fp32 = OnnxReranker(str(path), path, OnnxModel(result.path / "model.onnx", result.path / "tokenizer.json",
                                                   "fp32", result.manifest))
    np.testing.assert_allclose(fp32.score("invoice", passages), torch_reranker.score("invoice", passages),
                               atol=1e-4)
    assert open_reranker(torch_reranker, "torch") == (torch_reranker, None)


# -- the commands ---------------------------------------------------------------------------------


def test_cli_export_onnx_and_models(tiny_model_dir: Path, registry: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from indexer.cli import cli

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    result = runner.invoke(cli, [*data, "export-onnx", str(tiny_model_dir), "--quantize", "none", "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    model_id = str(tiny_model_dir.resolve())
    assert manifest["source_model"] == model_id and set(manifest["variants"]) == {"fp32"}
    assert registered_export(model_id) == Path(manifest["path"]) and Path(manifest["path"]).parent == registry

    result = runner.invoke(cli, [*data, "--model", str(tiny_model_dir), "models", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["models_dir"] == str(registry)
    assert report["active"]["model_id"] == model_id and report["active"]["backend"].startswith("ONNX fp32")
    entry = next(m for m in report["models"] if m["model_id"] == model_id)
    assert entry["active"] and [b["backend"] for b in entry["backends"]] == ["torch", "onnx fp32"]
    assert all(b["status"] == "ok" and b["bytes"] > 0 for b in entry["backends"])

    result = runner.invoke(cli, [*data, "--model", str(tiny_model_dir), "models"])
    assert result.exit_code == 0 and f"* {model_id} (embedder)" in result.output

    result = runner.invoke(cli, [*data, "export-onnx", str(tmp_path / "no-such-model")])
    assert result.exit_code == 1 and "is not available" in result.output


def test_whole_search_process_on_onnx_never_imports_torch(e5_export: Path, tiny_e5_dir: Path,
                                                          tmp_path: Path, registry: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plumber.txt").write_text("The invoice from the plumber for the kitchen tap.")
    index_folder(docs, tmp_path / "data", tiny_e5_dir)
    code = (
        "import sys\n"
        "from indexer.cli import cli\n"
        "try:\n"
        "    cli(['search', 'invoice plumber', '--json', '--matrix'], standalone_mode=False)\n"
        "finally:\n"
        "    loaded = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "    print(loaded, file=sys.stderr)\n"
        "assert not loaded, loaded\n"
    )
    register(str(tiny_e5_dir.resolve()), e5_export, "embedder")
    env = {**os.environ, "FINDLING_DATA_DIR": str(tmp_path / "data"), "FINDLING_MODEL": str(tiny_e5_dir),
           "FINDLING_BACKEND": "onnx", MODELS_DIR_ENV: str(registry)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["path"].endswith("plumber.txt")


def test_search_reranks_through_onnx_without_torch(e5_export: Path, tiny_e5_dir: Path, tmp_path: Path,
                                                   registry: Path) -> None:
    """`findling search` uses the registered ONNX export of the configured reranker, as of the embedder."""
    from tiny_models import make_keyword_cross_encoder

    from indexer.config import Config

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plumber.txt").write_text("The plumber came about the kitchen tap on Monday.")
    (docs / "bill.txt").write_text("Invoice: kitchen tap repair, invoice number 17, invoice due in May.")
    data = tmp_path / "data"
    index_folder(docs, data, tiny_e5_dir)
    reranker = make_keyword_cross_encoder(tmp_path / "keyword-ce", "invoice")
    export_reranker(str(reranker), reranker, "int8")  # registered in this test's models dir
    register(str(tiny_e5_dir.resolve()), e5_export, "embedder")
    config = Config.load(data)
    config.reranker = str(reranker)
    config.save(data)
    code = (
        "import sys\n"
        "from indexer.cli import cli\n"
        "try:\n"
        "    cli(['search', 'kitchen tap', '--json'], standalone_mode=False)\n"
        "finally:\n"
        "    loaded = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "    print(loaded, file=sys.stderr)\n"
        "assert not loaded, loaded\n"
    )
    env = {**os.environ, "FINDLING_DATA_DIR": str(data), "FINDLING_MODEL": str(tiny_e5_dir),
           MODELS_DIR_ENV: str(registry)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["reranked"] and answer["results"][0]["path"].endswith("bill.txt")  # the keyword CE's pick
    assert answer["results"][0]["scores"]["rerank"] > answer["results"][1]["scores"]["rerank"]


def test_without_pytorch_a_model_with_no_onnx_is_refused_plainly(tiny_model_dir: Path, registry: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A lite build (no torch) runs ONNX models only; any other model gets a clear message."""
    import indexer.models.onnx_runtime as onnx_runtime
    from indexer.models.embedding import ModelUnavailable

    monkeypatch.setattr(onnx_runtime, "torch_installed", lambda: False)
    with pytest.raises(ModelUnavailable, match=r"no usable ONNX model, and this install .*findling\[torch\]"):
        open_embedder(resolve_model(str(tiny_model_dir)))


def test_the_app_runs_on_a_shipped_onnx_model_with_pytorch_absent(tiny_e5_dir: Path, e5_export: Path,
                                                                  tmp_path: Path, registry: Path) -> None:
    """What a lite build does: the bundled model ships `onnx/model.onnx`; torch, transformers and
    sentence-transformers cannot be imported at all; the app's selftest-sized flow still works."""
    model = shutil.copytree(tiny_e5_dir, tmp_path / "tiny-e5-shipped")
    (model / "onnx").mkdir()
    shutil.copy(e5_export / "model.onnx", model / "onnx" / "model.onnx")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plumber.txt").write_text("The invoice from the plumber for the kitchen tap.")
    (docs / "garden.txt").write_text("Roses and tulips in the garden.")
    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'sentence_transformers'):\n"
        "    sys.modules[name] = None  # importing them raises, as in a build without them\n"
        "from indexer.cli import cli\n"
        "cli(['index', sys.argv[1]], standalone_mode=False)\n"
        "cli(['search', 'invoice plumber', '--json'], standalone_mode=False)\n"
    )
    env = {**os.environ, "FINDLING_DATA_DIR": str(tmp_path / "data"), "FINDLING_MODEL": str(model),
           MODELS_DIR_ENV: str(registry)}
    result = subprocess.run([sys.executable, "-c", code, str(docs)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["path"].endswith("plumber.txt")
