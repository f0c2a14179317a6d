"""Export an embedder (or cross-encoder) to ONNX, quantize it to int8, check it against PyTorch, register it.

The graph is the transformer alone, traced with the TorchScript exporter (`dynamo=False`) on a
wrapper that passes keyword arguments: inputs `input_ids`, `attention_mask` (and `token_type_ids`
when the tokenizer produces them), dynamic batch and sequence axes, output the last hidden state
(embedders) or the logits (cross-encoders). Pooling and normalization are done in NumPy by
`indexer.models.onnx_runtime`, so one runtime serves our exports and the hub's `onnx/model.onnx` files.

int8 is onnxruntime's dynamic quantization: MatMul weights per output channel, embedding tables
(Gather) per tensor, activations per tensor and batch at run time; MatMuls whose inputs carry outliers
stay float32 (`outlier_matmuls`). The transformer optimizer (`onnxruntime.transformers`, attention /
LayerNorm / GELU fusion) is not used: onnxruntime makes the same fusions when it loads a graph, and the
fused variants measured no faster, while fused Attention keeps Q, K and V in float32.

Each variant is validated on real multilingual passages: mean and minimum cosine to the PyTorch
embeddings must reach 0.999 (fp32) and 0.99 (int8), else the export is refused with the figures and
nothing is registered.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from indexer.models.embedding import TORCH_EXTRA, TORCH_PACKAGES, ModelInfo, TorchEmbedder, TorchUnavailable
from indexer.models.onnx_runtime import (
    MANIFEST_FILE,
    TOKENIZER_FILE,
    VARIANT_FILES,
    OnnxEmbedder,
    OnnxModel,
    OnnxReranker,
    _write_json,
    default_export_dir,
    install_folder,
    pooling_modes,
    register,
)

OPSET = 17
THRESHOLDS = {"fp32": 0.999, "int8": 0.99}
# An input whose peak is 100× its RMS gets an int8 step of peak/127 ≈ RMS/1.3: its ordinary values are lost.
OUTLIER_RATIO = 100.0
# MatMul weights per output channel (per tensor loses ~1% cosine on e5-small); Gather covers the
# embedding tables, quantized per tensor: a 3.5× smaller file (e5-small: 407 → 124 MB), a faster start.
QUANTIZATION = {"method": "dynamic", "weight_type": "int8", "per_channel": True,
                "op_types": ["MatMul", "Gather"]}

# Real text of varied length, language and script: what the validation compares on.
VALIDATION_PASSAGES: tuple[str, ...] = (
    "The invoice from the plumber covers the replacement of the kitchen tap and two hours of labour.",
    "Please find attached the minutes of Tuesday's board meeting; the budget vote was postponed to May.",
    "Mitochondria are the site of oxidative phosphorylation, where most of the cell's ATP is produced.",
    "def parse(path):\n    with open(path) as fh:\n        return [line.split(',') for line in fh]",
    "The lease runs for twelve months from 1 March 2024; the deposit is two months' rent, returned within "
    "thirty days of the end of the tenancy once the inventory has been checked.",
    "Vaccination coverage above 95% is needed to interrupt measles transmission in a population.",
    "Le contrat de travail prend effet le 1er septembre. La période d'essai est de trois mois, "
    "renouvelable une fois avec l'accord écrit des deux parties.",
    "Die Rechnung ist innerhalb von 14 Tagen ohne Abzug zu zahlen. Bei Zahlungsverzug berechnen wir Zinsen.",
    "La reunión del consejo se aplazó hasta el jueves: faltaban los informes financieros del trimestre.",
    "O relatório anual mostra um aumento de 12% nas vendas, sobretudo no mercado brasileiro.",
    "Il treno per Milano parte alle 8:15 dal binario 4; i biglietti si possono comprare online.",
    "De gemeente heeft de vergunning voor de verbouwing van het pand aan de Prinsengracht verleend.",
    "Spotkanie z klientem zostało przeniesione na przyszły tydzień z powodu choroby kierownika projektu.",
    "Отчёт о проделанной работе нужно сдать до конца месяца; шаблон лежит в общей папке.",
    "Ο γιατρός συνέστησε ξεκούραση και άφθονα υγρά για τις επόμενες τρεις ημέρες.",
    "Toplantı notları ekte yer almaktadır; bütçe kararı bir sonraki oturuma ertelendi.",
    "مرحبا، أرسلت لك الفاتورة الخاصة بإصلاح السيارة، يرجى الدفع قبل نهاية الأسبوع.",
    "החוזה נחתם ביום שני, והתשלום הראשון יועבר בתחילת החודש הבא.",
    "गर्मी की छुट्टियों में हम दादी के गाँव जाएंगे और वहाँ दो हफ्ते रुकेंगे।",
    "会议纪要已经上传到共享文件夹，请在周五之前确认预算表中的数字。",
    "来週の月曜日までに見積書を送ってください。納期は三月末を予定しています。",
    "이번 분기 매출은 전년 대비 8% 증가했으며, 주요 원인은 해외 수출 확대입니다.",
    "Hóa đơn tiền điện tháng này cao hơn tháng trước vì trời nóng và điều hòa chạy suốt ngày.",
    "Pembayaran sewa rumah harus dilakukan paling lambat tanggal lima setiap bulan.",
    "ข้อมูลการประชุมถูกส่งไปยังอีเมลของทุกคนแล้ว กรุณาตรวจสอบก่อนวันศุกร์",
    "Kiitos viestistä! Tapaaminen sopii minulle hyvin torstaina kello kymmenen.",
    "Background: randomized controlled trials of statins show a 25% relative reduction in major vascular "
    "events per mmol/L reduction in LDL cholesterol. Methods: we pooled individual data from 27 trials "
    "(n = 174,000) and estimated effects in people at low risk of vascular disease. Results: the "
    "proportional reductions were similar in all risk groups, including those with a five-year risk below "
    "10%. Conclusions: statin therapy is of benefit even to people at low risk.",
    "Résumé : nous étudions l'effet de la température sur la germination de trois espèces de graminées "
    "alpines. Les graines ont été incubées entre 5 et 30 °C pendant quatre semaines ; le taux de "
    "germination maximal a été observé à 20 °C pour toutes les espèces, mais la vitesse variait fortement.",
    "ok",
    "Invoice #4471 — €1,250.00 — due 2025-04-30 — IBAN DE89 3704 0044 0532 0130 00",
)
VALIDATION_QUERIES: tuple[str, ...] = (
    "invoice from the plumber",
    "wann muss die Rechnung bezahlt werden",
    "会议纪要",
    "statins for people at low risk",
)


class ExportRefused(RuntimeError):
    """The ONNX export does not reproduce the PyTorch model closely enough; nothing was registered."""


@dataclass(frozen=True)
class Validation:
    """Agreement of one ONNX variant with PyTorch: cosines of embeddings, or Pearson r of reranker logits."""

    metric: str
    mean: float
    minimum: float
    threshold: float
    count: int

    @property
    def passed(self) -> bool:
        return self.mean >= self.threshold and self.minimum >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def __str__(self) -> str:
        return (f"{self.metric} mean {self.mean:.5f}, min {self.minimum:.5f} over {self.count} "
                f"(needs ≥ {self.threshold}{'' if self.passed else ': FAILED'})")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: dict[str, Any]
    registered: bool


EXPORT_NEEDS = (*TORCH_PACKAGES, "onnx")  # tracing needs PyTorch; int8 quantization needs `onnx`


def missing_export_needs() -> list[str]:
    """The packages an export needs that cannot be imported here (all come with the `torch` extra)."""
    missing = []
    for name in EXPORT_NEEDS:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # e.g. a module entry blocked as None
            found = False
        if not found:
            missing.append(name)
    return missing


def require_export_needs() -> None:
    """Raise `TorchUnavailable` naming what is missing, when an export cannot run here."""
    if missing := missing_export_needs():
        raise TorchUnavailable(f"ONNX export needs the torch extra ({', '.join(missing)} missing): "
                               f"{TORCH_EXTRA}")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def versions() -> dict[str, str]:
    found = {}
    for package in ("findling", "torch", "transformers", "sentence-transformers", "tokenizers", "onnx",
                    "onnxruntime", "numpy"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[package] = importlib.metadata.version(package)
    return found


def cosine_validation(reference: np.ndarray, candidate: np.ndarray, threshold: float) -> Validation:
    cosines = (reference * candidate).sum(axis=1) / np.maximum(
        np.linalg.norm(reference, axis=1) * np.linalg.norm(candidate, axis=1), 1e-12)
    return Validation("cosine", round(float(cosines.mean()), 6), round(float(cosines.min()), 6), threshold,
                      len(cosines))


def correlation_validation(reference: np.ndarray, candidate: np.ndarray, threshold: float) -> Validation:
    """Pearson r of reranker logits over all pairs (a score's scale is arbitrary, its order is not)."""
    r = float(np.corrcoef(reference, candidate)[0, 1]) if np.std(reference) > 0 else float(
        np.allclose(reference, candidate, atol=1e-4))
    return Validation("logit pearson", round(r, 6), round(r, 6), threshold, len(reference))


# -- tracing and quantizing ----------------------------------------------------------------------


def _wrapper(model: Any, input_names: Sequence[str]) -> Any:
    """A module taking positional tensors and calling `model` with keyword arguments."""
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(input_names, tensors, strict=True)))[0]

    return Wrapper().eval()  # the exporter restores the wrapper's mode, recursively: never training


