"""The similarity view: a heatmap of cosine similarities between the query and the top results.

Row and column 0 are the query. Results can be shown in rank order or grouped, so that
results similar to each other sit side by side. Hovering a cell shows both passages and
the score; clicking it opens them side by side.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QLinearGradient, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTextBrowser,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.results import snippet_html
from indexer.search.pages import page_text

if TYPE_CHECKING:
    import numpy as np

    from indexer.search.searcher import FileResult, Passage, Similarity

# viridis, sampled: perceptually even, readable in grey, colour-blind safe
PALETTE = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
           "#b5de2b", "#fde725"]
LABEL_MAX_PX = 190
SHOWN_BY_DEFAULT = 10  # results in the matrix until "all results" is asked for
LEGEND_PX = 70
MIN_CELL, MAX_CELL = 12, 56


def colour_at(t: float) -> QColor:
    """The palette colour at t in [0, 1], linearly interpolated."""
    t = max(0.0, min(1.0, t)) * (len(PALETTE) - 1)
    i = min(int(t), len(PALETTE) - 2)
    a, b, f = QColor(PALETTE[i]), QColor(PALETTE[i + 1]), t - i
    return QColor(round(a.red() + (b.red() - a.red()) * f), round(a.green() + (b.green() - a.green()) * f),
                  round(a.blue() + (b.blue() - a.blue()) * f))


def grouped_order(matrix: np.ndarray) -> list[int]:
    """The query (0) first, then the results ordered so that similar ones are neighbours.

    Average-linkage clustering with optimal leaf ordering when SciPy is there; otherwise a
    greedy nearest-neighbour chain from the result closest to the query.
    """
    import numpy as np

    n = len(matrix) - 1
    if n <= 2:
        return list(range(n + 1))
    sims = np.asarray(matrix, dtype=np.float64)[1:, 1:]
    try:
        from scipy.cluster.hierarchy import leaves_list, linkage, optimal_leaf_ordering
        from scipy.spatial.distance import squareform

        distances = np.clip(1.0 - (sims + sims.T) / 2, 0.0, None)
        np.fill_diagonal(distances, 0.0)
        condensed = squareform(distances, checks=False)
        tree = optimal_leaf_ordering(linkage(condensed, method="average"), condensed)
        leaves = [int(i) + 1 for i in leaves_list(tree)]
        # read the chain from the end nearer to the query
        return [0] + (leaves if matrix[0][leaves[0]] >= matrix[0][leaves[-1]] else leaves[::-1])
    except ImportError:
        return [0] + greedy_chain(matrix)


def greedy_chain(matrix: np.ndarray) -> list[int]:
    """Results (1..n) as a chain: start at the one closest to the query, then always the nearest unvisited."""
    n = len(matrix) - 1
    current = max(range(1, n + 1), key=lambda j: matrix[0][j])
    chain, left = [current], set(range(1, n + 1)) - {current}
    while left:
        current = max(sorted(left), key=lambda j, c=current: matrix[c][j])
        chain.append(current)
        left.remove(current)
    return chain


class HeatmapWidget(QWidget):
    """Painted cell by cell: labels on the left and on top, a colour legend on the right."""

    cellClicked = Signal(int, int)  # indices into the similarity's labels (0 = query)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.labels: list[str] = []
        self.passages: list[str] = []
        self.matrix: np.ndarray | None = None
        self.order: list[int] = []
        self.low, self.high = 0.0, 1.0
        self.setMouseTracking(True)
        self.setMinimumSize(320, 240)

    # -- data ----------------------------------------------------------------------------------------
    def set_data(self, labels: list[str], matrix: np.ndarray, passages: list[str], grouped: bool) -> None:
        self.labels, self.matrix, self.passages = list(labels), matrix, list(passages)
        n = len(labels)
        off = [float(matrix[i][j]) for i in range(n) for j in range(n) if i != j]
        self.low, self.high = (min(off), max(off)) if off else (0.0, 1.0)
        if self.high - self.low < 1e-6:
            self.low -= 0.5
        self.set_grouped(grouped)

    def set_grouped(self, grouped: bool) -> None:
        if self.matrix is None:
            return
        self.order = grouped_order(self.matrix) if grouped else list(range(len(self.labels)))
        self.update()

    def clear(self) -> None:
        self.labels, self.passages, self.matrix, self.order = [], [], None, []
        self.update()

    def value(self, row: int, column: int) -> float:
        """The cosine shown at a displayed (row, column)."""
        return float(self.matrix[self.order[row]][self.order[column]])

    # -- geometry ------------------------------------------------------------------------------------
    def _label_font(self) -> QFont:
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, self.font().pointSizeF() * (0.9 if len(self.labels) <= 15 else 0.8)))
        return font

    def _label_width(self) -> int:
        metrics = QFontMetrics(self._label_font())
        return min(LABEL_MAX_PX, max((metrics.horizontalAdvance(t) for t in self.labels), default=40) + 10)

    def _layout(self) -> tuple[int, int, int]:
        """(left, top, cell) of the grid."""
        n = max(1, len(self.labels))
        label = self._label_width()
        cell = min((self.width() - label - LEGEND_PX - 16) // n, (self.height() - label - 16) // n)
        cell = max(MIN_CELL, min(MAX_CELL, cell))
        grid = cell * n
        left = label + 8 + max(0, (self.width() - label - LEGEND_PX - 16 - grid) // 2)
        top = label + 8
        return left, top, cell

    def cell_rect(self, row: int, column: int) -> QRect:
        left, top, cell = self._layout()
        return QRect(left + column * cell, top + row * cell, cell, cell)

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        """The displayed (row, column) under `pos`, if any."""
        if self.matrix is None:
            return None
        left, top, cell = self._layout()
        n = len(self.labels)
        column, row = (pos.x() - left) // cell, (pos.y() - top) // cell
        if pos.x() < left or pos.y() < top or not (0 <= row < n and 0 <= column < n):
            return None
        return int(row), int(column)

    def sizeHint(self) -> QSize:
        n = max(1, len(self.labels))
        side = self._label_width() + 24 + n * 30
        return QSize(side + LEGEND_PX, side)

    # -- painting ------------------------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.fillRect(self.rect(), self.palette().base())
        if self.matrix is None:
            painter.setPen(self.palette().placeholderText().color())
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter,
                             "Search for something to compare the query and its results.")
            return
        n = len(self.labels)
        left, top, cell = self._layout()
        font = self._label_font()
        metrics = QFontMetrics(font)
        label_w = self._label_width()
        painter.setFont(font)
        for row in range(n):
            i = self.order[row]
            text = metrics.elidedText(self.labels[i], Qt.TextElideMode.ElideMiddle, label_w - 10)
            rect = QRect(left - label_w - 6, top + row * cell, label_w, cell)
            bold = QFont(font)
            bold.setBold(i == 0)
            painter.setFont(bold)
            painter.setPen(self.palette().text().color())
            painter.drawText(rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, text)
            painter.save()  # the same label, turned, above the column
            painter.translate(left + row * cell + cell / 2 + metrics.ascent() / 2 - 2, top - 6)
            painter.rotate(-90)
            painter.drawText(QRect(0, -metrics.ascent(), label_w, metrics.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            painter.restore()
        painter.setFont(font)
        show_values = cell >= 30
        value_font = QFont(font)
        value_font.setPointSizeF(max(6.5, min(font.pointSizeF(), cell / 4.2)))
        for row in range(n):
            for column in range(n):
                rect = self.cell_rect(row, column)
                i, j = self.order[row], self.order[column]
                if i == j:
                    painter.fillRect(rect, QColor("#d9d9d9"))
                    continue
                value = float(self.matrix[i][j])
                colour = colour_at((value - self.low) / (self.high - self.low))
                painter.fillRect(rect, colour)
                if show_values:
                    painter.setFont(value_font)
                    painter.setPen(QColor("#111111") if colour.lightnessF() > 0.55 else QColor("#ffffff"))
                    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, f"{value:.2f}")
        grid = QRect(left, top, cell * n, cell * n)
        painter.setPen(QColor("#ffffff"))
        for k in range(1, n):  # thin gaps make rows easy to follow
            painter.drawLine(left + k * cell, top, left + k * cell, top + n * cell)
            painter.drawLine(left, top + k * cell, left + n * cell, top + k * cell)
        painter.setPen(QColor("#444444"))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(grid.adjusted(0, 0, -1, -1))
        painter.drawRect(QRect(left, top, cell * n, cell).adjusted(0, 0, -1, -1))  # the query row
        self._paint_legend(painter, grid)
        painter.end()

    def _paint_legend(self, painter: QPainter, grid: QRect) -> None:
        bar = QRectF(grid.right() + 18, grid.top(), 14, max(60, min(grid.height(), 260)))
        gradient = QLinearGradient(bar.bottomLeft(), bar.topLeft())
        for k, colour in enumerate(PALETTE):
            gradient.setColorAt(k / (len(PALETTE) - 1), QColor(colour))
        painter.fillRect(bar, gradient)
        painter.setPen(QColor("#444444"))
        painter.drawRect(bar)
        small = QFont(self.font())
        small.setPointSizeF(self.font().pointSizeF() * 0.85)
        painter.setFont(small)
        painter.setPen(self.palette().text().color())
        metrics = QFontMetrics(small)
        for fraction in (0.0, 0.5, 1.0):
            y = bar.bottom() - fraction * bar.height()
            value = self.low + fraction * (self.high - self.low)
            painter.drawText(QRectF(bar.right() + 5, y - metrics.height() / 2, 50, metrics.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, f"{value:.2f}")
        painter.drawText(QRectF(bar.left() - 4, bar.bottom() + 4, 70, metrics.height() * 2),
                         Qt.AlignmentFlag.AlignLeft, "cosine")

    # -- interaction ---------------------------------------------------------------------------------
    def tooltip_html(self, row: int, column: int) -> str:
        i, j = self.order[row], self.order[column]

        def part(k: int) -> str:
            text = html.escape(self.passages[k][:300]) if k < len(self.passages) else ""
            return f"<b>{html.escape(self.labels[k])}</b><br><i>{text}</i>"

        return (f"<div style='max-width:420px'>cosine similarity <b>{self.matrix[i][j]:.3f}</b>"
                f"<hr>{part(i)}<hr>{part(j)}</div>")

    def event(self, event: object) -> bool:
        from PySide6.QtCore import QEvent

        if event.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(event.pos())
            if cell is None:
                QToolTip.hideText()
            else:
                QToolTip.showText(event.globalPos(), self.tooltip_html(*cell), self, self.cell_rect(*cell))
            return True
        return super().event(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        cell = self.cell_at(event.position().toPoint())
        if cell is not None and event.button() == Qt.MouseButton.LeftButton:
            self.cellClicked.emit(self.order[cell[0]], self.order[cell[1]])
        super().mouseReleaseEvent(event)


class ComparisonDialog(QDialog):
    """Two passages side by side with their cosine similarity."""

    def __init__(self, title_a: str, html_a: str, title_b: str, html_b: str, score: float,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare passages")
        self.resize(900, 460)
        header = QLabel(f"Cosine similarity: <b>{score:.3f}</b>")
        splitter = QSplitter()
        self.browsers = []
        for title, body in ((title_a, html_a), (title_b, html_b)):
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            label = QLabel(f"<b>{html.escape(title)}</b>")
            label.setWordWrap(True)
            browser = QTextBrowser()
            browser.setHtml(body)
            self.browsers.append(browser)
            column.addWidget(label)
            column.addWidget(browser)
            splitter.addWidget(box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(header)
        layout.addWidget(splitter, 1)
        layout.addWidget(buttons)


QUERY_CAPTION = ("Cosine similarity (−1 to 1) of the query and the top results: how close their "
                 "embeddings are, not the list's relevance. Row and column 0: the query. Click a cell "
                 "to compare.")
FILE_CAPTION = ("Cosine similarity of the files' mean passage embeddings, what the whole collection shares "
                "(mostly language) taken out (row and column 0: {}, the file "
                "they are like). Click a cell to compare.")


class SimilarityView(QWidget):
    """The heatmap with its caption, a "group similar results" switch, and the comparison on click."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.query = ""
        self.results: list[FileResult] = []
        self.caption = QLabel(QUERY_CAPTION)
        self.caption.setWordWrap(True)
        self.grouped = QCheckBox("Group similar results")
        self.grouped.setChecked(True)
        self.grouped.setToolTip("Order the results so that similar ones sit together "
                                "(average-linkage clustering)")
        self.heatmap = HeatmapWidget()
        self.heatmap.cellClicked.connect(self.compare)
        self.grouped.toggled.connect(self.heatmap.set_grouped)
        self.show_all = QCheckBox("All results")
        self.show_all.setToolTip(f"Show every result, not only the top {SHOWN_BY_DEFAULT} (smaller labels)")
        self.show_all.toggled.connect(lambda _checked: self._show())
        self.show_all.hide()
        top = QHBoxLayout()
        top.addWidget(self.caption, 1)
        top.addWidget(self.show_all)
        top.addWidget(self.grouped)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(top)
        layout.addWidget(self.heatmap, 1)
        self.dialog: ComparisonDialog | None = None
        self.similarity: Similarity | None = None

    def set_similarity(self, query: str, results: list[FileResult], similarity: Similarity) -> None:
        """Show row 0 (the query, or the file whose similar files these are) and the top
        `SHOWN_BY_DEFAULT` results (all of them once asked)."""
        self.query, self.results, self.similarity = query, list(results), similarity
        self.caption.setText(QUERY_CAPTION if similarity.labels[:1] == ["query"] else FILE_CAPTION.format(
            html.escape(similarity.labels[0])))
        total = len(similarity.labels) - 1
        self.show_all.setText(f"All {total} results")
        self.show_all.setVisible(total > SHOWN_BY_DEFAULT)
        self._show()

    def _show(self) -> None:
        if self.similarity is None:
            return
        labels_all = self.similarity.labels
        n = len(labels_all) - 1 if self.show_all.isChecked() else min(SHOWN_BY_DEFAULT, len(labels_all) - 1)
        labels = labels_all[:1] + [f"{rank}. {name}" for rank, name in enumerate(labels_all[1:n + 1], 1)]
        passages = [self.query] + [r.snippet for r in self.results[:n]]
        matrix = self.similarity.matrix[:n + 1, :n + 1]
        self.heatmap.set_data(labels, matrix, passages, self.grouped.isChecked())

    def clear(self) -> None:
        self.query, self.results, self.similarity = "", [], None
        self.caption.setText(QUERY_CAPTION)
        self.show_all.hide()
        self.heatmap.clear()

    def _passage_html(self, index: int) -> str:
        if index == 0:
            return f"<p style='font-size:15px'>{html.escape(self.query)}</p>"
        result = self.results[index - 1]
        place = html.escape(page_text(result.path, result.page, result.page_label))
        page = f"<p style='color:gray'>{place}</p>" if place else ""
        body = snippet_html(result, self.query)
        more = "".join(f"<p><span style='color:gray'>{_place(result.path, p)}</span>"
                       f"{snippet_html(p, self.query)}</p>" for p in result.passages[:2])
        if more:
            more = f"<hr><p style='color:gray'>Other passages of this file (not in the matrix):</p>{more}"
        return f"{page}<p>{body}</p>{more}<p style='color:gray'>{html.escape(result.path)}</p>"

    def compare(self, i: int, j: int) -> None:
        """Show the passages of cell (i, j) side by side."""
        labels = self.heatmap.labels
        self.dialog = ComparisonDialog(labels[i], self._passage_html(i), labels[j], self._passage_html(j),
                                       float(self.heatmap.matrix[i][j]), self)
        self.dialog.show()


def _place(path: str, passage: Passage) -> str:
    """'page 3: ', 'sheet 2 “Budget”: ' before a passage's snippet; '' without a page."""
    place = page_text(path, passage.page, passage.page_label)
    return f"{html.escape(place)}: " if place else ""
