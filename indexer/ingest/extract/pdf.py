"""PDF: one unit per page with text, via pypdfium2."""

from __future__ import annotations

import threading
from pathlib import Path

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.text import Extraction, ExtractionError, TextUnit, normalize_newlines

_LOAD_ERRORS = {
    pdfium_c.FPDF_ERR_PASSWORD: "encrypted PDF (password required)",
    pdfium_c.FPDF_ERR_SECURITY: "encrypted PDF (unsupported security scheme)",
    pdfium_c.FPDF_ERR_SUCCESS: "PDF has no pages",  # pypdfium2 refuses page-less documents
}
NO_TEXT_LAYER = "PDF has no text layer (scanned?)"

# PDFium is not thread-safe: every use of it in one process (extraction, previews) holds this.
PDFIUM_LOCK = threading.RLock()


def _load_error(exc: pdfium.PdfiumError) -> ExtractionError:
    reason = _LOAD_ERRORS.get(exc.err_code, f"corrupt or unreadable PDF: {exc}")
    return ExtractionError(reason)


def _page_text(pdf: pdfium.PdfDocument, index: int) -> str:
    """The text of page ``index`` (0-based), closing the page handles afterwards."""
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            return normalize_newlines(textpage.get_text_bounded())
        finally:
            textpage.close()
    finally:
        page.close()


def _page_units(pdf: pdfium.PdfDocument) -> list[TextUnit]:
    texts = (_page_text(pdf, index) for index in range(len(pdf)))
    return [TextUnit(text, number) for number, text in enumerate(texts, 1) if text.strip()]


def extract_pdf(path: Path) -> Extraction:
    """Extract a PDF's text layer, one unit per physical page that has text."""
    with open_regular(path) as fh, PDFIUM_LOCK:  # opened here so OS errors surface as OSError
        try:
            pdf = pdfium.PdfDocument(fh)
        except pdfium.PdfiumError as exc:
            raise _load_error(exc) from exc
        try:
            units = _page_units(pdf)
        except pdfium.PdfiumError as exc:
            raise ExtractionError(f"corrupt or unreadable PDF: {exc}") from exc
        finally:
            pdf.close()
    return Extraction("pdf", units, None if units else NO_TEXT_LAYER)