def trace_to_onnx(model: Any, tokenizer: Any, input_names: Sequence[str], output_name: str, path: Path,
                  pairs: bool = False) -> None:
    """TorchScript-export `model` (a transformers model) with dynamic batch and sequence axes."""
    import torch

    texts = ["a short example", "a longer example sentence, so that the batch needs padding"]
    batch = tokenizer([(t, t) for t in texts] if pairs else texts, padding=True, return_tensors="pt")
    # Eager attention traces into plain MatMul/Softmax ops that onnxruntime fuses and quantizes well.
    model.set_attn_implementation("eager")
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes[output_name] = {0: "batch"} if output_name == "logits" else {0: "batch", 1: "sequence"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_wrapper(model, input_names), tuple(batch[n] for n in input_names), str(path),
                          input_names=list(input_names), output_names=[output_name], dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)


def outlier_matmuls(fp32: Path, tokenizer_file: Path, texts: Sequence[str | tuple[str, str]],
                    max_length: int, ratio: float = OUTLIER_RATIO) -> list[str]:
    """Weight MatMuls whose input activations have outliers, peak/RMS above `ratio`, measured on
    `texts` (16 at most, one at a time, so no padding). Dynamic int8 quantizes an activation with one
    scale per tensor, which would crush such an input's ordinary values, so these MatMuls stay float32.
    On e5-small: the feed-forward outputs of layers 0, 4 and 5 (3 of 72 MatMuls), which lifts the mean
    cosine to PyTorch from 0.997 to 0.999 for a few percent of the int8 speed."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from indexer.models.onnx_runtime import load_tokenizer

    model = onnx.load(str(fp32))
    weights = {i.name for i in model.graph.initializer}
    matmuls = [n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    inputs = list(dict.fromkeys(n.input[0] for n in matmuls))
    if not inputs:
        return []
    model.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in inputs)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    del model
    graph_inputs = [i.name for i in session.get_inputs()]
    tokenizer = load_tokenizer(tokenizer_file, max_length)
    peak = dict.fromkeys(inputs, 0.0)
    squares = dict.fromkeys(inputs, 0.0)
    count = dict.fromkeys(inputs, 0)
    for text in list(texts)[:16]:
        encoding = tokenizer.encode(*text) if isinstance(text, tuple) else tokenizer.encode(text)
        ids = np.array([encoding.ids], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64)}
        for name, values in zip(inputs, session.run(inputs, {k: feed[k] for k in graph_inputs}), strict=True):
            peak[name] = max(peak[name], float(np.abs(values).max()))
            squares[name] += float(np.square(values, dtype=np.float64).sum())
            count[name] += values.size
    rms = {name: np.sqrt(squares[name] / max(count[name], 1)) for name in inputs}
    return [n.name for n in matmuls if peak[n.input[0]] > ratio * max(rms[n.input[0]], 1e-12)]


def quantize_int8(source: Path, target: Path, float_nodes: Sequence[str] = ()) -> None:
    """Dynamic int8 quantization (see QUANTIZATION) of all but `float_nodes`; activations are
    quantized per batch at run time."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs advice ("run pre-processing") through the root logger
    try:
        quantize_dynamic(source, target, op_types_to_quantize=QUANTIZATION["op_types"],
                         per_channel=QUANTIZATION["per_channel"], weight_type=QuantType.QInt8,
                         nodes_to_exclude=list(float_nodes))
    finally:
        root.setLevel(level)


