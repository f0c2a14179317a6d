"""Zipped document formats: DOCX, ODT and EPUB, with stdlib ``zipfile`` and ``ElementTree``.

Also the archive guards the other zipped formats share (`indexer.ingest.extract.sheets`,
`indexer.ingest.extract.slides`): `reading` (errors become "corrupt KIND: …"), `read_part` and
`read_xml` (a member read whole, within the memory budget), `stream_part` (a member for a streaming
parser, cut off past the part limit) and `check_parts` (every member a library reads whole fits).
Entity expansion: ElementTree's expat refuses a billion-laughs document (`ParseError`, below) and
never fetches external entities.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO
from urllib.parse import unquote
from xml.etree import ElementTree

from indexer.ingest.budget import ensure_fits
from indexer.ingest.extract.html import decode_html, html_to_text
from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.text import Extraction, ExtractionError, result

_MAX_PART_BYTES = 256 * 1024 * 1024  # guards against zip bombs
PARSE_MEMORY_FACTOR = 4  # peak memory to parse a part, per byte of it (bytes, text, parser)
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    ElementTree.ParseError,
    zlib.error,
    EOFError,
    NotImplementedError,  # unsupported compression method
    RuntimeError,  # encrypted member; also RecursionError on absurdly deep XML
    ValueError,
)

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W_PARAGRAPH, _W_TEXT, _W_TAB = f"{_W}p", f"{_W}t", f"{_W}tab"
_W_PARAGRAPHS = frozenset({_W_PARAGRAPH})
_W_BREAKS = frozenset({f"{_W}br", f"{_W}cr"})
# Word stores text boxes twice; the VML fallback copy would duplicate their text.
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"

ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
ODF_PARAGRAPHS = frozenset({f"{ODF_TEXT}p", f"{ODF_TEXT}h"})
_T_SPACE, _T_TAB = f"{ODF_TEXT}s", f"{ODF_TEXT}tab"
_T_BREAK, _T_COUNT = f"{ODF_TEXT}line-break", f"{ODF_TEXT}c"
_MAX_SPACES = 64

_EPUB_CONTAINER = "META-INF/container.xml"
_EPUB_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})


@contextmanager
def reading(kind: str) -> Iterator[None]:
    """Turn archive and XML parsing errors into ``ExtractionError("corrupt <kind>: ...")``."""
    try:
        yield
    except _CORRUPT as exc:
        raise ExtractionError(f"corrupt {kind}: {exc}") from exc


def _member(archive: zipfile.ZipFile, name: str, kind: str) -> zipfile.ZipInfo:
    try:
        return archive.getinfo(name)
    except KeyError:
        raise ExtractionError(f"corrupt {kind}: missing {name}") from None


def _ensure_part_fits(info: zipfile.ZipInfo) -> None:
    ensure_fits(info.file_size * PARSE_MEMORY_FACTOR,
                f"{info.filename} inflates to {info.file_size / 2**20:,.0f} MiB")


def read_part(archive: zipfile.ZipFile, name: str, kind: str) -> bytes:
    """Read one member of ``archive``, refusing missing or implausibly large ones."""
    info = _member(archive, name, kind)
    _ensure_part_fits(info)
    member = archive.open(info)
    with member:
        data = member.read(_MAX_PART_BYTES + 1)
    if len(data) > _MAX_PART_BYTES:
        raise ExtractionError(f"corrupt {kind}: {name} is too large")
    return data


def read_xml(archive: zipfile.ZipFile, name: str, kind: str) -> ElementTree.Element:
    return ElementTree.fromstring(read_part(archive, name, kind))


class _BoundedPart(io.RawIOBase):
    """A member's inflated bytes, refused past `_MAX_PART_BYTES` whatever its header declares."""

    def __init__(self, member: IO[bytes], name: str, kind: str) -> None:
        self._member, self._name, self._kind, self._read = member, name, kind, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self._member.read(len(buffer))
        self._read += len(data)
        if self._read > _MAX_PART_BYTES:
            raise ExtractionError(f"corrupt {self._kind}: {self._name} is too large")
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._member.close()
        super().close()


def stream_part(archive: zipfile.ZipFile, name: str, kind: str) -> IO[bytes]:
    """One member for a streaming parser (`ElementTree.iterparse`, which keeps what it has not
    cleared): memory follows what the parser keeps, not the part, so only its length is bounded."""
    info = _member(archive, name, kind)
    return io.BufferedReader(_BoundedPart(archive.open(info), name, kind))


