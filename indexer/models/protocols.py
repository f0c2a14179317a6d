"""The model seams: what every embedder and every reranker provides, whatever runs it.

Two backends implement each protocol: PyTorch (sentence-transformers: `TorchEmbedder`,
`TorchReranker`) and ONNX Runtime (`OnnxEmbedder`, `OnnxReranker`). Code that embeds or
reranks is annotated with these protocols, never with a backend class, and gets its models
from one factory (`indexer.models.factory.open_models`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

    from indexer.models.embedding import ModelInfo


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors; queries and passages get the model's own prefixes."""

    info: ModelInfo  # identity, prefixes and token budget (recorded in the catalog as `model_id`)

    @property
    def model_id(self) -> str:
        """The id recorded in the catalog: a hub id or an absolute model directory."""

    @property
    def dim(self) -> int:
        """The vectors' dimension."""

    @property
    def backend(self) -> str:
        """What runs the model, for the user: "PyTorch", "ONNX int8", …"""

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's fast tokenizer without truncation or padding (chunking counts with it)."""

    @property
    def tokenizer_file(self) -> Path | None:
        """The `tokenizer.json` that `tokenizer` is read from, so worker processes can chunk with
        the same tokenizer; None when it comes from elsewhere (the writer then chunks)."""

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised, each text with the model's query prefix."""

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised, each text with the model's passage prefix."""

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` without special tokens."""


@runtime_checkable
class Reranker(Protocol):
    """A cross-encoder: scores (query, passage) pairs."""

    model_id: str
    path: Path  # the model's local directory
    batch_size: int
    max_length: int  # tokens of one pair (query + passage), special tokens included

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """One float32 score per passage, higher is better, as sentence-transformers' CrossEncoder.predict
        gives it: for a one-label model (every MS MARCO reranker) the sigmoid of its logit, a
        probability in 0..1; the raw logit only when the model's config names an identity activation."""