def _variant_entry(folder: Path, variant: str, float_nodes: Sequence[str]) -> dict[str, Any]:
    file = folder / VARIANT_FILES[variant]
    quantization = {**QUANTIZATION, "float32_nodes": list(float_nodes)} if variant == "int8" else None
    return {"file": file.name, "bytes": file.stat().st_size, "sha256": sha256_of(file),
            "quantization": quantization}


# -- staging and installing ---------------------------------------------------------------------


@contextlib.contextmanager
def _staging(destination: Path) -> Iterator[Path]:
    """A scratch folder beside `destination`, removed unless it was moved into place."""
    if destination.exists() and any(destination.iterdir()) and not (destination / MANIFEST_FILE).exists():
        raise ExportRefused(f"{destination} exists and is not a Findling ONNX export; choose another --out.")
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = destination.with_name(f".{destination.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _save_tokenizer(model_path: Path, hf_tokenizer: Any, folder: Path) -> None:
    source = model_path / TOKENIZER_FILE
    if source.is_file():
        shutil.copyfile(source, folder / TOKENIZER_FILE)
    else:
        hf_tokenizer.backend_tokenizer.save(str(folder / TOKENIZER_FILE))


def _input_names(hf_tokenizer: Any) -> list[str]:
    names = ["input_ids", "attention_mask"]
    return names + ["token_type_ids"] if "token_type_ids" in hf_tokenizer.model_input_names else names


# -- the export ----------------------------------------------------------------------------------


@dataclass
class _Plan:
    """What differs between exporting an embedder and a cross-encoder."""

    kind: str
    model_id: str
    model_path: Path
    hf_model: Any
    hf_tokenizer: Any
    output: str
    manifest: dict[str, Any]
    validate: Callable[[OnnxModel], Validation]  # runs one variant and compares it with PyTorch
    calibration: list[str | tuple[str, str]]  # model inputs, as text, for the outlier search


def _export(plan: _Plan, quantize: str | None, out: Path | None, register_export: bool,
            log: Callable[[str], None]) -> ExportResult:
    """Trace, quantize, validate, write the manifest, move into place, register: all or nothing
    for float32; an int8 variant that misses its threshold is recorded as failed and never used."""
    destination = Path(out).resolve() if out else default_export_dir(plan.model_id)
    input_names = _input_names(plan.hf_tokenizer)
    manifest = {"format": 1, "kind": plan.kind, "source_model": plan.model_id,
                "source_path": str(plan.model_path), **plan.manifest,
                "pad_token_id": plan.hf_tokenizer.pad_token_id, "inputs": input_names, "output": plan.output,
                "opset": OPSET, "variants": {}}
    with _staging(destination) as staging:
        _save_tokenizer(plan.model_path, plan.hf_tokenizer, staging)
        log(f"Exporting {plan.model_id} to ONNX…")
        fp32 = staging / VARIANT_FILES["fp32"]
        pairs = plan.kind == "reranker"
        trace_to_onnx(plan.hf_model, plan.hf_tokenizer, input_names, plan.output, fp32, pairs)
        variants = ["fp32"]
        float_nodes: list[str] = []
        if quantize == "int8":
            float_nodes = outlier_matmuls(fp32, staging / TOKENIZER_FILE, plan.calibration,
                                          manifest["max_seq_length"])
            log(f"Quantizing to int8 ({len(float_nodes)} MatMuls with outlier inputs stay float32)…")
            quantize_int8(fp32, staging / VARIANT_FILES["int8"], float_nodes)
            variants.append("int8")
        failures = []
        for variant in variants:
            manifest["variants"][variant] = entry = _variant_entry(staging, variant, float_nodes)
            validation = plan.validate(OnnxModel(staging / entry["file"], staging / TOKENIZER_FILE, variant,
                                                 manifest))
            entry["validation"] = validation.to_dict()
            log(f"{variant}: {validation}")
            if not validation.passed:
                failures.append(f"{variant}: {validation}")
        if not manifest["variants"]["fp32"]["validation"]["passed"]:
            raise ExportRefused(f"The ONNX export of {plan.model_id} does not match PyTorch closely enough "
                                f"({'; '.join(failures)}). Nothing was registered.")
        if failures:  # int8 only: kept for the record, never used (the runtime takes validated variants)
            log(f"The int8 variant is not close enough to PyTorch for this model ({'; '.join(failures)}); "
                "the float32 variant is registered and used instead.")
        manifest.update(created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), versions=versions())
        _write_json(staging / MANIFEST_FILE, manifest)
        install_folder(staging, destination)
    if register_export:
        register(plan.model_id, destination, plan.kind)
    return ExportResult(destination, manifest, register_export)


