"""The preview pane: the selected passage in its context, or its PDF page rendered with the passage marked.

Loading a preview reads the file again (`indexer.ingest.extract.extract`), and renders a PDF page with
pypdfium2, in a QThreadPool worker. Each request has a generation number; a preview that
arrives after a newer request is dropped.
"""

from __future__ import annotations

import html
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QRectF, QRunnable, QSize, Qt, QThreadPool, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from desktop.results import folder_label, marked_html
from indexer.paths import os_path
from indexer.search.pages import page_text

if TYPE_CHECKING:
    from indexer.search.searcher import FileResult

CONTEXT_CHARS = 1200  # shown before and after the passage
PASSAGE_STYLE = "background-color:#fff6cc"
TERM_STYLE = "background-color:#ffd54f; color:#1a1a1a; font-weight:600"
MONOSPACE_KINDS = ("text", "code")  # plain text keeps its columns (invoices, tables, logs)
PAGE_WIDTH_PX = 900  # PDF pages are rendered this wide, then scaled to fit the pane
PASSAGE_FILL = QColor(255, 214, 0, 70)
TERM_FILL = QColor(255, 160, 0, 110)

def pdfium_lock() -> threading.RLock:
    """PDFium is not thread-safe: the engine's process-wide lock."""
    from indexer.ingest.extract.pdf import PDFIUM_LOCK

    return PDFIUM_LOCK


@dataclass
class TextPreview:
    html: str
    note: str = ""


@dataclass
class PdfPreview:
    image: QImage
    page: int
    pages: int
    passage_rects: list[QRectF] = field(default_factory=list)  # in image pixels
    term_rects: list[QRectF] = field(default_factory=list)
    note: str = ""


@dataclass
class PreviewError:
    message: str
    missing: bool = False  # the file is not where the index says


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def document_text(path: Path, attachment: str | None = None) -> tuple[str, list[tuple[int, int | None]], str]:
    """The text the chunk offsets refer to (units joined by a blank line), each unit's (start, page),
    and the file's kind; of the mail's `attachment` of that name when one is given."""
    from indexer.ingest.extract import extract
    from indexer.ingest.extract.mail import attachment_extraction

    extraction = attachment_extraction(path, attachment) if attachment else extract(path)
    starts, offset = [], 0
    for unit in extraction.units:
        starts.append((offset, unit.page))
        offset += len(unit.text) + 2
    return "\n\n".join(u.text for u in extraction.units), starts, extraction.kind


def locate_passage(text: str, char_start: int, char_end: int, snippet: str) -> tuple[int, int, str]:
    """The passage's span in `text`: the recorded offsets, or where the snippet is if the file changed."""
    head = _flat(snippet)[:60]
    if 0 <= char_start < char_end <= len(text) and (not head or head in _flat(text[char_start:char_end])):
        return char_start, char_end, ""
    flat_head = re.escape(head[:40]).replace(r"\ ", r"\s+")
    found = re.search(flat_head, text) if head else None
    note = "The file has changed since it was indexed; the passage may have moved."
    if found:
        return found.start(), min(len(text), found.start() + max(len(snippet), char_end - char_start)), note
    return 0, 0, note


def _unit_bounds(text: str, starts: list[tuple[int, int | None]], position: int) -> tuple[int, int]:
    """The span of the paged unit (a sheet, a slide, a message) holding `position`; all of `text`
    for unpaged text, so the context of a passage never runs into the next sheet or slide."""
    ends = [start - 2 for start, _ in starts[1:]] + [len(text)]
    for (start, page), end in zip(starts, ends):
        if page is not None and start <= position <= end:
            return start, end
    return 0, len(text)


