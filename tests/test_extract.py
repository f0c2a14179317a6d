"""Tests for indexer.ingest.extract on real files generated in tmp_path."""

from __future__ import annotations

import codecs
import os
import pickle
import zipfile
from pathlib import Path

import pytest
from fpdf import FPDF

from indexer.ingest.extract import REGISTRY, Extraction, ExtractionError, TextUnit, extract

FRENCH = "Le café est très chaud.\nÀ bientôt, garçon ! Ça coûte vingt-cinq euros, n'est-ce pas ?\n"


def write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def only_text(result: Extraction) -> str:
    assert result.skip_reason is None
    assert [unit.page for unit in result.units] == [None]
    return result.units[0].text


# --- plain text -------------------------------------------------------------------------------


def test_utf8_text_with_crlf(tmp_path: Path) -> None:
    result = extract(write(tmp_path / "notes.txt", "héllo wörld ✓\r\nsecond line\rthird\n"))
    assert result.kind == "text"
    assert only_text(result) == "héllo wörld ✓\nsecond line\nthird\n"


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
    ],
)
def test_bom_decoding(tmp_path: Path, bom: bytes, codec: str) -> None:
    text = "Grüße aus München\nΚαλημέρα κόσμε\n"
    path = write(tmp_path / "bom.txt", bom + text.encode(codec))
    assert only_text(extract(path)) == text


def test_cp1252_text(tmp_path: Path) -> None:
    path = write(tmp_path / "legacy.txt", FRENCH.encode("cp1252"))
    assert only_text(extract(path)) == FRENCH


def test_nul_bytes_mean_binary_even_for_txt(tmp_path: Path) -> None:
    result = extract(write(tmp_path / "fake.txt", b"looks like text\x00\x01\x02 but is not"))
    assert result == Extraction("binary", [], "binary file")


def test_empty_file(tmp_path: Path) -> None:
    assert extract(write(tmp_path / "empty.pdf", b"")) == Extraction("empty", [], "empty file")


def test_whitespace_only_file_has_no_units(tmp_path: Path) -> None:
    result = extract(write(tmp_path / "blank.md", "\n  \n\t\n"))
    assert result.kind == "markdown"
    assert result.units == []
    assert result.skip_reason


@pytest.mark.parametrize(
    ("name", "kind"),
    [("README.md", "markdown"), ("guide.rst", "rst"), ("main.PY", "code"), ("data.csv", "text")],
)
def test_kind_by_extension(tmp_path: Path, name: str, kind: str) -> None:
    result = extract(write(tmp_path / name, "print('hello')\n"))
    assert result.kind == kind
    assert only_text(result) == "print('hello')\n"


def test_minified_and_generated_code_is_found_by_name_only(tmp_path: Path) -> None:
    entries = ",".join(f'{{"title":"Chapter {i}","href":"ch{i:02d}.html"}}' for i in range(400))
    bundle = extract(write(tmp_path / "searchindex-6a1d.js", f"window.search = [{entries}];\n"))
    assert bundle.kind == "code" and bundle.units == []
    assert bundle.skip_reason.startswith("minified or generated code (lines average")
    handwritten = "\n".join(f"export function step{i}(x) {{ return x + {i}; }}" for i in range(400))
    assert "step399" in only_text(extract(write(tmp_path / "steps.js", handwritten)))
    prose = ("A paragraph written on one long line, as many Markdown editors do. " * 40 + "\n\n") * 5
    assert only_text(extract(write(tmp_path / "essay.md", prose)))  # prose is never judged this way


@pytest.mark.parametrize("name", ["notes.weird", "Makefile", "LICENSE"])
def test_unknown_extension_with_text_is_read(tmp_path: Path, name: str) -> None:
    result = extract(write(tmp_path / name, "all: build\n\tcc -o app main.c\n"))
    assert result.kind == "text"
    assert only_text(result) == "all: build\n\tcc -o app main.c\n"


def test_unknown_extension_with_binary_is_skipped(tmp_path: Path) -> None:
    result = extract(write(tmp_path / "blob.xyz", bytes(range(256)) * 40))
    assert result == Extraction("binary", [], "binary file")


