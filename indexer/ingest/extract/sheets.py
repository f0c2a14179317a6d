"""Spreadsheets: XLSX (openpyxl, read-only), ODS (stdlib, streamed) and legacy XLS (xlrd).

One unit per sheet with text, its page the sheet's number (1-based, in workbook order) and its
label the sheet's name; a row is a line, its non-empty cells joined by tabs; a formula gives its
cached value (what the sheet shows). A sheet is read row by row and cut at `MAX_SHEET_ROWS` rows,
a workbook at `MAX_CELLS` cells, with a note saying what was left out, so a million-row sheet costs
the budget, not the sheet.

Why openpyxl's read-only mode for XLSX and not python-calamine, though calamine reads a 10k-cell
workbook 10-20x faster (41 against 2.2 files/s, `benchmarks/bench_formats.py` on a loaded 2-core
machine): calamine loads a whole sheet before its first row, so its memory follows the sheet (a
1,048,576-row column: 89 MB peak against 65 MB, +72 MB for 1 M cells, so ten such columns would
pass the 512 MB extraction budget) and no budget can cut it; openpyxl streams, and stops at the
budget. Extraction is not what a workbook's indexing waits for: its ~300k characters take tens of
seconds to embed. calamine also needs Python 3.11 (the project supports 3.10). xlrd (pure Python,
maintained for .xls only) reads legacy workbooks; ODS is streamed with the stdlib parser and the
archive guards.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from indexer.ingest.extract.office import (
    ODF_PARAGRAPHS,
    check_parts,
    odf_spans,
    reading,
    stream_part,
)
from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.text import Extraction, ExtractionError, TextUnit

MAX_SHEET_ROWS = 50_000  # rows with text read per sheet
MAX_CELLS = 200_000  # cells with text read per workbook
MAX_REPEAT = 1_000  # an ODS row or cell "repeated N times" is written out at most this often
_NO_TEXT = "no text in any sheet"


@dataclass
class SheetText:
    """Rows of a workbook's sheets as units, within the row and cell budget."""

    units: list[TextUnit] = field(default_factory=list)
    cells: int = 0
    cuts: list[str] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.cells >= MAX_CELLS

    def add_sheet(self, number: int, name: str, rows: Iterable[list[str]]) -> None:
        """Read `rows` (each a list of cell texts) until a budget is spent."""
        lines: list[str] = []
        for row in rows:
            cells = [cell for cell in row if cell]
            if not cells:
                continue
            if len(lines) >= MAX_SHEET_ROWS:
                self.cuts.append(f"sheet {name!r} after {MAX_SHEET_ROWS:,} rows")
                break
            room = MAX_CELLS - self.cells
            if room < len(cells):
                self.cuts.append(f"sheet {name!r} at row {len(lines) + 1:,} (the {MAX_CELLS:,}-cell budget)")
                if room:
                    lines.append("\t".join(cells[:room]))
                    self.cells += room
                break
            lines.append("\t".join(cells))
            self.cells += len(cells)
        if lines:
            self.units.append(TextUnit("\n".join(lines), number, name))

    def extraction(self, kind: str, skipped: list[str]) -> Extraction:
        if self.full and skipped:
            self.cuts.append(f"{len(skipped)} more sheet(s) not read ({', '.join(map(repr, skipped[:5]))})")
        note = f"cut at the spreadsheet budget: {'; '.join(self.cuts)}" if self.cuts else None
        return Extraction(kind, self.units, None if self.units else _NO_TEXT, note)


def cell_text(value: object) -> str:
    """What a cell shows, as text: numbers without a needless ".0", dates as ISO dates."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.15g}"
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


# -- XLSX ---------------------------------------------------------------------------------------
def _xlsx_streamed(name: str) -> bool:
    """Worksheets are streamed by openpyxl's read-only mode; everything else it reads whole."""
    return name.startswith("xl/worksheets/") and name.endswith(".xml")


def extract_xlsx(path: Path) -> Extraction:
    """Extract an Excel workbook (.xlsx, .xlsm), one unit per sheet."""
    import openpyxl  # only the workers that meet a workbook pay for it
    from openpyxl.utils.exceptions import InvalidFileException

    # openpyxl warns about parts it does not read (data validation, conditional formats): not ours to say
    with reading("XLSX"), open_regular(path) as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(fh) as archive:
            check_parts(archive, "XLSX", _xlsx_streamed)
        fh.seek(0)
        try:
            book = openpyxl.load_workbook(fh, read_only=True, data_only=True, keep_links=False)
        except KeyError as exc:  # a part the manifest names is missing
            raise ExtractionError(f"corrupt XLSX: missing {exc}") from exc
        except (TypeError, InvalidFileException) as exc:
            raise ExtractionError(f"corrupt XLSX: {exc}") from exc
        try:
            text = SheetText()
            sheets = [sheet for sheet in book.worksheets if hasattr(sheet, "iter_rows")]
            for number, sheet in enumerate(sheets, 1):
                if text.full:
                    return text.extraction("xlsx", [s.title for s in sheets[number - 1:]])
                rows = ([cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True))
                text.add_sheet(number, sheet.title, rows)
        finally:
            book.close()
    return text.extraction("xlsx", [])


