"""What each search stage scored a passage, with stated units, and the one relevance figure shown to users.

Relevance is built from absolute signals only, never from how a query's candidates compare with
each other (min-max over the candidates gave every query, nonsense included, a best hit of 50 %
or more):

- dense: the cosine, placed against this index's *background* for the query: its cosine to
  passages of the index drawn at random (median and spread). Unrelated text sits near the
  median for any model (MiniLM's near 0.05, multilingual-e5's near 0.75), so the line between
  good and weak is per model and per query without a table of models;
- keyword: the share of the query's words (IDF-weighted) the passage contains (`coverage`);
- rerank: the cross-encoder's probability, when one ran.

Evidence is 1.0 exactly at the good line, so relevance = 1 − 2^−evidence puts that line at 50 %
(`GOOD`). A file known only by its name follows `name_only.name_rule`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from indexer.search.searcher import Passage

GOOD = 0.5  # relevance at and above which a result is a good match
LINE_SPREADS = 5.0  # the good line for a cosine: this many background spreads above its median
COVERAGE_LINE = 1.0  # the share of the query's words that is good evidence on its own
MIN_SPREAD = 0.01  # a background narrower than this is a sample too small to trust


@dataclass(frozen=True)
class Background:
    """Where a query's cosine to unrelated passages of this index sits: their median, and their
    spread (1.4826 × the median absolute deviation, a standard deviation robust to the few
    related passages a sample holds)."""

    centre: float
    spread: float

    @classmethod
    def of(cls, cosines: np.ndarray, model_id: str = "") -> Background | None:
        if cosines.size == 0:
            return None
        centre = float(np.median(cosines))
        spread = 1.4826 * float(np.median(np.abs(cosines - centre)))
        return cls(centre, max(spread, MIN_SPREAD))

    @property
    def line(self) -> float:
        """The cosine at which a passage becomes a good match on its own."""
        return self.centre + LINE_SPREADS * self.spread


def dense_evidence(cosine: float, background: Background | None) -> float:
    """0 at the background's median, 1 at the good line, linear in the cosine (so it ranks as the
    cosine does); negative below the median."""
    if background is None:
        return 0.0
    return (cosine - background.centre) / (background.line - background.centre)


def evidence(dense: float | None, keyword: float | None, dense_weight: float = 1.0,
             keyword_weight: float = 1.0) -> float:
    """Dense and keyword evidence added, each 1.0 at its good line (None: that signal was not
    used); the weights, relative to their mean, say how much each counts."""
    total, mean = 0.0, 1.0
    if dense is not None and keyword is not None:
        mean = max((dense_weight + keyword_weight) / 2, 1e-9)
        total = dense_weight * max(dense, 0.0) + keyword_weight * keyword / COVERAGE_LINE
        return total / mean
    if dense is not None:
        return max(dense, 0.0)
    if keyword is not None:
        return keyword / COVERAGE_LINE
    return total


def relevance_of(value: float) -> float:
    """Evidence (0..∞) as a 0..1 relevance: 0 → 0, the good line (1.0) → 0.5, 2 → 0.75, 3 → 0.875."""
    return float(1.0 - 2.0 ** -max(value, 0.0))


def rerank_relevance(probability: float) -> float:
    """A cross-encoder's probability is already a relevance: shown as it is, clamped."""
    return max(0.0, min(1.0, float(probability)))


@dataclass(frozen=True)
class StageScores:
    """One passage's score at each stage of a search; None where the stage did not run or did not see it.

    - `dense`: cosine similarity of the query's and the passage's embeddings, -1..1 (unit vectors);
      None for a passage found by keywords and not embedded yet.
    - `keyword`: FTS5 BM25 with the sign flipped (higher is better), 0..∞, unnormalised.
    - `fused`: hybrid mode's evidence of the file (`evidence` of its best dense and best keyword
      chunk: 1.0 is the good line) plus 1e-3 × the passage's own, 0..∞.
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


def relevance(result: Passage) -> float:
    """The 0..1 relevance a result shows, the same in the CLI, JSON and the app: set by the search
    (`Searcher.fuse`, `Searcher.rerank`) from the functions above."""
    return max(0.0, min(1.0, float(result.relevance)))


def is_good(value: float) -> bool:
    return value >= GOOD