def test_unknown_extension_with_control_bytes_is_skipped(tmp_path: Path) -> None:
    result = extract(write(tmp_path / "blob", bytes(range(1, 32)) * 100))
    assert result.kind == "binary"


@pytest.mark.parametrize(
    ("name", "kind"),
    [("photo.png", "image"), ("SCAN.JPG", "image"), ("song.mp3", "media"), ("a.tar.gz", "archive")],
)
def test_known_binary_extensions_are_skipped_without_reading(
    tmp_path: Path, name: str, kind: str
) -> None:
    # The file does not even exist: the extension alone decides.
    result = extract(tmp_path / name)
    assert result == Extraction(kind, [], f"{kind} file")


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="cannot read file: No such file"):
        extract(tmp_path / "gone.txt")


@pytest.mark.parametrize("name", ["secret.txt", "secret.pdf", "secret.docx", "secret.html"])
@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read anything")
def test_unreadable_file_is_an_error(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "some content")
    path.chmod(0)
    try:
        with pytest.raises(ExtractionError, match="cannot read file: Permission denied"):
            extract(path)
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize("name", ["secret.txt", "secret.pdf"])
def test_os_error_while_reading_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    path = write(tmp_path / name, "some content")

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ExtractionError, match="^cannot read file: Permission denied$"):
        extract(path)


def test_results_and_extractors_pickle(tmp_path: Path) -> None:
    result = extract(write(tmp_path / "a.py", "x = 1\n"))
    assert pickle.loads(pickle.dumps(result)) == result
    assert pickle.loads(pickle.dumps(REGISTRY)).keys() == REGISTRY.keys()


# --- HTML -----------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head>
  <title>My   Page</title>
  <meta charset="utf-8">
  <style>body { color: red; }</style>
  <script>var hidden = "SCRIPT TEXT";</script>
</head>
<body>
  <noscript>enable javascript</noscript>
  <h1>Fish &amp; Chips</h1>
  <p>Caf&eacute;   prices:
     &lt;cheap&gt;&nbsp;&#8364;5</p>
  <ul><li>one</li><li>two<br>three</li></ul>
  <table><tr><td>cell A</td><td>cell B</td></tr></table>
  <svg><title>svg title</title><text>drawing</text></svg>
  <template><p>template text</p></template>
  <div>last <b>bold</b> words</div>
  <pre>code line 1
  code line 2</pre>
  <script>document.write("more script")</script>
</body></html>
"""


def test_html_keeps_visible_text_only(tmp_path: Path) -> None:
    result = extract(write(tmp_path / "page.html", PAGE))
    assert result.kind == "html"
    assert only_text(result).splitlines() == [
        "My Page",
        "Fish & Chips",
        "Café prices: <cheap> €5",
        "one",
        "two",
        "three",
        "cell A cell B",
        "last bold words",
        "code line 1",
        "code line 2",
    ]


def test_html_meta_charset(tmp_path: Path) -> None:
    markup = '<html><head><meta charset="windows-1252"></head><body><p>Déjà vu – “quoted”</p>'
    path = write(tmp_path / "legacy.htm", markup.encode("cp1252"))
    assert only_text(extract(path)) == "Déjà vu – “quoted”"


def test_html_without_closing_head(tmp_path: Path) -> None:
    path = write(tmp_path / "sloppy.xhtml", "<html><head><title>T</title><body><p>body text")
    assert only_text(extract(path)) == "T\nbody text"


def test_html_malformed_markup_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="malformed HTML"):
        extract(write(tmp_path / "bad.html", "<p>text</p><![bogus section"))


# --- PDF ------------------------------------------------------------------------------------------


def make_pdf(path: Path, pages: list[str | None], user_password: str | None = None) -> Path:
    """Write a PDF with one page per entry: the text, or just a rectangle for None."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=14)
    for text in pages:
        pdf.add_page()
        if text is None:
            pdf.rect(20, 20, 80, 40, style="F")
        else:
            pdf.multi_cell(0, 10, text=text)
    if user_password:
        pdf.set_encryption(owner_password="owner-pw", user_password=user_password)
    pdf.output(str(path))
    return path


