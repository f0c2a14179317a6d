"""The small query language: free text, "exact phrases", -exclusions and a few known filters.

    invoice "net 30" -draft type:pdf in:~/Documents/taxes after:2025-01-01 before:2025-07-01

Only `type:`, `in:`, `after:` and `before:` are fields (`ERROR: could not connect` stays
text). A single dash before a bare word excludes it; `--option`, `a-b` and dashes inside
phrases stay text. Anything malformed (an unbalanced quote, a bad date) degrades to free
text: parsing never fails.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from dataclasses import dataclass, field

FIELDS = ("type", "in", "after", "before")

_TOKEN = re.compile(
    r'''(?P<phrase>"[^"]*")'''
    r'''|(?P<field>\b(?:type|in|after|before):(?:"[^"]*"|\S+))'''
    r'''|(?P<exclude>(?<!\S)-(?!-)\w+(?!\S))'''
    r'''|(?P<word>\S+)''',
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")

# `type:` values that name a kind of document rather than one extension.
TYPE_ALIASES: dict[str, tuple[str, ...]] = {
    "text": ("txt", "text", "log"),
    "markdown": ("md", "markdown"),
    "md": ("md", "markdown"),
    "word": ("docx", "odt"),
    "doc": ("docx", "odt"),
    "html": ("html", "htm", "xhtml"),
    "ebook": ("epub",),
    "image": ("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "svg", "heic"),
    "code": ("py", "js", "ts", "go", "rs", "java", "c", "h", "cpp", "cs", "rb", "php", "sh", "sql"),
}


@dataclass
class Query:
    raw: str
    words: list[str] = field(default_factory=list)  # free-text words, ranked (BM25 over any)
    phrases: list[str] = field(default_factory=list)  # must appear
    excluded: list[str] = field(default_factory=list)  # must not appear
    extensions: list[str] = field(default_factory=list)  # type: filter, as file extensions
    folders: list[str] = field(default_factory=list)  # in: filter, absolute folder paths
    after_ns: int | None = None  # modified on or after
    before_ns: int | None = None  # modified before

    @property
    def text(self) -> str:
        """What the embedder sees: the free words and the phrases, in order of appearance."""
        return " ".join(self.words + self.phrases)

    @property
    def has_filters(self) -> bool:
        return bool(self.extensions or self.folders or self.after_ns is not None
                    or self.before_ns is not None)

    @property
    def has_constraints(self) -> bool:
        return self.has_filters or bool(self.phrases or self.excluded)


def _date_ns(value: str) -> int | None:
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        return None
    moment = dt.datetime.combine(day, dt.time(), tzinfo=dt.datetime.now().astimezone().tzinfo)
    return int(moment.timestamp() * 1e9)


def _apply_field(query: Query, name: str, value: str) -> bool:
    """Set a filter; False when the value is unusable (the token then stays text)."""
    value = value.strip('"')
    if not value:
        return False
    if name == "type":
        kind = value.lower().lstrip(".")
        query.extensions += TYPE_ALIASES.get(kind, (kind,))
    elif name == "in":
        query.folders.append(os.path.abspath(os.path.expanduser(value)).rstrip(os.sep) or os.sep)
    else:
        stamp = _date_ns(value)
        if stamp is None:
            return False
        if name == "after":
            query.after_ns = stamp
        else:
            query.before_ns = stamp
    return True


def parse(raw: str) -> Query:
    query = Query(raw)
    free: list[str] = []
    for match in _TOKEN.finditer(raw):
        token = match.group()
        if match.lastgroup == "phrase":
            phrase = token.strip('"').strip()
            if phrase:
                query.phrases.append(phrase)
        elif match.lastgroup == "field":
            name, _, value = token.partition(":")
            if not _apply_field(query, name.lower(), value):
                free.append(token)
        elif match.lastgroup == "exclude":
            query.excluded.append(token[1:])
        else:
            free.append(token)
    query.words = [w for w in (t.replace('"', " ").strip() for t in free) if w]
    return query


def fts_terms(text: str) -> list[str]:
    """Words as FTS5's unicode61 tokenizer (diacritics removed) sees them, lower case."""
    stripped = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return [w.lower() for w in _WORD.findall(stripped)]


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def cjk_runs(text: str) -> list[str]:
    return re.findall(f"(?:{_CJK.pattern})+", text)


def quote_fts(term: str) -> str:
    """An FTS5 string literal: user text can never become FTS syntax."""
    return '"' + term.replace('"', '""') + '"'
