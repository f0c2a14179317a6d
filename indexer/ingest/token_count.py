"""Token counts as the tokenizer gives them, several times faster: each word's count is cached.

A `tokenizers` pipeline normalizes a text, splits it into pre-tokens (words, for the
tokenizers embedding models use) and tokenizes each pre-token on its own; special tokens come
only from the post-processor, which counting leaves out. So a text's count is the sum of its
pre-tokens' counts, and most words of a folder recur: `TokenCounter` runs the normalizer and
the pre-tokenizer on each text and the model only on pre-tokens it has not seen. Short texts
recur too (lines of code, navigation, headers: 40 % of a home folder's sentences), so their
counts are cached whole. A text that
holds an added token's content (`<s>`, `[MASK]`: the pipeline cuts those out before
normalizing) is counted by the tokenizer itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tokenizers import Tokenizer

CACHE_WORDS = 100_000  # each cache is emptied when it holds this many pre-tokens, or texts
CACHED_TEXT_CHARS = 300  # texts up to this long are cached whole


class TokenCounter:
    """`counts(texts)` equals `[len(tokenizer.encode(t, add_special_tokens=False).ids) ...]`."""

    def __init__(self, tokenizer: Tokenizer, cache_words: int = CACHE_WORDS) -> None:
        self.tokenizer = tokenizer
        self._normalizer = tokenizer.normalizer
        self._pre_tokenizer = tokenizer.pre_tokenizer
        self._model = tokenizer.model
        self._added = [t.content for t in tokenizer.get_added_tokens_decoder().values() if t.content]
        self._cache: dict[str, int] = {}
        self._texts: dict[str, int] = {}
        self._cache_words = cache_words

    def counts(self, texts: list[str]) -> list[int]:
        if self._pre_tokenizer is None:  # one piece per text: nothing recurs, let the tokenizer count
            return self._encoded(texts)
        found, counts = self._texts, []
        for text in texts:
            count = found.get(text)
            if count is None:
                count = self._count(text)
                if len(text) <= CACHED_TEXT_CHARS:
                    if len(found) >= self._cache_words:
                        found.clear()
                    found[text] = count
            counts.append(count)
        return counts

    def _encoded(self, texts: list[str]) -> list[int]:
        encode = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)  # >= 0.20.1
        return [len(enc.ids) for enc in encode(texts, add_special_tokens=False)]

    def _count(self, text: str) -> int:
        normalized = text if self._normalizer is None else self._normalizer.normalize_str(text)
        if any(token in text or token in normalized for token in self._added):
            return self._encoded([text])[0]
        cache, total = self._cache, 0
        for piece, _ in self._pre_tokenizer.pre_tokenize_str(normalized):
            count = cache.get(piece)
            if count is None:
                if len(cache) >= self._cache_words:
                    cache.clear()
                count = cache[piece] = len(self._model.tokenize(piece))
            total += count
        return total


_last: TokenCounter | None = None


def counter_for(tokenizer: Tokenizer) -> TokenCounter:
    """The counter of `tokenizer`, kept while the same tokenizer is asked for (its cache warm)."""
    global _last
    if _last is None or _last.tokenizer is not tokenizer:
        _last = TokenCounter(tokenizer)
    return _last
