"""RTF, with striprtf: the text of the body, in the document's ANSI code page (``\\ansicpgN``)."""

from __future__ import annotations

import codecs
import re
from pathlib import Path

from indexer.ingest.budget import ensure_fits
from indexer.ingest.extract.opening import open_regular
from indexer.ingest.extract.text import Extraction, ExtractionError, normalize_newlines, result

RTF_MAGIC = b"{\\rtf"
PARSE_MEMORY_FACTOR = 12  # peak memory per byte of RTF: the text, its tokens and the output
_CODE_PAGE = re.compile(rb"\\ansicpg(\d{3,5})")
_DEFAULT_ENCODING = "cp1252"


def is_rtf(head: bytes) -> bool:
    return head.lstrip()[:5] == RTF_MAGIC


def _encoding(head: bytes) -> str:
    """The code page the header declares, when Python knows it; else RTF's default, cp1252."""
    found = _CODE_PAGE.search(head)
    if found:
        name = f"cp{int(found.group(1))}"
        try:
            codecs.lookup(name)
            return name
        except LookupError:
            pass
    return _DEFAULT_ENCODING


def extract_rtf(path: Path) -> Extraction:
    """Extract an RTF document's text as one unit."""
    from striprtf.striprtf import rtf_to_text

    with open_regular(path) as fh:
        data = fh.read()
    if not is_rtf(data[:64]):
        raise ExtractionError("corrupt RTF: it does not start with {\\rtf")
    ensure_fits(len(data) * PARSE_MEMORY_FACTOR, f"{len(data) / 2**20:,.0f} MiB of RTF")
    # RTF is 7-bit: other characters are escapes, decoded by striprtf in the code page given
    text = rtf_to_text(data.decode("latin-1"), encoding=_encoding(data[:4096]), errors="replace")
    return result("rtf", [normalize_newlines(text)])
