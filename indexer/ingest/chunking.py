"""Text units → chunks within the embedder's token budget, split at sentence boundaries.

Chunks never cross a unit (a PDF page), so each chunk has one page. Offsets are
character offsets into the document text: the units' texts joined by `UNIT_SEPARATOR`.
Memory does not grow with a unit's size beyond its chunks: segments are found, tokenized
and packed as a stream, a bounded batch at a time, and no segment exceeds MAX_SEGMENT_CHARS.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from indexer.ingest.token_count import counter_for

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from indexer.ingest.extract import TextUnit

UNIT_SEPARATOR = "\n\n"

# A segment ends after sentence punctuation followed by space, or at a line break; a run of
# MAX_SEGMENT_CHARS without either is cut there (at a space when there is one near the end), so
# no segment, and no tokenizer call, grows with the file.
MAX_SEGMENT_CHARS = 8192
_SENTENCE = rf"[^\n]{{1,{MAX_SEGMENT_CHARS}}}?(?:[.!?…]+(?=\s)|[。！？]+|$)"
_SEGMENT = re.compile(rf"{_SENTENCE}|(?P<cut>[^\n]{{{MAX_SEGMENT_CHARS}}})", re.MULTILINE)
_CUT_AT_SPACE_WITHIN = MAX_SEGMENT_CHARS // 4
# Segments are tokenized in batches of about this many characters: memory stays bounded.
TOKENIZE_BATCH_CHARS = 1 << 16


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int | None
    char_start: int
    char_end: int
    n_tokens: int
    page_label: str | None = None  # what the page is called: a sheet's name, a slide's title

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
    token_ends: tuple[int, ...] = ()  # char end (unit offsets) of each token: only for hard splits


def sentence_spans(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each sentence or line of `text`, surrounding whitespace excluded;
    a run longer than MAX_SEGMENT_CHARS comes in pieces of at most that many characters."""
    pos = 0
    while (match := _SEGMENT.search(text, pos)) is not None:
        start, end = match.span()
        if match["cut"] is not None:
            space = text.rfind(" ", end - _CUT_AT_SPACE_WITHIN, end)
            if space > start:
                end = space
        pos = end
        stripped_start = start + len(text[start:end]) - len(text[start:end].lstrip())
        stripped_end = start + len(text[start:end].rstrip())
        if stripped_end > stripped_start:
            yield stripped_start, stripped_end


def _batches(spans: Iterable[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    batch: list[tuple[int, int]] = []
    size = 0
    for span in spans:
        batch.append(span)
        size += span[1] - span[0]
        if size >= TOKENIZE_BATCH_CHARS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _segments(text: str, tokenizer: Tokenizer, budget: int) -> Iterator[_Segment]:
    """The segments of `text` with their token counts, tokenized a bounded batch at a time; a
    segment over `budget` tokens also gets its tokens' end offsets, to be split at them."""
    counter = counter_for(tokenizer)
    for batch in _batches(sentence_spans(text)):
        pieces = [text[s:e] for s, e in batch]
        for (s, e), piece, n_tokens in zip(batch, pieces, counter.counts(pieces)):
            if n_tokens <= budget:
                yield _Segment(s, e, n_tokens)
                continue
            offsets = tokenizer.encode(piece, add_special_tokens=False).offsets
            yield _Segment(s, e, n_tokens, tuple(s + off[1] for off in offsets))


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


def _pack(segments: Iterable[_Segment], budget: int, overlap: int) -> Iterator[list[_Segment]]:
    """Greedy packing of whole segments; each new chunk repeats up to `overlap` tokens.

    A chunk also spans at most MAX_SEGMENT_CHARS characters, so text whose tokens are very
    long (a tokenizer's unknown-word token for a huge word) still gives chunks of bounded size.
    """
    current: list[_Segment] = []
    size = 0
    for seg in segments:
        if current and (size + seg.n_tokens > budget or seg.end - current[0].start > MAX_SEGMENT_CHARS):
            yield current
            carried: list[_Segment] = []
            carried_size = 0
            for prev in reversed(current):
                grown = carried_size + prev.n_tokens
                too_long = seg.end - prev.start > MAX_SEGMENT_CHARS
                if grown > overlap or grown + seg.n_tokens > budget or too_long:
                    break
                carried.insert(0, prev)
                carried_size += prev.n_tokens
            current, size = carried, carried_size
        current.append(seg)
        size += seg.n_tokens
    if current:
        yield current


def chunk_units(
    units: Sequence[TextUnit], tokenizer: Tokenizer, budget: int = 256, overlap: int = 32
) -> list[Chunk]:
    chunks: list[Chunk] = []
    base = 0
    for unit in units:
        segments = (
            piece
            for seg in _segments(unit.text, tokenizer, budget)
            for piece in (_hard_split(seg, budget, overlap) if seg.n_tokens > budget else [seg])
        )
        for group in _pack(segments, budget, overlap):
            start, end = group[0].start, group[-1].end
            chunks.append(Chunk(unit.text[start:end], unit.page, base + start, base + end,
                                sum(seg.n_tokens for seg in group), unit.label))
        base += len(unit.text) + len(UNIT_SEPARATOR)
    return chunks
