"""What each search stage scored a passage, with stated units, and the one relevance figure shown to users.

Relevance is built from absolute signals only, never from how a query's candidates compare with
each other (min-max over the candidates gave every query, nonsense included, a best hit of 50 %
or more):

- dense: the cosine on its model's scale (`CosineScale`): `floor`, where unrelated text sits, is
  evidence 0 and `line`, the good line, is evidence 1. Models differ widely (MiniLM's unrelated
  text sits near 0, multilingual-e5's near 0.75), so the scales of known models are a table
  measured by `benchmarks/bench_relevance.py`; any other model is placed against this index's
  background for the query (its cosine to passages drawn at random: `Background`);
- keyword: the share of the query's words (IDF-weighted) the passage contains, raised to
  `COVERAGE_POWER` (all the words: 1; half of them: 0.35);
- rerank: the cross-encoder's probability, when one ran.

Relevance = 1 − 2^−evidence puts the good line at 50 % (`GOOD`). A file known only by its name
follows `name_only.name_rule`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from indexer.search.searcher import Passage

GOOD = 0.5  # relevance at and above which a result is a good match
COVERAGE_POWER = 1.5  # keyword evidence = coverage ** this: every word is good evidence, a few are not
LINE_SPREADS = 5.0  # a model without a measured scale: the good line is this many background spreads up
MIN_SPREAD = 0.01  # a background narrower than this is a sample too small to trust


@dataclass(frozen=True)
class CosineScale:
    """Where a model's query-to-passage cosines sit: `floor` for unrelated text (evidence 0), `line`
    for a good match (evidence 1)."""

    floor: float
    line: float


# Measured by benchmarks/bench_relevance.py (SciFact claims, their German and Chinese
# translations, and off-corpus queries; figures in docs/DESIGN.md). Matched against the model id
# and its directory name, lower case.
MODEL_SCALES: list[tuple[re.Pattern[str], CosineScale]] = [
    (re.compile(r"all-minilm-l6-v2"), CosineScale(floor=0.0, line=0.35)),
    (re.compile(r"multilingual-e5-small"), CosineScale(floor=0.75, line=0.835)),
]


def model_scale(model_id: str) -> CosineScale | None:
    """The measured cosine scale of `model_id`, None for a model the table does not know."""
    lowered = model_id.lower().rstrip("/")
    for pattern, scale in MODEL_SCALES:
        if pattern.search(lowered) or pattern.search(Path(lowered).name):
            return scale
    return None


@dataclass(frozen=True)
class Background:
    """Where a query's cosine to unrelated passages of this index sits: their median, and their
    spread (1.4826 × the median absolute deviation, a standard deviation robust to the few
    related passages a sample holds)."""

    centre: float
    spread: float

    @classmethod
    def of(cls, cosines: np.ndarray) -> Background | None:
        if cosines.size == 0:
            return None
        centre = float(np.median(cosines))
        spread = 1.4826 * float(np.median(np.abs(cosines - centre)))
        return cls(centre, max(spread, MIN_SPREAD))

    @property
    def scale(self) -> CosineScale:
        """For a model without a measured scale: its median, and a line `LINE_SPREADS` spreads above."""
        return CosineScale(self.centre, self.centre + LINE_SPREADS * self.spread)


def dense_evidence(cosine: float, scale: CosineScale | None) -> float:
    """0 at the scale's floor, 1 at its good line, linear in the cosine (so it ranks as the cosine
    does); negative below the floor."""
    if scale is None:
        return 0.0
    return (cosine - scale.floor) / max(scale.line - scale.floor, 1e-3)


def keyword_evidence(coverage: float) -> float:
    """The share of the query's words a passage contains, as evidence: 1 for all of them."""
    return max(coverage, 0.0) ** COVERAGE_POWER


def evidence(dense: float | None, keyword: float | None, dense_weight: float = 1.0,
             keyword_weight: float = 1.0) -> float:
    """Dense and keyword evidence added, each 1.0 at its good line (None: that signal was not
    used); the weights, relative to their mean, say how much each counts."""
    if dense is not None and keyword is not None:
        mean = max((dense_weight + keyword_weight) / 2, 1e-9)
        return (dense_weight * max(dense, 0.0) + keyword_weight * keyword) / mean
    if dense is not None:
        return max(dense, 0.0)
    return keyword or 0.0


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
