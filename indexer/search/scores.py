"""What each search stage scored a passage, with stated units, and the one relevance figure shown to users."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.search.searcher import Passage


@dataclass(frozen=True)
class StageScores:
    """One passage's score at each stage of a search; None where the stage did not run or did not see it.

    - `dense`: cosine similarity of the query's and the passage's embeddings, -1..1 (unit vectors);
      None for a passage found by keywords and not embedded yet.
    - `keyword`: FTS5 BM25 with the sign flipped (higher is better), 0..∞, unnormalised.
    - `fused`: hybrid mode's weighted sum of the file's best normalised dense and keyword scores
      (each 0..1) plus a 1e-3 tie-break for the passage's own, so 0..(dense_weight + keyword_weight)·1.001.
    - `rerank`: the cross-encoder's score (`indexer.models.protocols.Reranker.score`): a probability 0..1 for
      a one-label model.
    """

    dense: float | None = None
    keyword: float | None = None
    fused: float | None = None
    rerank: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        """The stages that ran, as JSON has them: hybrid always names dense and keyword (null when a
        retriever missed the passage); other modes name only their retriever; rerank when it ran."""
        hybrid = self.fused is not None
        out: dict[str, float | None] = {}
        for name in ("dense", "keyword", "fused", "rerank"):
            value = getattr(self, name)
            if value is not None or (hybrid and name in ("dense", "keyword")):
                out[name] = value
        return out


def relevance(result: Passage, dense_weight: float = 1.0, keyword_weight: float = 1.0) -> float:
    """A 0..1 relevance for a result's bar: the reranker's probability, else the fused or dense score,
    else the final score (keyword mode: BM25), each clamped to 0..1.

    Fused scores are a weighted sum of two 0..1 scores, so they are divided by the sum of the weights.
    Reranker scores are already probabilities: a reranker probability of 0.1 shows as 10 %.
    """
    scores = result.scores
    if scores.rerank is not None:
        value = scores.rerank
    elif scores.fused is not None:
        value = scores.fused / max(dense_weight + keyword_weight, 1e-9)
    elif scores.dense is not None:
        value = scores.dense
    else:
        value = result.score
    return max(0.0, min(1.0, float(value)))
