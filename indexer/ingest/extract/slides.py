"""Presentations: PPTX and ODP, with stdlib ``zipfile`` and ``ElementTree`` and the archive guards of
`indexer.ingest.extract.office`.

One unit per slide, in show order: its text (shapes, tables, grouped shapes), then its speaker
notes after a "Notes:" line; the page is the slide's number and the label its title. Why not
python-pptx: it reads the same XML through lxml with none of the zip-bomb guards, and would add
lxml, Pillow and XlsxWriter (~39 MB) to a plain install for no text it finds that this misses;
it is also slower (33 against 74 decks/s of 30 slides, `benchmarks/bench_formats.py`).
"""

from __future__ import annotations

import posixpath
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

from indexer.ingest.extract.office import (
    ODF_PARAGRAPHS,
    odf_spans,
    paragraphs,
    read_xml,
    reading,
)
from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.text import Extraction, ExtractionError, TextUnit

NOTES_HEADING = "Notes:"
_NO_TEXT = "no text on any slide"

_A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
_P = "{http://schemas.openxmlformats.org/presentationml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_NOTES_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide"
_A_PARAGRAPHS = frozenset({f"{_A}p"})
_A_BREAKS = frozenset({f"{_A}br"})
_TITLES = frozenset({"title", "ctrTitle"})
_NOT_NOTES = frozenset({"sldImg", "sldNum", "hdr", "ftr", "dt"})  # a notes page's furniture

_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"


def _slide_unit(number: int, title: str | None, body: list[str], notes: list[str]) -> TextUnit | None:
    lines = [line for line in body if line.strip()]
    notes = [line for line in notes if line.strip()]
    if notes:
        lines += [NOTES_HEADING, *notes]
    return TextUnit("\n".join(lines), number, title or None) if lines else None


# -- PPTX ---------------------------------------------------------------------------------------
def _rels(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id → (type, target path in the archive)."""
    folder, name = posixpath.split(part)
    rels_name = posixpath.join(folder, "_rels", f"{name}.rels")
    if rels_name not in archive.NameToInfo:
        return {}
    rels = read_xml(archive, rels_name, "PPTX")
    return {
        rel.get("Id", ""): _target(folder, rel)
        for rel in rels.iter(f"{_REL}Relationship")
        if rel.get("TargetMode") != "External"
    }


def _target(folder: str, rel: ElementTree.Element) -> tuple[str, str]:
    return rel.get("Type", ""), posixpath.normpath(posixpath.join(folder, rel.get("Target", "")))


def _pptx_line(paragraph: ElementTree.Element) -> str:
    parts = []
    for element in paragraph.iter():
        if element.tag == f"{_A}t":
            parts.append(element.text or "")
        elif element.tag in _A_BREAKS:
            parts.append("\n")
    return "".join(parts)


def _placeholder(shape: ElementTree.Element) -> str | None:
    ph = shape.find(f"{_P}nvSpPr/{_P}nvPr/{_P}ph")
    return None if ph is None else ph.get("type", "body")


def _pptx_shapes(tree: ElementTree.Element) -> Iterator[tuple[str | None, list[str]]]:
    """(placeholder type, lines) of each text shape, table and grouped shape, in document order."""
    for shape in tree.iter():
        if shape.tag == f"{_P}sp":
            body = shape.find(f"{_P}txBody")
            if body is not None:
                yield _placeholder(shape), [_pptx_line(p) for p in paragraphs(body, _A_PARAGRAPHS)]
        elif shape.tag == f"{_A}tbl":
            for row in shape.iter(f"{_A}tr"):
                cells = [" ".join(_pptx_line(p) for p in cell.iter(f"{_A}p")).strip()
                         for cell in row.iter(f"{_A}tc")]
                yield None, ["\t".join(cell for cell in cells if cell)]


def _pptx_slide(archive: zipfile.ZipFile, number: int, part: str) -> TextUnit | None:
    title, body = None, []
    for kind, lines in _pptx_shapes(read_xml(archive, part, "PPTX")):
        if kind in _TITLES and title is None:
            title = " ".join(line.strip() for line in lines if line.strip())
        body += lines
    notes: list[str] = []
    for rel_type, target in _rels(archive, part).values():
        if rel_type == _NOTES_REL and target in archive.NameToInfo:
            for kind, lines in _pptx_shapes(read_xml(archive, target, "PPTX")):
                if kind not in _NOT_NOTES:
                    notes += lines
    return _slide_unit(number, title, body, notes)


def extract_pptx(path: Path) -> Extraction:
    """Extract a PowerPoint deck (.pptx, .pptm, .ppsx), one unit per slide in show order."""
    with reading("PPTX"), open_regular(path) as fh, zipfile.ZipFile(fh) as archive:
        presentation = read_xml(archive, "ppt/presentation.xml", "PPTX")
        rels = _rels(archive, "ppt/presentation.xml")
        order = [rels.get(slide.get(f"{_R}id", ""), ("", ""))[1]
                 for slide in presentation.iter(f"{_P}sldId")]
        missing = [part for part in order if part not in archive.NameToInfo]
        if missing:
            raise ExtractionError(f"corrupt PPTX: missing {missing[0] or 'a slide'}")
        units = [_pptx_slide(archive, number, part) for number, part in enumerate(order, 1)]
    units = [unit for unit in units if unit]
    return Extraction("pptx", units, None if units else _NO_TEXT)


# -- ODP ----------------------------------------------------------------------------------------
def _odp_lines(element: ElementTree.Element) -> list[str]:
    return ["".join(odf_spans(p)) for p in paragraphs(element, ODF_PARAGRAPHS)]


def _odp_slide(number: int, page: ElementTree.Element) -> TextUnit | None:
    notes_element = page.find(f"{_PRESENTATION}notes")
    notes = _odp_lines(notes_element) if notes_element is not None else []
    if notes_element is not None:
        page.remove(notes_element)
    title = next((" ".join(_odp_lines(frame)).strip() for frame in page.iter(f"{_DRAW}frame")
                  if frame.get(f"{_PRESENTATION}class") == "title"), None)
    return _slide_unit(number, title, _odp_lines(page), notes)


def extract_odp(path: Path) -> Extraction:
    """Extract an OpenDocument presentation, one unit per slide (draw:page)."""
    with reading("ODP"), open_regular(path) as fh, zipfile.ZipFile(fh) as archive:
        content = read_xml(archive, "content.xml", "ODP")
    pages = list(content.iter(f"{_DRAW}page"))
    units = [unit for number, page in enumerate(pages, 1) if (unit := _odp_slide(number, page))]
    return Extraction("odp", units, None if units else _NO_TEXT)

