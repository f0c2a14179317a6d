"""What the OCR worker process runs for one file: decode, read, and give back an `OcrResult`.

It runs in its own worker pool (`indexer.write.ocr_phase`): one process, one intra-op thread,
the lowest CPU priority, and a time cap that kills the process (ONNX Runtime cannot be
interrupted from a thread). Bad input is an `OcrResult` with status "error" and the reason,
never an exception the pool has to explain.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pypdfium2 as pdfium

from indexer.ingest.budget import OverBudget
from indexer.ingest.ocr.engine import PREPASS_MAX_SIDE, OcrEngine
from indexer.ingest.ocr.images import ImageError, frames, glance, image_size
from indexer.ingest.ocr.pdf_pages import OCR_DPI, pages_to_read
from indexer.ingest.ocr.result import ERROR, NO_TEXT, NOTHING_TO_READ, OcrResult, found_text

_engine: OcrEngine | None = None


def engine() -> OcrEngine:
    """This process's engine, built on first use at the lowest priority."""
    global _engine
    if _engine is None:
        if hasattr(os, "nice"):
            with contextlib.suppress(OSError):
                os.nice(19 - os.nice(0))
        _engine = OcrEngine(threads=1)
    return _engine


def ocr_file(path: str, kind: str, min_side_px: int) -> OcrResult:
    """Read the text of an image file (`kind` "image") or of a PDF's scanned pages ("pdf")."""
    try:
        if kind == "pdf":
            return _read_pdf(Path(path))
        return _read_image(Path(path), min_side_px)
    except (ImageError, OverBudget) as exc:
        return OcrResult(ERROR, str(exc))
    except pdfium.PdfiumError as exc:
        return OcrResult(ERROR, f"corrupt or unreadable PDF: {exc}")
    except OSError as exc:
        return OcrResult(ERROR, f"cannot read file: {exc.strerror or exc}")


def _read_pdf(path: Path) -> OcrResult:
    pages = []
    for number, rgb in pages_to_read(path, OCR_DPI):
        lines = engine().read(rgb)
        pages.append((number, rgb.shape[1], rgb.shape[0], [(ln.text, ln.box, ln.score) for ln in lines]))
    if not pages:
        return OcrResult(NOTHING_TO_READ, "every page has a text layer", OCR_DPI)
    return found_text(pages, OCR_DPI)


def _read_image(path: Path, min_side_px: int) -> OcrResult:
    width, height = image_size(path)
    if min(width, height) < min_side_px:
        return OcrResult(NO_TEXT, f"too small to hold text ({width}×{height} px)")
    small = glance(path, PREPASS_MAX_SIDE)  # a camera photo: most have no text, a cheap look decides
    if small is not None and not engine().has_text(small.rgb):
        return found_text([(None, *small.full_size, [])], None)
    pages = []
    for frame in frames(path):
        lines = engine().read(frame.rgb)
        h, w = frame.rgb.shape[:2]
        pages.append((frame.page, round(w * frame.scale), round(h * frame.scale),
                      [(ln.text, tuple(v * frame.scale for v in ln.box), ln.score) for ln in lines]))
    return found_text(pages, None)
