"""What OCR found in one file, as the catalog keeps it (JSON, keyed by the file's content hash).

A file's OCR text is its pages' texts joined by `UNIT_SEPARATOR` (as the chunker joins units),
each page's text being its lines joined by a newline. Every line keeps its character offsets
into that text and its box, so a chunk's span (`chunks.char_start/char_end` of a chunk whose
`source` is "ocr") maps back to the boxes of its lines, for marking the passage on the page.

Boxes are quadrilaterals (x0, y0, x1, y1, x2, y2, x3, y3: clockwise from the top left) in page
pixels: for a PDF page rendered at `OcrResult.dpi`, for an image in its own pixels after its
EXIF orientation (`dpi` None).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from indexer.ingest.chunking import UNIT_SEPARATOR
from indexer.ingest.extract.text import TextUnit

TEXT, NO_TEXT, ERROR, NOTHING_TO_READ = "text", "no_text", "error", "none"
STATUSES = (TEXT, NO_TEXT, ERROR, NOTHING_TO_READ)
NO_TEXT_FOUND = "no text found"


@dataclass(frozen=True)
class OcrLine:
    text: str
    start: int  # offsets into the file's OCR text
    end: int
    box: tuple[float, ...]  # 8 numbers: the quadrilateral, page pixels
    score: float


@dataclass(frozen=True)
class OcrPage:
    page: int | None  # 1-based page of a PDF or a multi-page TIFF; None for a single image
    width: int  # the page's size in the boxes' pixels
    height: int
    lines: list[OcrLine] = field(default_factory=list)


@dataclass(frozen=True)
class OcrResult:
    """`status`: text (lines found), no_text, error (`reason` says why) or none (a PDF whose
    pages all have a text layer: nothing to read)."""

    status: str
    reason: str | None = None
    dpi: int | None = None
    pages: list[OcrPage] = field(default_factory=list)

    def units(self) -> list[TextUnit]:
        """The OCR text per page, as the chunker takes it."""
        return [TextUnit("\n".join(line.text for line in p.lines), p.page) for p in self.pages if p.lines]

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OcrResult:
        raw = json.loads(text)
        pages = [OcrPage(p["page"], p["width"], p["height"],
                         [OcrLine(ln["text"], ln["start"], ln["end"], tuple(ln["box"]), ln["score"])
                          for ln in p["lines"]]) for p in raw.get("pages", [])]
        return cls(raw["status"], raw.get("reason"), raw.get("dpi"), pages)

    def lines_between(self, start: int, end: int) -> list[tuple[OcrPage, OcrLine]]:
        """The lines that overlap the span [start, end) of the OCR text, with their pages."""
        return [(p, ln) for p in self.pages for ln in p.lines if ln.start < end and ln.end > start]


def found_text(pages: list[tuple[int | None, int, int, list[tuple[str, tuple[float, ...], float]]]],
               dpi: int | None) -> OcrResult:
    """An `OcrResult` from each page's (page, width, height, [(text, box, score)]), numbering the
    lines' offsets as `units()` joins them."""
    built: list[OcrPage] = []
    offset = 0
    for page, width, height, lines in pages:
        kept = [(text.strip(), box, score) for text, box, score in lines if text.strip()]
        page_lines = []
        for text, box, score in kept:
            page_lines.append(OcrLine(text, offset, offset + len(text),
                                      tuple(round(float(v), 1) for v in box), round(float(score), 3)))
            offset += len(text) + 1  # the newline between lines
        if page_lines:
            offset += len(UNIT_SEPARATOR) - 1  # the page separator replaces the last newline
        built.append(OcrPage(page, width, height, page_lines))
    if not any(p.lines for p in built):
        return OcrResult(NO_TEXT, NO_TEXT_FOUND, dpi, built)
    return OcrResult(TEXT, None, dpi, built)
