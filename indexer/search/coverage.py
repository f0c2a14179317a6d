"""How much of a query a passage contains, weighted by each word's rarity: the keyword signal of
relevance (an absolute 0..1, unlike BM25, whose scale changes with the query and the index).

Words are folded as FTS5's `unicode61 remove_diacritics 2` folds them (`fts_terms`), so this
agrees with what the keyword retriever matched; Chinese and Japanese runs count by their
character trigrams, as `chunks_trigram` matches them (a run of one or two characters as itself).
"""

from __future__ import annotations

from dataclasses import dataclass

from indexer.search.query import cjk_runs, fts_terms, has_cjk


def query_units(text: str) -> tuple[list[str], list[str]]:
    """The query's words (non-CJK, folded, each once) and its CJK pieces (trigrams, or short runs)."""
    words = list(dict.fromkeys(t for t in fts_terms(text) if not has_cjk(t)))
    pieces: list[str] = []
    for run in cjk_runs(text):
        pieces += [run[i:i + 3] for i in range(len(run) - 2)] if len(run) >= 3 else [run]
    return words, list(dict.fromkeys(pieces))


@dataclass(frozen=True)
class QueryTerms:
    """A query's words and CJK pieces with their weights (IDF in this index; unknown words the highest)."""

    weights: dict[str, float]
    cjk: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.weights

    def coverage(self, *texts: str) -> float:
        """The weighted share of the query's terms found in any of `texts` (a chunk and its file name)."""
        if not self.weights:
            return 0.0
        joined = "\n".join(texts)
        words = set(fts_terms(joined))
        folded = "\n".join(fts_terms(joined)) if self.cjk else ""
        found = sum(w for term, w in self.weights.items()
                    if (term in folded if term in self.cjk else term in words))
        return found / sum(self.weights.values())


