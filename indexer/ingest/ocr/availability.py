"""Whether OCR can run here, asked without importing RapidOCR (the `ocr` extra may be absent)."""

from __future__ import annotations

from importlib.util import find_spec

INSTALL_HINT = "pip install 'findling[ocr]'"


def ocr_installed() -> bool:
    """RapidOCR and Pillow are importable (a blocked import counts as absent)."""
    try:
        return find_spec("rapidocr") is not None and find_spec("PIL") is not None
    except (ImportError, ValueError):
        return False


def ocr_unavailable_reason() -> str | None:
    """None when OCR can run; else the plain message that says how to turn it on."""
    if ocr_installed():
        return None
    return f"text recognition (OCR) is not installed: {INSTALL_HINT}"
