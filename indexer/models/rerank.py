"""Cross-encoder reranking of the top fused candidates (sentence-transformers `CrossEncoder`).

The reranker is resolved like the embedder (local path, cache, download when allowed);
with none available, search still works and says that reranking is off.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import numpy as np

from indexer.models.resolution import locate


class TorchReranker:
    """The PyTorch backend of the `Reranker` protocol: a sentence-transformers CrossEncoder."""

    def __init__(self, model_id: str, path: Path, batch_size: int = 16, max_length: int = 320) -> None:
        """`max_length` covers a query and one chunk (256 tokens by default); the cost of a pair
        grows with it, so it is not the model's 512."""
        self.model_id = model_id
        self.path = path
        self.batch_size = batch_size
        self.max_length = max_length

    @cached_property
    def _model(self):  # noqa: ANN202 - CrossEncoder, imported lazily
        from indexer.models.embedding import require_torch

        require_torch(f"Running the reranker {self.model_id!r} on PyTorch")
        import transformers
        from sentence_transformers import CrossEncoder

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
        return CrossEncoder(str(self.path), device="cpu", max_length=self.max_length, local_files_only=True)

    def score(self, query: str, passages: list[str]) -> np.ndarray:
        """One relevance score per passage (higher is better); texts are truncated to the budget."""
        if not passages:
            return np.zeros(0, dtype=np.float32)
        scores = self._model.predict([(query, p) for p in passages], batch_size=self.batch_size,
                                     show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(scores, dtype=np.float32).reshape(len(passages))


def resolve_reranker(name: str | None) -> tuple[TorchReranker | None, str | None]:
    """The reranker, or None and the reason reranking is off."""
    if not name:
        return None, "Reranking is off (no reranker configured)."
    found = locate(name)
    if isinstance(found, str):
        return None, f"Reranking is off: reranker {name!r} is not available ({found})."
    return TorchReranker(*found), None
