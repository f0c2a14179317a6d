"""Shared extraction types, byte sniffing and decoding, and the plain-text extractor.

The types live here rather than in ``__init__`` so every format module can import them
without a circular import; ``indexer.ingest.extract`` re-exports them.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import Path

import charset_normalizer

from indexer.ingest.extract.opening import open_regular

SNIFF_BYTES = 8192
_BOMS = (  # UTF-32 first: its little-endian BOM starts with the UTF-16 one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\v\f\r\b\x1b")
_MAX_CONTROL_RATIO = 0.1
_FALLBACK_ENCODING = "cp1252"


@dataclass(frozen=True)
class TextUnit:
    """A piece of extracted text; ``page`` is the 1-based page for paged formats (a PDF page, a
    sheet, a slide, a message of a mailbox) and ``label`` what that page is called (a sheet's name,
    a slide's title, a message's subject), when it has a name."""

    text: str
    page: int | None
    label: str | None = None


@dataclass(frozen=True)
class Attachment:
    """A file carried inside another one (a mail's attachment), indexed as a file of its own kind
    under the path ``container#name``: its extraction, or why it could not be read."""

    name: str
    size: int
    content_hash: str
    extraction: Extraction | None
    error: str | None = None


@dataclass(frozen=True)
class Extraction:
    """The text of one file; ``skip_reason`` says why a file legitimately has no text, ``note`` what
    was left out of a file that has text (a sheet cut at the cell budget)."""

    kind: str
    units: list[TextUnit]
    skip_reason: str | None = None
    note: str | None = None
    attachments: tuple[Attachment, ...] = ()


MINIFIED_MIN_CHARS = 5_000
MINIFIED_MEAN_LINE = 250  # characters per line, on average, above which code is not hand-written


class ExtractionError(Exception):
    """The file should have text but could not be read; ``str(exc)`` is a short reason."""


def binary() -> Extraction:
    """The extraction of a file whose content is binary."""
    return Extraction("binary", [], "binary file")


def result(kind: str, texts: list[str], no_text: str = "no text content") -> Extraction:
    """Build an unpaged extraction, dropping blank texts; skip with ``no_text`` if none remain."""
    units = [TextUnit(text, None) for text in texts if text.strip()]
    return Extraction(kind, units, None if units else no_text)


def split_bom(data: bytes) -> tuple[str, bytes] | None:
    """Return ``(codec, data without BOM)`` when ``data`` starts with a Unicode BOM."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, data[len(bom) :]
    return None


def looks_binary(head: bytes) -> bool:
    """Guess from the first bytes of a file whether it is binary rather than text."""
    if split_bom(head):
        return False
    if b"\0" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > _MAX_CONTROL_RATIO * len(head)


def read_text_bytes(path: Path) -> bytes | None:
    """Read a file's bytes, or return None (after sniffing only its head) if it is binary."""
    with open_regular(path) as fh:
        head = fh.read(SNIFF_BYTES)
        if looks_binary(head):
            return None
        return head + fh.read()


def normalize_newlines(text: str) -> str:
    """Turn CRLF and lone CR line endings into LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _guess_encoding(data: bytes) -> str | None:
    """charset-normalizer's best guess, preferring cp1252 when it scores as well."""
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        tied = match.chaos <= best.chaos and match.coherence >= best.coherence
        if match.encoding == _FALLBACK_ENCODING and tied:
            return _FALLBACK_ENCODING
    return best.encoding


def decode_text(data: bytes) -> str:
    """Decode bytes: BOM, strict UTF-8, charset-normalizer's guess, then lenient cp1252."""
    bom = split_bom(data)
    if bom:
        codec, body = bom
        return body.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    encoding = _guess_encoding(data) or _FALLBACK_ENCODING
    return data.decode(encoding, errors="replace")


def generated_code(text: str) -> str | None:
    """Why this code looks minified or machine-generated (bundles, search indexes), or None.

    Such files are mostly one huge line of markup-in-strings: their passages read as noise and
    their many keywords crowd real documents out of the results. Hand-written code averages
    well under 100 characters a line.
    """
    if len(text) < MINIFIED_MIN_CHARS:
        return None
    mean = len(text) / (text.count("\n") + 1)
    if mean <= MINIFIED_MEAN_LINE:
        return None
    return f"minified or generated code (lines average {mean:,.0f} characters)"


def extract_text(path: Path, kind: str = "text") -> Extraction:
    """Extract a plain-text file (prose, markup source or code) as a single unit."""
    data = read_text_bytes(path)
    if data is None:
        return binary()
    text = normalize_newlines(decode_text(data))
    generated = generated_code(text) if kind == "code" else None
    if generated:
        return Extraction(kind, [], generated)  # found by name only
    return result(kind, [text])
