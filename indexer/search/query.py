"""The small query language: free text, "exact phrases", -exclusions and a few known filters.

    invoice "net 30" -draft type:pdf in:~/Documents/taxes after:2025-01-01 before:2025-07-01

Only `type:`, `in:`, `after:` and `before:` are fields (`ERROR: could not connect` stays
text). A single dash before a bare word excludes it; `--option`, `a-b` and dashes inside
phrases stay text. Parsing never fails.

Filters:
- `type:KIND`: an extension (`type:pdf`, `type:md`) or a kind (`text`, `markdown`, `word`,
  `html`, `ebook`, `image`, `audio`, `video`, `archive`, `code`). `type:.xyz` (with a dot) takes any
  extension as it is.
- `in:FOLDER`: files below that folder (`~` allowed; quote a path with spaces).
- `after:WHEN` (on or after) and `before:WHEN` (strictly before), in local time. WHEN is
  `2024` (from 2024-01-01), `2024-03` (from 2024-03-01), `2024-03-15`, `today`, `yesterday`
  (from 00:00 yesterday), or, quoted when it has a space, `"last week"`, `"last month"`,
  `"last year"` (the last 7, 30, 365 days) and `"3 days ago"` (days, weeks, months, years).
  English words only. `before:2024` means before 2024-01-01.

A filter that cannot be read (`after:2025-13-45`, `type:foo`, an empty `in:`) is never turned
into search words: it is left out and reported in `Query.ignored` with the reason, which the
command line, `--json` (`ignored`) and the app show. A query of filters and exclusions only
(`type:pdf`, `-draft`) lists the matching files, newest first (`Query.lists_files`).
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
    r'''|(?P<field>(?<!\S)(?:type|in|after|before):(?:"[^"]*"|\S*))'''
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
    "word": ("docx", "odt", "doc"),
    "doc": ("docx", "odt", "doc"),
    "html": ("html", "htm", "xhtml"),
    "ebook": ("epub",),
    "image": ("png", "jpg", "jpeg", "gif", "webp", "bmp", "tif", "tiff", "svg", "heic"),
    "photo": ("jpg", "jpeg", "heic", "png", "webp", "tif", "tiff", "raw", "dng"),
    "audio": ("mp3", "m4a", "wav", "flac", "ogg", "oga", "opus", "aac", "aiff"),
    "video": ("mp4", "m4v", "mkv", "avi", "mov", "wmv", "webm", "mpg", "mpeg"),
    "archive": ("zip", "gz", "tgz", "bz2", "xz", "zst", "tar", "7z", "rar"),
    "spreadsheet": ("csv", "tsv", "xlsx", "xlsm", "xls", "ods"),
    "presentation": ("pptx", "pptm", "ppsx", "odp", "ppt"),
    "slides": ("pptx", "pptm", "ppsx", "odp", "ppt"),
    "mail": ("eml", "mbox"),
    "email": ("eml", "mbox"),
    "code": ("py", "js", "ts", "go", "rs", "java", "c", "h", "cpp", "cs", "rb", "php", "sh", "sql"),
}
# Extensions `type:` knows without a dot: what the indexer reads, and common files it knows by name.
KNOWN_EXTENSIONS = frozenset("""
pdf txt text log csv tsv json jsonl ndjson yaml yml toml ini cfg conf xml properties srt vtt md
markdown mdown mkd rst py pyi pyx js mjs cjs ts tsx jsx java c h cpp hpp cc hh cxx hxx cs fs go rs
rb php swift kt kts scala groovy gradle sh bash zsh fish ps1 bat cmd sql r m mm lua pl pm hs ml mli
ex exs erl hrl clj cljs dart jl nim zig v vhd asm s vue svelte css scss sass less tex bib cmake mk
dockerfile proto graphql tf nix el vim html htm xhtml docx odt epub doc xls xlsx ppt pptx ods odp
png jpg jpeg gif webp bmp tif tiff ico icns heic heif avif svg psd xcf raw cr2 nef arw dng mp3 mp4
m4a m4v mkv avi mov wmv flv webm mpg mpeg wav flac ogg oga ogv opus aac aiff mid midi zip gz tgz
bz2 xz zst lz lzma tar 7z rar jar war apk deb rpm cab iso dmg img exe dll so dylib bin msi db
sqlite sqlite3 ttf otf woff woff2 ipynb rtf pages key numbers eml mbox ics vcf xlsm pptm ppsx
""".split())  # noqa: SIM905 - a word list reads best as text
DATE_HELP = 'use 2024, 2024-03, 2024-03-15, today, yesterday or "last week"'
_RELATIVE_DAYS = {"last week": 7, "past week": 7, "last month": 30, "past month": 30,
                  "last year": 365, "past year": 365}
_AGO = re.compile(r"(\d{1,4}) (day|week|month|year)s? ago")
_AGO_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}


@dataclass(frozen=True)
class Ignored:
    """A filter that could not be read: the token as typed and why (left out of the query)."""

    token: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"token": self.token, "reason": self.reason}


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
    filters: list[str] = field(default_factory=list)  # the filters and exclusions used, as typed
    ignored: list[Ignored] = field(default_factory=list)  # filters that could not be read

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

    def file_filters(self) -> Query:
        """This query's filters on the file alone (type, folder, dates): no words, phrases or exclusions."""
        return Query(self.raw, extensions=self.extensions, folders=self.folders, after_ns=self.after_ns,
                     before_ns=self.before_ns)

    @property
    def lists_files(self) -> bool:
        """Filters or exclusions and nothing to search for: list the matching files, newest first."""
        return not (self.text.strip() or self.phrases) and (self.has_filters or bool(self.excluded))


