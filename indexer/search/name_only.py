"""Files known only by their name (images before OCR, empty files, failed extractions): one rule.

A name chunk never counts as content. Such a file is a good match only when every query word,
case- and accent-folded as FTS5 folds them, is a word of its name (a Chinese or Japanese run: in
its name); otherwise it is a weak match, ranked below every good content match. Its snippet says
what it is instead of repeating the name.
"""

from __future__ import annotations

from indexer.search.query import fts_terms, has_cjk
from indexer.search.scores import GOOD

# Reasons for which a file's content was never read (a policy), rather than read and found empty.
_NOT_READ = ("larger than", "private key")


def named_by(query_text: str, name: str) -> bool:
    """Whether every word of the query is a word of `name` (folded); False for a query without words."""
    words = fts_terms(query_text)
    if not words:
        return False
    name_words = set(fts_terms(name))
    folded_name = " ".join(fts_terms(name))
    return all(w in folded_name if has_cjk(w) else w in name_words for w in words)


def note(status: str, reason: str | None) -> str:
    """What a name-only result shows instead of a snippet: why it has no text, and how it was found."""
    why = (reason or "no text").strip().rstrip(".")
    if status == "error":
        return f"Could not be read: {why}. Found by its name."
    if why.lower().startswith(_NOT_READ) or "symlink" in why:
        return f"Not read ({why}): found by its name."
    return f"No text ({why}): found by its name."


def name_rule(value: float, query_text: str, name: str) -> float:
    """A name-only file's relevance: good (at least `GOOD`, more the more of its name the query
    says) when every query word is in its name; otherwise weak, below any good match."""
    if named_by(query_text, name):
        name_words = set(fts_terms(name))
        said = len(name_words & set(fts_terms(query_text))) / max(len(name_words), 1)
        return GOOD + (1.0 - GOOD) * said
    return min(value, GOOD) * 0.5
