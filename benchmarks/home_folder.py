"""A laptop-like home folder built from what this machine's packages ship (for benchmarks).

Real HTML documentation (the Rust book and standard library docs where rustup installed them,
else Python's `python3-doc` HTML, else whatever HTML `/usr/share/doc` holds), the real PDFs under
`/usr/share/doc`, multi-page PDFs of translated man pages in several languages and one long PDF
of SciFact abstracts, man pages, Python source, package READMEs and copyright texts, generated
DOCX files and a handful of bad inputs (a truncated PDF, binary noise named `.txt`, a DOCX that is
no zip, an invalid-UTF-8 note). Deterministic: the same machine builds the same folder.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import zipfile
from pathlib import Path

RUST_DOCS = [Path.home() / f".rustup/toolchains/{t}-x86_64-unknown-linux-gnu/share/doc/rust/html"
             for t in ("stable", "nightly")]
PYTHON_DOCS = [Path("/usr/share/doc/python3-doc/html"), Path("/usr/share/doc/python3.11-doc/html")]
PYTHON_LIB = Path(os.__file__).parent
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
MAN_LANGUAGES = ("fr", "de", "es", "it", "pl", "ru", "pt")  # DejaVu covers their scripts


def html_source() -> tuple[str, list[Path]]:
    """Where the HTML comes from, and its pages."""
    for root in RUST_DOCS:
        if root.is_dir():
            return f"Rust docs ({root})", sorted(root.rglob("*.html"))
    for root in PYTHON_DOCS:
        if root.is_dir():
            return f"python3-doc ({root})", sorted(root.rglob("*.html"))
    return "HTML under /usr/share/doc", sorted(Path("/usr/share/doc").rglob("*.html"))


def _spread(items: list[Path], count: int) -> list[Path]:
    """`count` items spread evenly over `items` (so every part of a doc tree is represented)."""
    if len(items) <= count:
        return items
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def _copy(files: list[Path], target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    copied = 0
    for i, source in enumerate(files):
        try:
            shutil.copyfile(source, target / f"{i:05d}-{source.name}")
        except OSError:
            continue
        copied += 1
    return copied


def _man_text(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        return fh.read()


def _man_pages(target: Path, count: int) -> int:
    pages = _spread(sorted(Path("/usr/share/man").glob("man[1-8]/*.gz")), count)
    target.mkdir(parents=True)
    for page in pages:
        (target / page.name.removesuffix(".gz")).write_text(_man_text(page), encoding="utf-8")
    return len(pages)


def _plain_lines(groff: str) -> list[str]:
    lines = []
    for line in groff.splitlines():
        if line.startswith((".\\\"", "'\\\"")):
            continue
        words = [w for w in line.split() if not w.startswith(".")] if line.startswith(".") else line.split()
        text = " ".join(words).replace("\\-", "-").replace("\\fB", "").replace("\\fR", "").replace("\\fI", "")
        if text.strip():
            lines.append(text)
    return lines


def _man_pdf(page: Path, path: Path, max_lines: int) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_font("DejaVu", fname=str(FONT))
    pdf.set_font("DejaVu", size=10)
    pdf.add_page()
    for line in _plain_lines(_man_text(page))[:max_lines]:
        pdf.multi_cell(0, 5, line[:400], new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))


def _manual_pdfs(target: Path, per_language: int, english: int) -> int:
    """Translated man pages (MAN_LANGUAGES) and the longest English ones, as PDF manuals."""
    if not FONT.exists():
        return 0
    made = 0
    for language in MAN_LANGUAGES:
        for page in sorted(Path(f"/usr/share/man/{language}").glob("man*/*.gz"))[:per_language]:
            _man_pdf(page, target / f"{language}-{page.name.removesuffix('.gz')}.pdf", 400)
            made += 1
    longest = sorted(Path("/usr/share/man").glob("man[1-8]/*.gz"), key=lambda p: (-p.stat().st_size, p.name))
    for page in longest[:english]:
        _man_pdf(page, target / f"manual-{page.name.removesuffix('.gz')}.pdf", 20_000)
        made += 1
    return made


def _long_pdf(path: Path, scifact: Path, pages: int) -> int:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)  # a long report: one abstract a page
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as fh:
        for _, line in zip(range(pages), fh, strict=False):
            doc = json.loads(line)
            pdf.add_page()
            text = (doc.get("title", "") + "\n\n" + doc.get("text", "")).encode("latin-1", "replace")
            pdf.multi_cell(0, 5, text.decode("latin-1"))
    pdf.output(str(path))
    return pdf.pages_count


def _docx(path: Path, paragraphs: list[str]) -> None:
    body = "".join(f"<w:p><w:r><w:t xml:space=\"preserve\">{p}</w:t></w:r></w:p>" for p in paragraphs)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'content-types"><Default Extension="xml" ContentType="application/xml"/><Override '
                   'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.wordprocessingml.document.main+xml"/></Types>')
        z.writestr("word/document.xml",
                   '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
                   f'wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>')


def _docx_files(target: Path, scifact: Path, count: int) -> int:
    target.mkdir(parents=True)
    with (scifact / "corpus.jsonl").open(encoding="utf-8") as fh:
        docs = [json.loads(line) for _, line in zip(range(count * 3), fh, strict=False)]
    escape = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
    for i in range(count):
        part = docs[i * 3:(i + 1) * 3]
        _docx(target / f"report-{i:03d}.docx", [d["title"].translate(escape) for d in part]
              + [d["text"].translate(escape) for d in part])
    return count


def _bad_inputs(target: Path) -> int:
    target.mkdir(parents=True)
    noise = random.Random(7).randbytes(200_000)
    real_pdf = next(iter(sorted(Path("/usr/share/doc").rglob("*.pdf"))), None)
    (target / "truncated.pdf").write_bytes(real_pdf.read_bytes()[:5000] if real_pdf else b"%PDF-1.4\n")
    (target / "noise.txt").write_bytes(noise)
    (target / "not-a-zip.docx").write_bytes(noise[:5000])
    latin1 = "Caf\xe9 cr\xe8me, na\xefve r\xe9sum\xe9\n".encode("latin-1")
    (target / "latin1-notes.md").write_bytes(latin1 * 50)
    (target / "empty.txt").write_bytes(b"")
    (target / "bad-utf8.txt").write_bytes(b"valid start \xff\xfe\xfd then more text\n" * 100)
    return 6


def build_home(target: Path, scifact: Path, html_pages: int = 2052, long_pdf_pages: int = 1000) -> dict:
    """Build the folder under `target`; return what went in, per part."""
    source, html = html_source()
    parts: dict[str, int] = {}
    parts["html"] = _copy(_spread(html, html_pages), target / "html")
    pdfs = target / "pdf"
    shipped = sorted(p for p in Path("/usr/share/doc").rglob("*.pdf") if p.is_file())
    parts["pdf_shipped"] = _copy(shipped, pdfs)
    parts["pdf_manuals"] = _manual_pdfs(pdfs, per_language=6, english=12)
    parts["pdf_long_pages"] = _long_pdf(pdfs / "scifact-abstracts.pdf", scifact, long_pdf_pages)
    parts["man"] = _man_pages(target / "man", 400)
    parts["code"] = _copy(_spread(sorted(p for p in PYTHON_LIB.rglob("*.py")
                                         if "site-packages" not in p.parts), 500), target / "code")
    parts["text"] = _copy(_spread(sorted(
        p for p in Path("/usr/share/doc").rglob("*")
        if p.is_file() and not p.is_symlink() and p.suffix in ("", ".txt", ".md")), 300), target / "text")
    parts["docx"] = _docx_files(target / "docx", scifact, 40)
    parts["bad"] = _bad_inputs(target / "bad")
    files = [p for p in target.rglob("*") if p.is_file()]
    return {"html_source": source, "files": len(files),
            "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1), "parts": parts}