def text_preview(path: Path, char_start: int, char_end: int, snippet: str, query: str,
                 attachment: str | None = None) -> TextPreview:
    """The passage with CONTEXT_CHARS of context on either side (within its sheet, slide or message),
    query terms highlighted."""
    from indexer.search.highlight import highlight_spans
    from indexer.search.query import parse

    text, starts, kind = document_text(path, attachment)
    if not text:
        return TextPreview("", "This file has no text to show.")
    start, end, note = locate_passage(text, char_start, char_end, snippet)
    unit_start, unit_end = _unit_bounds(text, starts, start)
    text = text[:unit_end]
    end = min(end, unit_end)
    context_start = max(unit_start, start - CONTEXT_CHARS)
    if context_start > unit_start:
        newline = text.find("\n", context_start, start)
        context_start = newline + 1 if newline >= 0 else context_start
    context_end = min(len(text), end + CONTEXT_CHARS)
    newline = text.rfind("\n", end, context_end)
    context_end = newline if newline > end and context_end < len(text) else context_end
    query_obj = parse(query)
    pieces = []
    # Flat spans only (the passage is a span style like the terms): Qt drops the style of a span
    # around a nested one.
    parts = ((context_start, start, None), (start, context_end, (0, end - start)))
    for part_start, part_end, passage in parts:
        part = text[part_start:part_end]
        terms = highlight_spans(part, query_obj)
        pieces.append(marked_html(part, terms, passage, TERM_STYLE, PASSAGE_STYLE))
    pieces.insert(1, '<a name="passage"></a>')
    more_before = "…\n" if context_start > unit_start else ""
    more_after = "\n…" if context_end < len(text) else ""
    font = "font-family:monospace;" if kind in MONOSPACE_KINDS else ""
    body = f"{more_before}{''.join(pieces)}{more_after}"
    return TextPreview(f'<div style="white-space:pre-wrap;{font}">{body}</div>', note)


def _normalised_with_map(raw: str) -> tuple[str, list[int]]:
    """`raw` with CRLF/CR turned into LF, and for each char of the result its index in `raw`."""
    out, index = [], []
    i = 0
    while i < len(raw):
        if raw[i] == "\r":
            out.append("\n")
            index.append(i)
            i += 2 if raw[i + 1:i + 2] == "\n" else 1
            continue
        out.append(raw[i])
        index.append(i)
        i += 1
    return "".join(out), index


def pdf_preview(path: Path, page: int, char_start: int, char_end: int, snippet: str, query: str,
                width_px: int = PAGE_WIDTH_PX) -> PdfPreview:
    """Page `page` (1-based) rendered, with the passage's text and the query terms on it marked."""
    import pypdfium2 as pdfium

    from indexer.search.highlight import highlight_spans
    from indexer.search.query import parse

    text, units, _ = document_text(path)
    start, end, note = locate_passage(text, char_start, char_end, snippet)
    unit_start = next((s for s, p in units if p == page), None)
    with pdfium_lock(), path.open("rb") as fh:  # a file object: any name, undecodable bytes included
        pdf = pdfium.PdfDocument(fh)
        try:
            pages = len(pdf)
            pdf_page = pdf[max(0, min(pages - 1, page - 1))]
            width, height = pdf_page.get_size()
            scale = width_px / max(width, 1.0)
            bitmap = pdf_page.render(scale=scale, rev_byteorder=True)
            array = bitmap.to_numpy()
            channels = array.shape[2] if array.ndim == 3 else 1
            fmt = {3: QImage.Format.Format_RGB888, 4: QImage.Format.Format_RGBX8888}.get(channels)
            rows, columns = array.shape[0], array.shape[1]
            image = QImage(array.tobytes(), columns, rows, columns * channels, fmt).copy()
            textpage = pdf_page.get_textpage()
            normalised, index = _normalised_with_map(textpage.get_text_range())
            passage = text[start:end]
            # where the passage sits on this page: its recorded offset, else a text search
            local = start - unit_start if unit_start is not None else -1
            if normalised[local:local + len(passage)] != passage:
                local = normalised.find(passage) if passage else -1
            passage_rects: list[QRectF] = []
            term_rects: list[QRectF] = []

            def rects(first: int, last: int) -> list[QRectF]:
                raw_first, raw_last = index[first], index[last - 1] + 1
                found = []
                for i in range(textpage.count_rects(raw_first, raw_last - raw_first)):
                    left, bottom, right, top = textpage.get_rect(i)
                    found.append(QRectF(left * scale, (height - top) * scale, (right - left) * scale,
                                        (top - bottom) * scale))
                return found

            if local >= 0 and passage:
                passage_rects = rects(local, local + len(passage))
                for s, e in highlight_spans(passage, parse(query)):
                    term_rects += rects(local + s, local + e)
            elif not note:
                note = "The passage could not be located on the page."
            textpage.close()
            pdf_page.close()
        finally:
            pdf.close()
    return PdfPreview(image, page, pages, passage_rects, term_rects, note)