def export_embedder(info: ModelInfo, quantize: str | None = "int8", out: Path | None = None,
                    passages: Sequence[str] | None = None, register_export: bool = True,
                    log: Callable[[str], None] = lambda _: None, threads: int = 0) -> ExportResult:
    """Export the embedder `info` (to `out`, else the models dir), validate it on `passages`, register it.
    `threads`: for PyTorch and ONNX Runtime during the validation (0: their defaults).

    Raises ExportRefused (with the figures) when float32 misses its threshold; nothing is kept then.
    An int8 variant that misses its own is kept but marked failed, so float32 is used.
    """
    require_export_needs()
    texts = list(passages or VALIDATION_PASSAGES)
    torch_embedder = TorchEmbedder(info, batch_size=16, threads=threads)
    transformer = torch_embedder._model[0]
    log(f"Embedding {len(texts)} validation passages with PyTorch…")
    reference = torch_embedder.encode_passages(texts)

    def validate(model: OnnxModel) -> Validation:
        onnx = OnnxEmbedder(info, model, batch_size=16, threads=threads)
        return cosine_validation(reference, onnx.encode_passages(texts), THRESHOLDS[model.variant])

    manifest = {"pooling": list(pooling_modes(info.path)), "normalize": True,
                "lowercase": bool(getattr(transformer, "do_lower_case", False)),
                "query_prefix": info.query_prefix, "passage_prefix": info.passage_prefix,
                "max_seq_length": info.max_seq_length, "dim": int(torch_embedder.dim)}
    plan = _Plan("embedder", info.model_id, info.path, transformer.auto_model, transformer.tokenizer,
                 "last_hidden_state", manifest, validate, [info.passage_prefix + t for t in texts])
    return _export(plan, quantize, out, register_export, log)


