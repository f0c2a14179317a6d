"""Which pages of a PDF need OCR, and their pictures at `OCR_DPI`.

A page is read by OCR when its text layer has fewer than `MIN_TEXT_CHARS` non-space characters
and images cover at least `MIN_IMAGE_COVER` of it. The decision is per page, so a scanned
appendix of a born-digital report is read and the rest is not; a page that already carries an
invisible OCR layer (a scanner's or ocrmypdf's) has its text and is not read again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.pdf import PDFIUM_LOCK
from indexer.ingest.ocr.images import MAX_PIXELS

OCR_DPI = 150  # pages are rendered at this; OCR boxes of PDF pages are in these pixels
MIN_TEXT_CHARS = 20
MIN_IMAGE_COVER = 0.5


def image_cover(page: pdfium.PdfPage) -> float:
    """The share of the page that image objects cover (summed, clipped to the page; at most 1)."""
    width, height = page.get_size()
    if width <= 0 or height <= 0:
        return 0.0
    covered = 0.0
    for obj in page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_IMAGE,), max_depth=4):
        bounds = obj.get_bounds() if hasattr(obj, "get_bounds") else obj.get_pos()
        left, bottom, right, top = bounds
        w = max(0.0, min(right, width) - max(left, 0.0))
        h = max(0.0, min(top, height) - max(bottom, 0.0))
        covered += w * h
    return min(1.0, covered / (width * height))


def text_chars(page: pdfium.PdfPage) -> int:
    textpage = page.get_textpage()
    try:
        return sum(1 for ch in textpage.get_text_bounded() if not ch.isspace())
    finally:
        textpage.close()


def needs_ocr(page: pdfium.PdfPage) -> bool:
    return text_chars(page) < MIN_TEXT_CHARS and image_cover(page) >= MIN_IMAGE_COVER


def pages_to_read(path: Path, dpi: int = OCR_DPI) -> Iterator[tuple[int, np.ndarray]]:
    """(1-based page, RGB pixels at `dpi`) of each page that needs OCR. PDFium is held only
    while a page is inspected and rendered, never while OCR runs."""
    with open_regular(path) as fh:
        with PDFIUM_LOCK:
            pdf = pdfium.PdfDocument(fh)
            count = len(pdf)
        try:
            for index in range(count):
                with PDFIUM_LOCK:
                    rgb = _render_if_scanned(pdf, index, dpi)
                if rgb is not None:
                    yield index + 1, rgb
        finally:
            with PDFIUM_LOCK:
                pdf.close()


def _render_if_scanned(pdf: pdfium.PdfDocument, index: int, dpi: int) -> np.ndarray | None:
    page = pdf[index]
    try:
        if not needs_ocr(page):
            return None
        width, height = page.get_size()
        scale = dpi / 72
        if width * height * scale * scale > MAX_PIXELS:  # a poster-sized page: fewer pixels
            scale = (MAX_PIXELS / (width * height)) ** 0.5
        bitmap = page.render(scale=scale)
        try:
            return np.asarray(bitmap.to_pil().convert("RGB"))
        finally:
            bitmap.close()
    finally:
        page.close()