def load_preview(result: FileResult, query: str, data_dir: Path | None = None
                 ) -> TextPreview | PdfPreview | PreviewError:
    """The preview of `result` (runs in a worker thread); never raises. A passage read by OCR
    shows its page or image with the recognised lines marked (`desktop.ocr_preview`)."""
    path = Path(os_path(result.container or result.path))
    attachment = result.path[len(result.container) + 1:] if result.container else None
    try:
        if not path.exists():
            return PreviewError(f"{result.container or result.path} no longer exists.", missing=True)
        if getattr(result, "source", "text") == "ocr" and data_dir is not None and not attachment:
            from desktop.ocr_preview import ocr_preview

            shown = ocr_preview(result, query, data_dir, PAGE_WIDTH_PX)
            if shown is not None:
                return PdfPreview(shown.image, shown.page, shown.pages, shown.passage_rects,
                                  shown.term_rects, shown.note)
        if path.suffix.lower() == ".pdf" and result.page and not attachment:
            return pdf_preview(path, result.page, result.char_start, result.char_end, result.snippet, query)
        return text_preview(path, result.char_start, result.char_end, result.snippet, query, attachment)
    except Exception as exc:  # noqa: BLE001 - any reading problem is shown in the pane
        return PreviewError(f"No preview: {type(exc).__name__}: {exc}")


class _Delivery(QObject):
    ready = Signal(int, object)


class _PreviewJob(QRunnable):
    def __init__(self, generation: int, result: FileResult, query: str, delivery: _Delivery,
                 data_dir: Path | None) -> None:
        super().__init__()
        self.generation, self.result, self.query, self.delivery = generation, result, query, delivery
        self.data_dir = data_dir

    def run(self) -> None:
        self.delivery.ready.emit(self.generation, load_preview(self.result, self.query, self.data_dir))


class PdfPageView(QWidget):
    """A rendered PDF page scaled to the widget's width, with the passage and terms painted over it."""

    def __init__(self) -> None:
        super().__init__()
        self.preview: PdfPreview | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def set_preview(self, preview: PdfPreview) -> None:
        self.preview = preview
        self.updateGeometry()
        self.update()

    def _scale(self) -> float:
        if not self.preview or self.preview.image.width() == 0:
            return 1.0
        return max(0.1, self.width() / self.preview.image.width())

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        if not self.preview or self.preview.image.width() == 0:
            return 0
        return round(self.preview.image.height() * width / self.preview.image.width())

    def sizeHint(self) -> QSize:
        return QSize(400, self.heightForWidth(400) or 300)

    def passage_top(self) -> int:
        """Where the passage starts, in widget pixels (to scroll it into view)."""
        if not self.preview or not self.preview.passage_rects:
            return 0
        return round(min(r.top() for r in self.preview.passage_rects) * self._scale())

    def paintEvent(self, event: object) -> None:
        if not self.preview:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        scale = self._scale()
        target = QRectF(0, 0, self.preview.image.width() * scale, self.preview.image.height() * scale)
        painter.drawImage(target, self.preview.image)
        painter.scale(scale, scale)
        painter.setPen(Qt.PenStyle.NoPen)
        marks = ((self.preview.passage_rects, PASSAGE_FILL), (self.preview.term_rects, TERM_FILL))
        for rects, colour in marks:
            painter.setBrush(colour)
            for rect in rects:
                painter.drawRect(rect.adjusted(-1, -1, 1, 1))
        if self.preview.passage_rects:  # a bar in the margin, visible at a glance
            top = min(r.top() for r in self.preview.passage_rects)
            bottom = max(r.bottom() for r in self.preview.passage_rects)
            painter.setPen(QPen(QColor("#e0a800"), 6 / scale))
            painter.drawLine(int(12 / scale), int(top), int(12 / scale), int(bottom))
        painter.end()


