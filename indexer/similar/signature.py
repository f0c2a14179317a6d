"""A file's text as a MinHash signature over word shingles: what near-duplicate detection compares.

The text is rebuilt from the stored chunks (`document_text`, the chunk overlap removed), so a
signature computed at index time and one computed later from the catalog are the same. Words
are case-folded and accent-stripped runs of letters and digits (a CJK character is a word of
its own), so re-wrapping, re-saving or changing letter case leaves the signature as it is.
Shingles are `SHINGLE_WORDS` consecutive words; the Jaccard similarity of two files' shingle
sets is estimated by the share of equal positions in their signatures (`estimated_jaccard`).

Written on NumPy rather than `datasketch`, whose SciPy dependency (about 140 MB) would be most
of the plain install's size budget for the few lines used here: 32-bit word hashes (crc32),
shingles hashed by a polynomial over them, and `NUM_PERM` multiply-shift hash functions
(`(a·x + b) mod 2^64 >> 32`, a odd), minimised.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable

import numpy as np

NUM_PERM = 128
SHINGLE_WORDS = 5
_SEED = 20261201
_BLOCK = 4096  # shingles hashed at a time: memory stays at NUM_PERM x _BLOCK x 8 bytes
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")
_SHINGLE_BASE = np.uint64(1_000_003)

_rng = np.random.default_rng(_SEED)
_A = (_rng.integers(1, 2**63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1))[:, None]
_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64)[:, None]


def document_text(pieces: Iterable[tuple[str, int, int]]) -> str:
    """The text of chunks `(text, char_start, char_end)` in file order, each overlap kept once."""
    parts: list[str] = []
    end = 0
    for text, start, stop in sorted(pieces, key=lambda p: (p[1], p[2])):
        if stop <= end:
            continue
        parts.append(text[end - start :] if start < end else (" " + text if parts else text))
        end = stop
    return "".join(parts)


_COMBINING = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))


def words(text: str) -> list[str]:
    """Case- and accent-folded words; each CJK character is one."""
    return _WORD.findall(_fold(text))


def shingle_hashes(text: str) -> np.ndarray:
    """The distinct 64-bit hashes of the text's word shingles (one shingle when it is shorter)."""
    found = words(text)
    if not found:
        return np.zeros(0, dtype=np.uint64)
    hashed = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in found), dtype=np.uint64, count=len(found))
    width = min(SHINGLE_WORDS, len(hashed))
    count = len(hashed) - width + 1
    combined = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(width):
            combined = combined * _SHINGLE_BASE + hashed[offset : offset + count]
    return np.unique(combined)


def minhash(text: str) -> tuple[np.ndarray, int] | None:
    """(signature of NUM_PERM uint32 values, number of distinct shingles), or None without words."""
    shingles = shingle_hashes(text)
    if not len(shingles):
        return None
    signature = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(shingles), _BLOCK):
            block = shingles[None, start : start + _BLOCK]
            signature = np.minimum(signature, ((_A * block + _B) >> np.uint64(32)).min(axis=1))
    return signature.astype(np.uint32), len(shingles)


def stored(text: str) -> tuple[bytes, int]:
    """A text's signature as the catalog stores it: (blob, distinct shingles); a text without
    words gets an empty one, so the backfill does not come back for it."""
    found = minhash(text)
    return (b"", 0) if found is None else (to_blob(found[0]), found[1])


def to_blob(signature: np.ndarray) -> bytes:
    return np.asarray(signature, dtype="<u4").tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<u4")


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """The share of shingles two files share, estimated from their signatures."""
    return float(np.mean(a == b))