def export_reranker(model_id: str, path: Path, quantize: str | None = "int8", out: Path | None = None,
                    register_export: bool = True, max_length: int = 512,
                    log: Callable[[str], None] = lambda _: None) -> ExportResult:
    """Export a cross-encoder like `export_embedder`; validated on the Pearson r of its logits."""
    require_export_needs()
    import torch
    import transformers
    from sentence_transformers import CrossEncoder

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    cross_encoder = CrossEncoder(str(path), device="cpu", max_length=max_length, local_files_only=True)
    pairs = [(q, p) for q in VALIDATION_QUERIES for p in VALIDATION_PASSAGES]
    log(f"Scoring {len(pairs)} validation pairs with PyTorch…")
    raw = cross_encoder.predict(pairs, activation_fn=torch.nn.Identity(), show_progress_bar=False)
    reference = np.asarray(raw, dtype=np.float32).reshape(len(pairs), -1)[:, 0]

    def validate(model: OnnxModel) -> Validation:
        onnx = OnnxReranker(model_id, path, model, max_length=max_length)
        scores = np.concatenate([onnx.logits(q, list(VALIDATION_PASSAGES)) for q in VALIDATION_QUERIES])
        return correlation_validation(reference, scores, THRESHOLDS[model.variant])

    activation = "sigmoid" if isinstance(cross_encoder.activation_fn, torch.nn.Sigmoid) else "identity"
    manifest = {"activation": activation, "max_seq_length": max_length}
    plan = _Plan("reranker", model_id, path, cross_encoder.model, cross_encoder.tokenizer, "logits", manifest,
                 validate, list(pairs))
    return _export(plan, quantize, out, register_export, log)
