"""What a result's page is, in words: a PDF's page, a workbook's sheet, a deck's slide, a mailbox's
message, with its label (the sheet's name, the slide's title, the message's subject), for the CLI,
`search --json` readers and the app alike."""

from __future__ import annotations

import os

_PAGE_KINDS = {
    **dict.fromkeys((".xlsx", ".xlsm", ".xls", ".ods"), "sheet"),
    **dict.fromkeys((".pptx", ".pptm", ".ppsx", ".odp"), "slide"),
    ".mbox": "message",
}
_BADGES = {"page": "p.", "message": "msg"}


def page_kind(path: str) -> str:
    """What a page of the file `path` is: "sheet", "slide", "message" or "page"."""
    return _PAGE_KINDS.get(os.path.splitext(path)[1].lower(), "page")


def page_text(path: str, page: int | None, label: str | None = None) -> str:
    """'sheet 2 “Budget”', 'slide 3 “Roadmap”', 'page 5'; '' when there is no page."""
    if not page:
        return ""
    named = f" “{label}”" if label else ""
    return f"{page_kind(path)} {page}{named}"


def page_badge(path: str, page: int | None, label: str | None = None) -> str:
    """The short form for a result card: a sheet's name, 'slide 3', 'p. 5'; '' when there is no page."""
    if not page:
        return ""
    kind = page_kind(path)
    if kind == "sheet" and label:
        return label if len(label) <= 24 else label[:23] + "…"
    return f"{_BADGES.get(kind, kind)} {page}"
