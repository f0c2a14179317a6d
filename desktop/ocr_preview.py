"""The preview of a passage read by OCR: the page or image, with the recognised lines marked.

The catalog keeps each OCR line's character offsets and box (`indexer.ingest.ocr.result`), so the
passage's lines are the lines its span overlaps, drawn at their boxes scaled to the picture shown;
a query term is marked within its line at its share of the line's width (OCR gives no per-glyph
boxes). PDF pages are rendered as for any PDF preview; image files are decoded as OCR decoded them
(Pillow, EXIF orientation), so the boxes fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from indexer.ingest.ocr.result import OcrLine, OcrPage, OcrResult
    from indexer.search.searcher import FileResult

MAX_WIDTH_PX = 1400  # an image is shown at most this wide (a photo's 4000 px are not needed)


@dataclass
class OcrPicture:
    """The picture to show (`desktop.preview` shows it as a page) and the marks on it, in its pixels."""

    image: QImage
    page: int
    pages: int
    passage_rects: list[QRectF]
    term_rects: list[QRectF]
    note: str


def stored_result(data_dir: Path, chunk_id: int) -> OcrResult | None:
    """The OCR result a chunk's text came from (read-only), or None."""
    from indexer.datadir import DataDir
    from indexer.ingest.ocr.result import OcrResult

    catalog = DataDir(data_dir).open_catalog(readonly=True)
    try:
        stored = catalog.ocr_result_of_chunk(chunk_id)
    finally:
        catalog.close()
    return OcrResult.from_json(stored) if stored else None


def line_rects(page: OcrPage, lines: list[OcrLine], scale: float) -> list[QRectF]:
    rects = []
    for line in lines:
        xs, ys = line.box[0::2], line.box[1::2]
        rects.append(QRectF(min(xs) * scale, min(ys) * scale, (max(xs) - min(xs)) * scale,
                            (max(ys) - min(ys)) * scale))
    return rects


def term_rects(lines: list[OcrLine], rects: list[QRectF], query: str) -> list[QRectF]:
    """Each query term's place within its line's box, by its share of the line's characters."""
    from indexer.search.highlight import highlight_spans
    from indexer.search.query import parse

    parsed = parse(query)
    found = []
    for line, rect in zip(lines, rects):
        width = rect.width() / max(1, len(line.text))
        for start, end in highlight_spans(line.text, parsed):
            found.append(QRectF(rect.left() + start * width, rect.top(), (end - start) * width,
                                rect.height()))
    return found


def ocr_preview(result: FileResult, query: str, data_dir: Path, page_width_px: int) -> OcrPicture | None:
    """The page or image of an OCR passage with its lines marked; None when no result is stored."""
    from indexer.paths import os_path

    stored = stored_result(data_dir, result.chunk_id)
    if stored is None:
        return None
    path = Path(os_path(result.path))
    wanted = result.page
    page = next((p for p in stored.pages if p.page == wanted and p.lines), None) or \
        next((p for p in stored.pages if p.lines), None)
    if page is None:
        return None
    if path.suffix.lower() == ".pdf":
        image, pages = _pdf_page(path, page.page or 1, page_width_px)
    else:
        image, pages = _image(path, page.page)
    scale = image.width() / max(1, page.width)
    lines = [ln for p, ln in stored.lines_between(result.char_start, result.char_end) if p is page]
    rects = line_rects(page, lines, scale)
    note = "" if rects else "The passage could not be located on the picture."
    return OcrPicture(image, page.page or 1, pages, rects, term_rects(lines, rects, query),
                      note or "Text recognised by OCR: it may contain reading errors.")


def _qimage(rgb: np.ndarray) -> QImage:
    rgb = np.ascontiguousarray(rgb)
    rows, columns = rgb.shape[:2]
    return QImage(rgb.tobytes(), columns, rows, columns * 3, QImage.Format.Format_RGB888).copy()


def _image(path: Path, page: int | None) -> tuple[QImage, int]:
    from PIL import Image

    from indexer.ingest.ocr.images import frames

    shown = []
    for frame in frames(path):
        shown.append(frame)
        if frame.page == page or page is None:
            break
    frame = shown[-1]
    rgb = frame.rgb
    height, width = rgb.shape[:2]
    if width > MAX_WIDTH_PX:
        rgb = np.asarray(Image.fromarray(rgb).resize((MAX_WIDTH_PX, round(height * MAX_WIDTH_PX / width))))
    return _qimage(rgb), len(shown) if page else 1


def _pdf_page(path: Path, page: int, width_px: int) -> tuple[QImage, int]:
    import pypdfium2 as pdfium

    from indexer.ingest.extract.pdf import PDFIUM_LOCK

    with PDFIUM_LOCK, path.open("rb") as fh:
        pdf = pdfium.PdfDocument(fh)
        try:
            pdf_page = pdf[max(0, min(len(pdf) - 1, page - 1))]
            width, _ = pdf_page.get_size()
            bitmap = pdf_page.render(scale=width_px / max(width, 1.0), rev_byteorder=True)
            rgb = np.asarray(bitmap.to_pil().convert("RGB"))
            pages = len(pdf)
            pdf_page.close()
        finally:
            pdf.close()
    return _qimage(rgb), pages