# -- ODS ----------------------------------------------------------------------------------------
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_TABLE, _ODS_ROW, _ODS_CELL = f"{_TABLE}table", f"{_TABLE}table-row", f"{_TABLE}table-cell"
_ODS_COVERED = f"{_TABLE}covered-table-cell"
_ODS_NAME = f"{_TABLE}name"
_ROWS_REPEATED, _COLUMNS_REPEATED = f"{_TABLE}number-rows-repeated", f"{_TABLE}number-columns-repeated"


def _repeat(element: ElementTree.Element, attribute: str) -> int:
    try:
        return max(1, min(int(element.get(attribute, "1")), MAX_REPEAT))
    except ValueError:
        return 1


def _ods_cell(cell: ElementTree.Element) -> str:
    return " ".join("".join(odf_spans(p)).strip() for p in cell if p.tag in ODF_PARAGRAPHS).strip()


def _ods_rows(events: Iterator[tuple[str, ElementTree.Element]]) -> Iterator[list[str]]:
    """The rows of the table being parsed, up to its end; each element is cleared once read."""
    for event, element in events:
        if event == "end" and element.tag == _ODS_ROW:
            row: list[str] = []
            for cell in element:
                if cell.tag in (_ODS_CELL, _ODS_COVERED):
                    text = _ods_cell(cell)
                    row += [text] * (_repeat(cell, _COLUMNS_REPEATED) if text else 1)
            element.clear()
            for _ in range(_repeat(element, _ROWS_REPEATED) if any(row) else 1):
                yield row
        elif event == "end" and element.tag == _ODS_TABLE:
            element.clear()
            return


def extract_ods(path: Path) -> Extraction:
    """Extract an OpenDocument spreadsheet, one unit per sheet, streaming its content.xml."""
    with reading("ODS"), open_regular(path) as fh, zipfile.ZipFile(fh) as archive:
        text = SheetText()
        names: list[str] = []
        with stream_part(archive, "content.xml", "ODS") as part:
            events = ElementTree.iterparse(part, events=("start", "end"))
            for event, element in events:
                if event != "start" or element.tag != _ODS_TABLE:
                    continue
                names.append(element.get(_ODS_NAME) or f"Sheet{len(names) + 1}")
                if text.full:
                    for _ in _ods_rows(events):  # only its name is wanted now
                        pass
                    continue
                text.add_sheet(len(names), names[-1], _ods_rows(events))
    read = {unit.label for unit in text.units}
    return text.extraction("ods", [n for n in names if n not in read] if text.full else [])


# -- XLS ----------------------------------------------------------------------------------------
def _xls_rows(sheet: object, datemode: int) -> Iterator[list[str]]:
    import xlrd

    for index in range(sheet.nrows):
        row = []
        for cell in sheet.row(index):
            value = cell.value
            if cell.ctype == xlrd.XL_CELL_DATE:
                with contextlib.suppress(ValueError, OverflowError, xlrd.xldate.XLDateError):
                    value = xlrd.xldate_as_datetime(value, datemode)
            elif cell.ctype == xlrd.XL_CELL_BOOLEAN:
                value = bool(value)
            elif cell.ctype == xlrd.XL_CELL_ERROR:
                value = None
            row.append(cell_text(value))
        yield row


def extract_xls(path: Path) -> Extraction:
    """Extract a legacy Excel workbook (.xls, BIFF) with xlrd, one unit per sheet, a sheet at a time."""
    import xlrd

    with open_regular(path) as fh:
        data = fh.read()
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=_Quiet())
    except (xlrd.XLRDError, xlrd.compdoc.CompDocError, ValueError, IndexError, KeyError,
            AssertionError, EOFError) as exc:
        raise ExtractionError(f"corrupt XLS: {exc}") from exc
    try:
        text = SheetText()
        names = book.sheet_names()
        for number, name in enumerate(names, 1):
            if text.full:
                return text.extraction("xls", names[number - 1:])
            try:
                sheet = book.sheet_by_index(number - 1)
            except (xlrd.XLRDError, ValueError, IndexError, KeyError, AssertionError) as exc:
                raise ExtractionError(f"corrupt XLS: sheet {name!r}: {exc}") from exc
            text.add_sheet(number, name, _xls_rows(sheet, book.datemode))
            book.unload_sheet(number - 1)
    finally:
        book.release_resources()
    return text.extraction("xls", [])


class _Quiet:
    """xlrd's log: its warnings about odd but readable files are not ours to print."""

    def write(self, _text: str) -> None:
        pass