def _local_ns(moment: dt.datetime) -> int:
    """A naive local date and time as epoch nanoseconds (the local offset of that day, DST included)."""
    return int(moment.timestamp() * 1e9)


def date_ns(value: str, now: dt.datetime | None = None) -> int | None:
    """The start of the period `value` names, in local time (see the module docstring); None if unreadable."""
    now = now or dt.datetime.now()
    text = " ".join(value.lower().split())
    midnight = dt.datetime.combine(now.date(), dt.time())
    if text == "today":
        return _local_ns(midnight)
    if text == "yesterday":
        return _local_ns(midnight - dt.timedelta(days=1))
    days = _RELATIVE_DAYS.get(text)
    if days is None and (ago := _AGO.fullmatch(text)):
        days = int(ago.group(1)) * _AGO_DAYS[ago.group(2)]
    if days is not None:
        return _local_ns(now - dt.timedelta(days=days))
    try:
        if re.fullmatch(r"\d{4}", text):
            day = dt.date(int(text), 1, 1)
        elif re.fullmatch(r"\d{4}-\d{1,2}", text):
            year, month = text.split("-")
            day = dt.date(int(year), int(month), 1)
        elif re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
            year, month, mday = text.split("-")
            day = dt.date(int(year), int(month), int(mday))
        else:
            return None
    except ValueError:
        return None
    return _local_ns(dt.datetime.combine(day, dt.time()))


def _apply_field(query: Query, name: str, value: str, now: dt.datetime | None) -> str | None:
    """Set a filter; the reason it cannot be read, or None when it was set."""
    value = value.strip('"').strip()
    if not value:
        return f"{name}: needs a value"
    if name == "type":
        kind = value.lower()
        if kind.startswith("."):
            extension = kind.lstrip(".")
            if not extension:
                return "type: needs a kind or an extension"
            query.extensions.append(extension)
        elif kind in TYPE_ALIASES:
            query.extensions += [e for e in TYPE_ALIASES[kind] if e not in query.extensions]
        elif kind in KNOWN_EXTENSIONS:
            query.extensions.append(kind)
        else:
            return (f"unknown file type {value!r} (try type:pdf, type:text, type:code, type:image, "
                    f"or type:.{kind} for any extension)")
    elif name == "in":
        query.folders.append(os.path.abspath(os.path.expanduser(value)).rstrip(os.sep) or os.sep)
    else:
        stamp = date_ns(value, now)
        if stamp is None:
            return f"{value!r} is not a date ({DATE_HELP})"
        if name == "after":
            query.after_ns = stamp
        else:
            query.before_ns = stamp
    return None


def parse(raw: str, now: dt.datetime | None = None) -> Query:
    """The query `raw` (`now`: the moment relative dates count from, default the clock)."""
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
            reason = _apply_field(query, name.lower(), value, now)
            if reason is None:
                query.filters.append(token)
            else:
                query.ignored.append(Ignored(token, reason))
        elif match.lastgroup == "exclude":
            query.excluded.append(token[1:])
            query.filters.append(token)
        else:
            free.append(token)
    query.words = [w for w in (t.replace('"', " ").strip() for t in free) if w]
    return query


def listing_header(query: Query, count: int) -> str:
    """The line above a filter-only listing, e.g. `12 files matching type:pdf, newest first`."""
    files = "file" if count == 1 else "files"
    return f"{count} {files} matching {' '.join(query.filters)}, newest first"


def ignored_text(query: Query) -> str:
    """One line saying which filters were left out and why (empty when none were)."""
    return "; ".join(f"Ignored {item.token}: {item.reason}" for item in query.ignored)


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