class PreviewPane(QWidget):
    """A header (file, folder, page) over the passage in context or the PDF page."""

    loaded = Signal(object)  # the preview shown (TextPreview | PdfPreview | PreviewError)

    def __init__(self, parent: QWidget | None = None, data_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir  # the index, for passages read by OCR (their boxes are stored there)
        self.missing_hint = ""  # said after "no longer exists" (a shared index: where the share is mounted)
        self._generation = 0
        self._delivery = _Delivery()
        self._delivery.ready.connect(self._show)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color:#8a5300")
        self.note.hide()
        self.message = QLabel("Select a result to preview it.")
        self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color:palette(mid); font-size:14px")
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.page_view = PdfPageView()
        self.page_scroll = QScrollArea()
        self.page_scroll.setWidgetResizable(True)
        self.page_scroll.setWidget(self.page_view)
        self.page_scroll.setStyleSheet("QScrollArea { background:#7a7a7a; }")
        self.stack = QStackedWidget()
        for widget in (self.message, self.text, self.page_scroll):
            self.stack.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.note)
        layout.addWidget(self.stack, 1)
        self.current: TextPreview | PdfPreview | PreviewError | None = None
        self.show_message("Select a result to preview it.")

    def show_message(self, text: str) -> None:
        self._generation += 1
        self.title.clear()
        self.note.hide()
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    def show_result(self, result: FileResult, query: str) -> None:
        self._generation += 1
        name = html.escape(Path(result.path).name)
        place = page_text(result.path, result.page, result.page_label)
        page = f" · {html.escape(place)}" if place else ""
        self.title.setText(f"<b style='font-size:15px'>{name}</b>{page}<br>"
                           f"<span style='color:gray'>{html.escape(folder_label(result.path))}</span>")
        self.note.hide()
        self.message.setText("Loading the preview…")
        self.stack.setCurrentWidget(self.message)
        QThreadPool.globalInstance().start(_PreviewJob(self._generation, result, query, self._delivery,
                                                       self.data_dir))

    def _show(self, generation: int, preview: TextPreview | PdfPreview | PreviewError) -> None:
        if generation != self._generation:
            return
        self.current = preview
        if isinstance(preview, PreviewError):
            hint = f" {self.missing_hint}" if preview.missing and self.missing_hint else ""
            self.message.setText(preview.message + hint)
            self.stack.setCurrentWidget(self.message)
        elif isinstance(preview, TextPreview):
            self.text.setHtml(preview.html)
            self.stack.setCurrentWidget(self.text)
            self.text.scrollToAnchor("passage")
        else:
            self.page_view.set_preview(preview)
            self.stack.setCurrentWidget(self.page_scroll)
            self.page_view.resize(self.page_scroll.viewport().width(),
                                  self.page_view.heightForWidth(self.page_scroll.viewport().width()))
            self.page_scroll.verticalScrollBar().setValue(max(0, self.page_view.passage_top() - 40))
        note = getattr(preview, "note", "")
        self.note.setText(note)
        self.note.setVisible(bool(note))
        self.loaded.emit(preview)