def check_parts(archive: zipfile.ZipFile, kind: str, streamed: Callable[[str], bool]) -> None:
    """Refuse an archive that a library reading it would inflate past the limits: every member
    that is not `streamed` must fit the memory budget and the part limit."""
    for info in archive.infolist():
        if streamed(info.filename):
            continue
        if info.file_size > _MAX_PART_BYTES:
            raise ExtractionError(f"corrupt {kind}: {info.filename} is too large")
        _ensure_part_fits(info)


def paragraphs(element: ElementTree.Element, tags: frozenset[str]) -> Iterator[ElementTree.Element]:
    """Paragraph elements under ``element`` in document order, nested ones after their parent."""
    for child in element:
        if child.tag in tags:
            yield child
        if child.tag != _MC_FALLBACK:
            yield from paragraphs(child, tags)


def _docx_runs(element: ElementTree.Element) -> Iterator[str]:
    """Text of a DOCX paragraph's runs, excluding nested paragraphs."""
    for child in element:
        if child.tag == _W_TEXT:
            yield child.text or ""
        elif child.tag == _W_TAB:
            yield "\t"
        elif child.tag in _W_BREAKS:
            yield "\n"
        elif child.tag not in (_W_PARAGRAPH, _MC_FALLBACK):
            yield from _docx_runs(child)


def extract_docx(path: Path) -> Extraction:
    """Extract a Word document's body text, one line per paragraph (tables included)."""
    with reading("DOCX"), open_regular(path) as fh, zipfile.ZipFile(fh) as archive:
        body = read_xml(archive, "word/document.xml", "DOCX")
        lines = ["".join(_docx_runs(p)) for p in paragraphs(body, _W_PARAGRAPHS)]
    return result("docx", ["\n".join(line for line in lines if line.strip())])


def odf_spans(element: ElementTree.Element) -> Iterator[str]:
    """Text of an ODF paragraph with its spans, spaces, tabs and breaks; no nested paragraphs."""
    if element.text:
        yield element.text
    for child in element:
        if child.tag == _T_SPACE:
            yield " " * min(int(child.get(_T_COUNT, "1")), _MAX_SPACES)
        elif child.tag == _T_TAB:
            yield "\t"
        elif child.tag == _T_BREAK:
            yield "\n"
        elif child.tag not in ODF_PARAGRAPHS:
            yield from odf_spans(child)
        if child.tail:
            yield child.tail


def extract_odt(path: Path) -> Extraction:
    """Extract an OpenDocument text's paragraphs and headings, one line each."""
    with reading("ODT"), open_regular(path) as fh, zipfile.ZipFile(fh) as archive:
        content = read_xml(archive, "content.xml", "ODT")
        lines = ["".join(odf_spans(p)) for p in paragraphs(content, ODF_PARAGRAPHS)]
    return result("odt", ["\n".join(line for line in lines if line.strip())])


def _epub_package(archive: zipfile.ZipFile) -> str:
    """Path of the OPF package document named by ``META-INF/container.xml``."""
    container = read_xml(archive, _EPUB_CONTAINER, "EPUB")
    rootfile = container.find(".//{*}rootfile")
    package = None if rootfile is None else rootfile.get("full-path")
    if not package:
        raise ExtractionError(f"corrupt EPUB: no package document in {_EPUB_CONTAINER}")
    return package


def _epub_spine(archive: zipfile.ZipFile, package: str) -> list[str]:
    """Archive paths of the package's (X)HTML spine items, in reading order."""
    opf = read_xml(archive, package, "EPUB")
    base = posixpath.dirname(package)
    hrefs = {
        item.get("id"): posixpath.normpath(posixpath.join(base, unquote(item.get("href", ""))))
        for item in opf.iterfind(".//{*}item")
        if item.get("media-type") in _EPUB_HTML_TYPES
    }
    spine = (hrefs.get(ref.get("idref")) for ref in opf.iterfind(".//{*}itemref"))
    return [href for href in spine if href]


def _epub_item_text(archive: zipfile.ZipFile, name: str) -> str:
    """Visible text of one spine document; its ``<title>`` usually repeats the book title."""
    return html_to_text(decode_html(read_part(archive, name, "EPUB")), keep_title=False)


def extract_epub(path: Path) -> Extraction:
    """Extract an EPUB's documents in spine order, one unit per spine item."""
    with reading("EPUB"), open_regular(path) as fh, zipfile.ZipFile(fh) as archive:
        spine = _epub_spine(archive, _epub_package(archive))
        texts = [_epub_item_text(archive, item) for item in spine]
    return result("epub", texts)
