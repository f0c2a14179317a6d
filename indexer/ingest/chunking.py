"""Text units → chunks within the embedder's token budget, split at sentence boundaries.

Chunks never cross a unit (a PDF page), so each chunk has one page. Offsets are
character offsets into the document text: the units' texts joined by `UNIT_SEPARATOR`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from indexer.ingest.extract import TextUnit

UNIT_SEPARATOR = "\n\n"

# A segment ends after sentence punctuation followed by space, or at a line break.
_SEGMENT = re.compile(r"[^\n]+?(?:[.!?…]+(?=\s)|[。！？]+|$)", re.MULTILINE)


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int | None
    char_start: int
    char_end: int
    n_tokens: int

    @property
    def hash(self) -> str:
        return text_hash(self.text)


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class _Segment:
    start: int  # offsets into the unit text
    end: int
    n_tokens: int
    token_ends: tuple[int, ...]  # char end (unit offsets) of each token, for hard splits


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, surrounding whitespace excluded."""
    spans = []
    for match in _SEGMENT.finditer(text):
        stripped = match.group().strip()
        if stripped:
            start = match.start() + len(match.group()) - len(match.group().lstrip())
            spans.append((start, start + len(stripped)))
    return spans


def _segments(text: str, tokenizer: Tokenizer) -> list[_Segment]:
    spans = sentence_spans(text)
    if not spans:
        return []
    encodings = tokenizer.encode_batch([text[s:e] for s, e in spans], add_special_tokens=False)
    return [
        _Segment(s, e, len(enc.ids), tuple(s + off[1] for off in enc.offsets))
        for (s, e), enc in zip(spans, encodings)
    ]


def _hard_split(seg: _Segment, budget: int, overlap: int) -> list[_Segment]:
    """Cut a segment longer than the budget into token windows."""
    pieces = []
    step = max(1, budget - overlap)
    first = 0
    while first < seg.n_tokens:
        last = min(first + budget, seg.n_tokens)
        start = seg.start if first == 0 else seg.token_ends[first - 1]
        pieces.append(_Segment(start, seg.token_ends[last - 1], last - first, seg.token_ends[first:last]))
        if last == seg.n_tokens:
            break
        first += step
    return pieces


def _pack(segments: list[_Segment], budget: int, overlap: int) -> list[list[_Segment]]:
    """Greedy packing of whole segments; each new chunk repeats up to `overlap` tokens."""
    groups: list[list[_Segment]] = []
    current: list[_Segment] = []
    size = 0
    for seg in segments:
        if current and size + seg.n_tokens > budget:
            groups.append(current)
            carried: list[_Segment] = []
            carried_size = 0
            for prev in reversed(current):
                grown = carried_size + prev.n_tokens
                if grown > overlap or grown + seg.n_tokens > budget:
                    break
                carried.insert(0, prev)
                carried_size += prev.n_tokens
            current, size = carried, carried_size
        current.append(seg)
        size += seg.n_tokens
    if current:
        groups.append(current)
    return groups


def chunk_units(
    units: Sequence[TextUnit], tokenizer: Tokenizer, budget: int = 256, overlap: int = 32
) -> list[Chunk]:
    chunks: list[Chunk] = []
    base = 0
    for unit in units:
        segments: list[_Segment] = []
        for seg in _segments(unit.text, tokenizer):
            segments.extend(_hard_split(seg, budget, overlap) if seg.n_tokens > budget else [seg])
        for group in _pack(segments, budget, overlap):
            start, end = group[0].start, group[-1].end
            chunks.append(Chunk(unit.text[start:end], unit.page, base + start, base + end,
                                sum(seg.n_tokens for seg in group)))
        base += len(unit.text) + len(UNIT_SEPARATOR)
    return chunks