def test_pdf_pages(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "doc.pdf", ["alpha apple", "bravo banana", "charlie cherry"])
    result = extract(path)
    assert result.kind == "pdf"
    assert result.skip_reason is None
    assert result.units == [
        TextUnit("alpha apple", 1),
        TextUnit("bravo banana", 2),
        TextUnit("charlie cherry", 3),
    ]


def test_pdf_pages_are_physical_and_lines_use_lf(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "doc.PDF", [None, "first line\nsecond line", None, "delta"])
    result = extract(path)
    assert [unit.page for unit in result.units] == [2, 4]
    assert result.units[0].text == "first line\nsecond line"


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    result = extract(make_pdf(tmp_path / "scan.pdf", [None, None]))
    assert result == Extraction("pdf", [], "PDF has no text layer (scanned?)")


def test_truncated_pdf(tmp_path: Path) -> None:
    data = make_pdf(tmp_path / "full.pdf", ["alpha", "bravo", "charlie"]).read_bytes()
    path = write(tmp_path / "half.pdf", data[: len(data) // 2])
    with pytest.raises(ExtractionError, match="corrupt or unreadable PDF"):
        extract(path)


def test_garbage_pdf(tmp_path: Path) -> None:
    with pytest.raises(ExtractionError, match="corrupt or unreadable PDF"):
        extract(write(tmp_path / "fake.pdf", "this is not a PDF at all\n" * 20))


def test_encrypted_pdf(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "locked.pdf", ["top secret"], user_password="hunter2")
    with pytest.raises(ExtractionError, match="^encrypted PDF \\(password required\\)$"):
        extract(path)


# --- DOCX / ODT / EPUB ----------------------------------------------------------------------------


def make_zip(path: Path, parts: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return path


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
DOCUMENT_XML = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{W_NS}" xmlns:mc="{MC_NS}"><w:body>
  <w:p><w:r><w:t>Quarterly</w:t></w:r><w:r><w:t xml:space="preserve"> report</w:t></w:r></w:p>
  <w:p><w:r><w:t>Name</w:t><w:tab/><w:t>Value</w:t><w:br/><w:t>next line</w:t></w:r></w:p>
  <w:p/>
  <w:tbl><w:tr>
    <w:tc><w:p><w:r><w:t>cell one</w:t></w:r></w:p></w:tc>
    <w:tc><w:p><w:r><w:t>cell two</w:t></w:r></w:p></w:tc>
  </w:tr></w:tbl>
  <w:p><w:r><w:t>Before box</w:t></w:r><w:r><mc:AlternateContent>
    <mc:Choice><w:txbxContent><w:p><w:r><w:t>boxed text</w:t></w:r></w:p></w:txbxContent></mc:Choice>
    <mc:Fallback><w:txbxContent><w:p><w:r><w:t>boxed text</w:t></w:r></w:p></w:txbxContent>
    </mc:Fallback></mc:AlternateContent></w:r></w:p>
  <w:p><w:r><w:delText>deleted</w:delText><w:t>Ünïcode end</w:t></w:r></w:p>
</w:body></w:document>"""


def test_docx(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "report.docx", {"word/document.xml": DOCUMENT_XML})
    result = extract(path)
    assert result.kind == "docx"
    assert only_text(result).split("\n") == [
        "Quarterly report",
        "Name\tValue",
        "next line",
        "cell one",
        "cell two",
        "Before box",
        "boxed text",
        "Ünïcode end",
    ]


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        (None, "corrupt DOCX: File is not a zip file"),
        ({"word/other.xml": "<x/>"}, "corrupt DOCX: missing word/document.xml"),
        ({"word/document.xml": "<w:document><w:body>"}, "corrupt DOCX: "),
    ],
)
def test_corrupt_docx(tmp_path: Path, parts: dict[str, str] | None, reason: str) -> None:
    path = tmp_path / "broken.docx"
    if parts is None:
        write(path, b"PK\x03\x04 definitely not a real zip archive")
    else:
        make_zip(path, parts)
    with pytest.raises(ExtractionError) as info:
        extract(path)
    assert str(info.value).startswith(reason)


def test_truncated_docx(tmp_path: Path) -> None:
    data = make_zip(tmp_path / "full.docx", {"word/document.xml": DOCUMENT_XML}).read_bytes()
    path = write(tmp_path / "cut.docx", data[: len(data) - 40])
    with pytest.raises(ExtractionError, match="^corrupt DOCX: "):
        extract(path)


CONTENT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content
    xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0">
  <office:body><office:text>
    <text:h text:outline-level="1">Chapter <text:span>One</text:span></text:h>
    <text:p>Plain <text:span text:style-name="b">bold <text:span>nested</text:span></text:span> end.</text:p>
    <text:p>a<text:s text:c="3"/>b<text:tab/>c<text:line-break/>d<text:s/>e</text:p>
    <text:list><text:list-item><text:p>list item</text:p></text:list-item></text:list>
    <table:table><table:table-row><table:table-cell>
      <text:p>table cell</text:p>
    </table:table-cell></table:table-row></table:table>
  </office:text></office:body>
</office:document-content>"""


def test_odt(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "story.odt", {"mimetype": "x", "content.xml": CONTENT_XML})
    result = extract(path)
    assert result.kind == "odt"
    assert only_text(result).split("\n") == [
        "Chapter One",
        "Plain bold nested end.",
        "a   b\tc",
        "d e",
        "list item",
        "table cell",
    ]


def test_corrupt_odt(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "broken.odt", {"mimetype": "x"})
    with pytest.raises(ExtractionError, match="^corrupt ODT: missing content.xml$"):
        extract(path)


CONTAINER_XML = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles>
    <rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>
  </rootfiles>
</container>"""

OPF_XML = """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Book</dc:title></metadata>
  <manifest>
    <item id="c2" href="text/chapter%202.xhtml" media-type="application/xhtml+xml"/>
    <item id="css" href="style.css" media-type="text/css"/>
    <item id="c1" href="text/chapter1.xhtml" media-type="application/xhtml+xml"/>
    <item id="cover" href="../cover.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine><itemref idref="cover"/><itemref idref="c1"/><itemref idref="c2"/></spine>
</package>"""


def chapter(title: str, body: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        f"<title>{title}</title><style>p {{ margin: 0 }}</style></head>"
        f"<body><h1>{title}</h1><p>{body}</p></body></html>"
    )


def test_epub_spine_order(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "book.epub",
        {
            "mimetype": "application/epub+zip",
            "META-INF/container.xml": CONTAINER_XML,
            "OEBPS/content.opf": OPF_XML,
            "OEBPS/style.css": "p { color: red }",
            "cover.xhtml": chapter("Cover", "A novel"),
            "OEBPS/text/chapter1.xhtml": chapter("One", "It was a dark &amp; stormy night."),
            "OEBPS/text/chapter 2.xhtml": chapter("Two", "The end &#8212; really."),
        },
    )
    result = extract(path)
    assert result.kind == "epub"
    assert result.skip_reason is None
    assert result.units == [
        TextUnit("Cover\nA novel", None),
        TextUnit("One\nIt was a dark & stormy night.", None),
        TextUnit("Two\nThe end — really.", None),
    ]


def test_epub_missing_chapter_is_an_error(tmp_path: Path) -> None:
    path = make_zip(
        tmp_path / "book.epub",
        {"META-INF/container.xml": CONTAINER_XML, "OEBPS/content.opf": OPF_XML},
    )
    with pytest.raises(ExtractionError, match="^corrupt EPUB: missing cover.xhtml$"):
        extract(path)


def test_epub_without_container_is_an_error(tmp_path: Path) -> None:
    path = make_zip(tmp_path / "book.epub", {"mimetype": "application/epub+zip"})
    with pytest.raises(ExtractionError, match="^corrupt EPUB: missing META-INF/container.xml$"):
        extract(path)
