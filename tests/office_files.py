"""Office files made on the fly, for the tests and `benchmarks/bench_formats.py`: workbooks
(XlsxWriter, xlwt, ODS by hand), decks (python-pptx, ODP by hand), RTF, mail and mailboxes
(stdlib `email`, `mailbox`), each of a chosen size, and a corrupt one of each."""

from __future__ import annotations

import mailbox
import zipfile
from email.message import EmailMessage
from pathlib import Path
from xml.sax.saxutils import escape

WORDS = ["harbour", "invoice", "budget", "lighthouse", "quarterly", "forecast", "garden", "plumber",
         "travel", "conference", "meeting", "report", "contract", "deadline", "summary", "revenue",
         "estimate", "schedule"]


def sentence(i: int, words: int = 8) -> str:
    return " ".join(WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(words))


def make_xlsx(path: Path, rows: int = 3, sheets: tuple[str, ...] = ("Budget", "Travel")) -> Path:
    """Sheets of `rows` rows; the first sheet ends with a SUM formula whose cached value is 4242."""
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    for number, name in enumerate(sheets):
        sheet = book.add_worksheet(name)
        sheet.write_row(0, 0, ["Item", "Amount", "Note"])
        for r in range(1, rows + 1):
            sheet.write_row(r, 0, [f"{name} item {r}", r * 1.5, sentence(r + number)])
        if number == 0:
            sheet.write_formula(rows + 1, 1, f"=SUM(B2:B{rows + 1})", None, 4242)
            sheet.write(rows + 1, 2, "plumber total")
    book.close()
    return path


def make_xls(path: Path, rows: int = 3) -> Path:
    import xlwt

    book = xlwt.Workbook()
    for name in ("Budget", "Travel"):
        sheet = book.add_sheet(name)
        for r in range(rows):
            sheet.write(r, 0, f"{name} legacy row {r}")
            sheet.write(r, 1, r * 2.5)
    book.save(str(path))
    return path


def _odf(path: Path, mimetype: str, body: str) -> Path:
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
        'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
        'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
        f'office:version="1.3"><office:body>{body}</office:body></office:document-content>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype)
        archive.writestr("content.xml", content)
        archive.writestr("META-INF/manifest.xml", (
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
            'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
            f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>'
            '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
            '</manifest:manifest>'))
    return path


def make_ods(path: Path, rows: int = 3) -> Path:
    """Two sheets; the first has a formula cell showing 4242, and a run of repeated empty rows."""
    def table(name: str, extra: str) -> str:
        body = "".join(
            f'<table:table-row><table:table-cell office:value-type="string"><text:p>{name} row {r}'
            f'</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="{r}">'
            f'<text:p>{r}</text:p></table:table-cell><table:table-cell><text:p>{escape(sentence(r))}'
            '</text:p></table:table-cell><table:table-cell table:number-columns-repeated="16000"/>'
            '</table:table-row>' for r in range(rows))
        return (f'<table:table table:name="{name}">{body}{extra}'
                '<table:table-row table:number-rows-repeated="1048000"><table:table-cell/></table:table-row>'
                '</table:table>')
    formula = ('<table:table-row><table:table-cell table:formula="of:=SUM([.B1:.B3])" '
               'office:value-type="float" office:value="4242"><text:p>4242</text:p></table:table-cell>'
               '<table:table-cell><text:p>lighthouse total</text:p></table:table-cell></table:table-row>')
    return _odf(path, "application/vnd.oasis.opendocument.spreadsheet",
                f"<office:spreadsheet>{table('Accounts', formula)}{table('Trips', '')}</office:spreadsheet>")


def make_pptx(path: Path, slides: int = 2) -> Path:
    """Slides titled "Slide N"; slide 2 says "harbour roadmap" and has speaker notes."""
    from pptx import Presentation

    deck = Presentation()
    for number in range(1, slides + 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = "Harbour roadmap" if number == 2 else f"Slide {number}"
        slide.placeholders[1].text = sentence(number, 12)
        if number == 2:
            slide.notes_slide.notes_text_frame.text = "Remember to thank the lighthouse keepers"
    deck.save(str(path))
    return path


def make_odp(path: Path, slides: int = 2) -> Path:
    pages = "".join(
        f'<draw:page draw:name="page{n}"><draw:frame presentation:class="title"><draw:text-box>'
        f'<text:p>{"Garden plan" if n == 2 else f"Slide {n}"}</text:p></draw:text-box></draw:frame>'
        f'<draw:frame><draw:text-box><text:p>{escape(sentence(n, 12))}</text:p></draw:text-box></draw:frame>'
        + ('<presentation:notes><draw:frame><draw:text-box><text:p>Water the tomatoes daily</text:p>'
           '</draw:text-box></draw:frame></presentation:notes>' if n == 2 else "")
        + "</draw:page>" for n in range(1, slides + 1))
    return _odf(path, "application/vnd.oasis.opendocument.presentation",
                f"<office:presentation>{pages}</office:presentation>")


def make_rtf(path: Path, paragraphs: int = 1) -> Path:
    """Accents as \\'XX escapes in cp1252 and as \\uN escapes; paragraphs of 40 words, some bold."""
    body = "".join(rf"{{\b {sentence(i, 4)}}} {sentence(i, 36)}\par " for i in range(paragraphs - 1))
    path.write_bytes(
        rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Times New Roman;}}{\info{\title Hidden}}"
        rb"\f0 " + body.encode() + rb"Cr\'e8me br\u251?l\u233?e au caf\'e9\par Na\'efve r\'e9sum\'e9\par}")
    return path


def mail(subject: str, body_html: str, attachments: dict[str, bytes] | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ana Lima <ana@example.org>"
    message["To"] = "bo@example.org"
    message["Subject"] = subject
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0000"
    message.set_content(body_html, subtype="html")
    for name, data in (attachments or {}).items():
        maintype, subtype = ("text", "plain") if name.endswith(".txt") else ("application", "octet-stream")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def make_eml(path: Path, attachments: dict[str, bytes] | None = None) -> Path:
    html = ("<html><head><title>x</title></head><body><p>The <b>harbour</b> repairs start Monday.</p>"
            "</body></html>")
    path.write_bytes(bytes(mail("Harbour works", html, attachments)))
    return path


def make_mbox(path: Path, messages: int = 3) -> Path:
    box = mailbox.mbox(str(path))
    try:
        for n in range(1, messages + 1):
            box.add(mail(f"Message {n} about the {WORDS[n % len(WORDS)]}",
                         f"<p>Body of message {n}: {sentence(n, 20)}.</p>"
                         + ("<p>From the garden we send tomatoes.</p>" if n == 2 else "")))
    finally:
        box.close()
    return path


def corrupt(path: Path) -> Path:
    """A file that is not what its extension says: a truncated zip for the zipped formats, noise else."""
    if path.suffix in (".xlsx", ".pptx", ".ods", ".odp"):
        path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    elif path.suffix == ".mbox":
        path.write_text("this is no mailbox\nFrom nobody\n")
    else:
        path.write_bytes(b"\x00\x01\x02garbage\xff\xfe" * 64)
    return path
