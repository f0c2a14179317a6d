"""HTML/XHTML: visible text via the stdlib ``html.parser``."""

from __future__ import annotations

import codecs
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

from indexer.ingest.extract.text import (
    SNIFF_BYTES,
    Extraction,
    ExtractionError,
    binary,
    decode_text,
    read_text_bytes,
    result,
    split_bom,
)

_DECLARED_CHARSET = re.compile(
    rb"""<meta[^>]*?charset\s*=\s*["']?([\w.:-]+)|<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)""",
    re.IGNORECASE,
)
# Browsers read a latin-1 label as windows-1252.
_CODEC_ALIASES = {"iso8859-1": "cp1252"}
_HIDDEN = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "head", "iframe", "object"}
)
_BLOCKS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "dd", "details",
        "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "legend", "li", "main", "nav",
        "ol", "option", "p", "pre", "section", "summary", "table", "tbody", "tfoot",
        "thead", "title", "tr", "ul",
    }
)  # fmt: skip
_CELLS = frozenset({"td", "th"})
_WHITESPACE = re.compile(r"\s+")


class _VisibleText(HTMLParser):
    """Collects the visible text of a document, with line breaks at block boundaries."""

    def __init__(self, keep_title: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden: list[str] = []  # open hidden elements, innermost last
        self._open_hidden: Counter[str] = Counter()  # how many of each are open, for O(1) lookups
        self._keep_title = keep_title
        self._in_title = False
        self._pre_depth = 0  # inside <pre>, source line breaks are kept

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._close_hidden("head")  # tolerate a missing </head>
        elif tag in _HIDDEN:
            self._hidden.append(tag)
            self._open_hidden[tag] += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "pre":
            self._pre_depth += 1
        self._separate(tag)

    def handle_endtag(self, tag: str) -> None:
        self._close_hidden(tag)
        if tag == "title":
            self._in_title = False
        elif tag == "pre":
            self._pre_depth = max(self._pre_depth - 1, 0)
        self._separate(tag)

    def handle_data(self, data: str) -> None:
        in_title = self._keep_title and self._in_title and self._hidden == ["head"]
        if not self._hidden or in_title:
            self.parts.append(data if self._pre_depth else _WHITESPACE.sub(" ", data))

    def _close_hidden(self, tag: str) -> None:
        """Close the innermost open hidden ``tag`` and anything left open inside it.

        Linear over a document: the scan from the innermost element stops at ``tag`` and
        everything it passed is closed, so no element is scanned twice.
        """
        if not self._open_hidden[tag]:
            return
        while True:
            closed = self._hidden.pop()
            self._open_hidden[closed] -= 1
            if closed == tag:
                return

    def _separate(self, tag: str) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append(" ")


def _declared_codec(head: bytes) -> str | None:
    """The Python codec named by a ``<meta charset>`` or XML declaration, if usable."""
    match = _DECLARED_CHARSET.search(head)
    if not match:
        return None
    try:
        codec = codecs.lookup((match[1] or match[2]).decode("ascii")).name
    except LookupError:
        return None
    if codec.startswith(("utf-16", "utf-32")):
        return None  # the declaration was readable as ASCII, so the label is wrong
    return _CODEC_ALIASES.get(codec, codec)


def decode_html(data: bytes) -> str:
    """Decode HTML bytes honouring a BOM, then a declared charset, then as plain text."""
    codec = None if split_bom(data) else _declared_codec(data[:SNIFF_BYTES])
    if codec:
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    return decode_text(data)


def html_to_text(markup: str, keep_title: bool = True) -> str:
    """Visible text of ``markup``: one line per block, whitespace collapsed, entities resolved.

    The ``<title>`` comes first unless ``keep_title`` is false.
    """
    parser = _VisibleText(keep_title)
    try:
        parser.feed(markup)
        parser.close()
    except AssertionError as exc:  # html.parser's way of rejecting some malformed markup
        raise ExtractionError(f"malformed HTML: {exc}") from exc
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    return "\n".join(line for line in lines if line)


def extract_html(path: Path) -> Extraction:
    """Extract the visible text of an HTML file as a single unit."""
    data = read_text_bytes(path)
    if data is None:
        return binary()
    return result("html", [html_to_text(decode_html(data))])
