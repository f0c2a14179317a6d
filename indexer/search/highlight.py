"""What a result shows of its passage: the highlighted query words and the snippet window.

One policy for the command line and the app. A highlight is a whole word equal to a query word
after case and accent folding (what FTS5 matched), or, for query words of four letters or more,
that word plus -s, -es, -ed or -ing ("invoice" lights "invoices"; "cat" never lights "Catatan"; a
word ending in e also takes -d and loses it before -ing: "invoiced", "invoicing").
Chinese and Japanese runs of the query are found anywhere in the text, as FTS5's trigrams find
them. Function words (`STOPWORDS`) are not highlighted unless the query has nothing else.

A snippet starts at the start of the sentence or line holding its focus when that is at most
`SENTENCE_REACH` characters before it; otherwise at a word start, after "…".
"""

from __future__ import annotations

import re
import unicodedata

from indexer.search.query import Query, cjk_runs, fts_terms, has_cjk

SNIPPET_CHARS = 280
SENTENCE_REACH = 120  # a snippet starts at its sentence when that is at most this far before the focus
LEAD_CHARS = 60  # otherwise it starts about this far before the focus
ELLIPSIS = "…"
SUFFIXES = ("s", "es", "ed", "ing")
MIN_STEM = 4  # query words this long also match with a suffix
# Function words: matched by search, but highlighting them adds only noise.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves
""".split())  # noqa: SIM905 - a word list reads best as text

_TEXT_WORD = re.compile(r"\w+")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+|[。！？]+|\n")


def fold(word: str) -> str:
    """`word` case- and accent-folded, as FTS5's unicode61 tokenizer (remove_diacritics) compares it."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))
    return stripped.casefold()


def highlight_words(query: Query) -> set[str]:
    """The folded query words a highlight can match: no CJK words, no one-letter words, no function
    words unless the query has only those."""
    words = {w for w in (fold(t) for t in fts_terms(query.text)) if len(w) > 1 and not has_cjk(w)}
    content = {w for w in words if w not in STOPWORDS}
    return content or words


def matches(word: str, query_words: set[str]) -> bool:
    """True when text `word` (folded) is a query word, or one of four letters or more plus a suffix."""
    if word in query_words:
        return True
    stems = [word[:-len(suffix)] for suffix in SUFFIXES if word.endswith(suffix)]
    if word.endswith("d"):  # invoice → invoiced
        stems.append(word[:-1])
    if word.endswith("ing"):  # invoice → invoicing
        stems.append(word[:-3] + "e")
    return any(len(stem) >= MIN_STEM and stem in query_words for stem in stems)


def highlight_spans(text: str, query: Query) -> list[tuple[int, int]]:
    """Where the query's words (see the module docstring) and CJK runs occur in `text`, in order."""
    words = highlight_words(query)
    spans = [m.span() for m in _TEXT_WORD.finditer(text) if words and matches(fold(m.group()), words)
             and not has_cjk(m.group())]
    runs = sorted(set(cjk_runs(query.text)), key=len, reverse=True)
    if runs:
        regex = re.compile("|".join(re.escape(run) for run in runs))
        spans += [m.span() for m in regex.finditer(text)]
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def sentence_start(text: str, focus: int) -> int:
    """Where the sentence or line holding char `focus` starts."""
    start = 0
    for match in _SENTENCE_END.finditer(text, 0, focus):
        start = match.end()
    while start < focus and text[start].isspace():
        start += 1
    return start


def snippet_window(text: str, focus: int, limit: int = SNIPPET_CHARS) -> tuple[str, int]:
    """A window of `text` around char `focus`, and the index in `text` of the window's first char.

    It starts at the focus's sentence or line when that starts at most `SENTENCE_REACH` chars
    before the focus; otherwise at a word start about `LEAD_CHARS` before it, after "…" (the
    returned index is then one less, so `text` index i is at window index i - index either way).
    """
    focus = max(0, min(focus, len(text)))
    start = sentence_start(text, focus)
    lead = ""
    if focus - start > SENTENCE_REACH:
        start = max(start, focus - LEAD_CHARS)
        space = next((i for i in range(start, focus) if text[i].isspace()), None)
        if space is not None:
            start = space + 1
            while start < focus and text[start].isspace():
                start += 1
        lead = ELLIPSIS
    end = min(len(text), start + limit)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + limit // 2 else end
    return lead + text[start:end], start - len(lead)
