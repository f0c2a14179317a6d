"""Text extraction: turn a file into text units, picking an extractor by file extension.

Every extractor is a top-level function of a ``Path`` (or a ``functools.partial`` of one), so
extraction can run in worker processes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from indexer.ingest.extract.html import extract_html
from indexer.ingest.extract.mail import extract_eml, extract_mbox
from indexer.ingest.extract.office import extract_docx, extract_epub, extract_odt
from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.pdf import extract_pdf
from indexer.ingest.extract.rtf import extract_rtf, is_rtf
from indexer.ingest.extract.sheets import extract_ods, extract_xls, extract_xlsx
from indexer.ingest.extract.slides import extract_odp, extract_pptx
from indexer.ingest.extract.text import Attachment, Extraction, ExtractionError, TextUnit, extract_text

__all__ = ["OCR_IMAGE_EXTENSIONS", "Attachment", "Extraction", "ExtractionError", "TextUnit", "extract"]

Extractor = Callable[[Path], Extraction]

_TEXT_EXTENSIONS = {
    "text": (
        ".txt .text .log .csv .tsv .json .jsonl .ndjson .yaml .yml .toml .ini .cfg .conf"
        " .xml .properties .srt .vtt"
    ),
    "markdown": ".md .markdown .mdown .mkd",
    "rst": ".rst",
    "code": (
        ".py .pyi .pyx .js .mjs .cjs .ts .tsx .jsx .java .c .h .cpp .hpp .cc .hh .cxx"
        " .hxx .cs .fs .go .rs .rb .php .swift .kt .kts .scala .groovy .gradle .sh .bash .zsh"
        " .fish .ps1 .bat .cmd .sql .r .m .mm .lua .pl .pm .hs .ml .mli .ex .exs .erl .hrl"
        " .clj .cljs .dart .jl .nim .zig .v .vhd .asm .s .vue .svelte .css .scss .sass .less"
        " .tex .bib .cmake .mk .dockerfile .proto .graphql .tf .nix .el .vim"
    ),
}
_SKIPPED_EXTENSIONS = {
    "image": (
        ".png .jpg .jpeg .jpe .gif .webp .bmp .tif .tiff .ico .icns .heic .heif .avif .svg .psd"
        " .xcf .raw .cr2 .nef .arw .dng"
    ),
    "media": (
        ".mp3 .mp4 .m4a .m4v .mkv .avi .mov .wmv .flv .webm .mpg .mpeg .wav .flac .ogg .oga"
        " .ogv .opus .aac .aiff .mid .midi"
    ),
    "archive": (
        ".zip .gz .tgz .bz2 .xz .zst .lz .lzma .tar .7z .rar .jar .war .apk .deb .rpm .cab"
        " .iso .dmg .img"
    ),
    "binary": (
        ".exe .dll .so .dylib .bin .o .a .lib .obj .class .pyc .pyo .wasm .msi .db .sqlite"
        " .sqlite3 .woff .woff2 .ttf .otf .eot .pkl .npy .npz .pt .onnx .safetensors"
        " .parquet .h5"
    ),
}
# No maintained pure-Python reader gets the text out of Word's and PowerPoint's binary formats.
LEGACY_OFFICE = {
    ".doc": "legacy Office format: save as .docx to index",
    ".dot": "legacy Office format: save as .docx to index",
    ".ppt": "legacy Office format: save as .pptx to index",
    ".pps": "legacy Office format: save as .pptx to index",
    ".pot": "legacy Office format: save as .pptx to index",
}

# Images the OCR phase reads (Pillow decodes them; `indexer.ingest.ocr`): they are skipped here as
# "image file" and read by OCR later. HEIC/HEIF and AVIF only where Pillow has a decoder for them.
_OCR_IMAGES = ".png .jpg .jpeg .jpe .gif .webp .bmp .tif .tiff .heic .heif .avif"
OCR_IMAGE_EXTENSIONS = frozenset(_OCR_IMAGES.split())

REGISTRY: dict[str, Extractor] = {
    **{
        extension: partial(extract_text, kind=kind)
        for kind, extensions in _TEXT_EXTENSIONS.items()
        for extension in extensions.split()
    },
    ".html": extract_html,
    ".htm": extract_html,
    ".xhtml": extract_html,
    ".pdf": extract_pdf,
    ".docx": extract_docx,
    ".odt": extract_odt,
    ".epub": extract_epub,
    ".xlsx": extract_xlsx,
    ".xlsm": extract_xlsx,
    ".ods": extract_ods,
    ".xls": extract_xls,
    ".pptx": extract_pptx,
    ".pptm": extract_pptx,
    ".ppsx": extract_pptx,
    ".odp": extract_odp,
    ".rtf": extract_rtf,
    ".eml": extract_eml,
    ".mbox": extract_mbox,
}
SKIPPED_KINDS: dict[str, str] = {
    extension: kind
    for kind, extensions in _SKIPPED_EXTENSIONS.items()
    for extension in extensions.split()
}


def extract(path: Path) -> Extraction:
    """Extract the text of ``path``; raise ``ExtractionError`` if it has text but can't be read.

    Known binary, image, media and archive extensions are skipped without opening the file;
    unknown extensions are sniffed and read as plain text unless they look binary.
    """
    extension = path.suffix.lower()
    skipped = SKIPPED_KINDS.get(extension)
    if skipped:
        return Extraction(skipped, [], f"{skipped} file")
    try:
        if path.stat().st_size == 0:
            return Extraction("empty", [], "empty file")
        if extension in LEGACY_OFFICE:
            return _legacy_office(path, extension)
        return REGISTRY.get(extension, extract_text)(path)
    except OSError as exc:
        raise ExtractionError(f"cannot read file: {exc.strerror or exc}") from exc


def _legacy_office(path: Path, extension: str) -> Extraction:
    """A .doc is often RTF that Word saved under that name: read it as such; else say why not."""
    with open_regular(path) as fh:
        head = fh.read(64)
    if is_rtf(head):
        return extract_rtf(path)
    return Extraction(extension[1:], [], LEGACY_OFFICE[extension])
