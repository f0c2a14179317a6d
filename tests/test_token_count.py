"""The cached token counter counts exactly as the tokenizer does, for every kind of tokenizer."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from tiny_models import build_tokenizer
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from indexer.ingest.token_count import TokenCounter

ROOT = Path(__file__).resolve().parent.parent
XLMR_TOKENIZER = ROOT.parent / "shared" / "models" / "multilingual-e5-small-q4" / "tokenizer.json"

TEXTS = [
    "The cat sat on the mat.",
    "  leading and trailing spaces  ",
    "double  spaces,\ttabs\tand\u00a0no-break\u2009thin spaces",
    "Ça coûte 12,50 € — déjà vu? Ünïcödé çà et là.",
    "Größenordnung der Straßenbahn: ß, ẞ, ﬁ ligature, ½ fraction, Ⅻ numeral",
    "東京は日本の首都です。天気はいいですね！",
    "Привет, мир! Как дела?",
    "emoji 🙂👍🏽 and zero\u200bwidth joiners",
    "a mask token <mask> and <s> a start token </s> in the text, [MASK] [CLS] too",
    "supercalifragilisticexpialidocious" * 8,
    "URL https://example.org/a/b?c=d&e=f#g and e-mail someone@example.com",
    "",
    " ",
    "e\u0301 combining accent, n\u0303",
    "def f(x):\n    return x ** 2  # a comment",
]


def _bpe() -> Tokenizer:
    """A byte-level BPE (GPT-2 style), trained on the spot."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(TEXTS * 3, trainer)
    return tokenizer


def _unigram_without_pre_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0), ("ab", -1.5)], 0))
    tokenizer.normalizer = normalizers.NFKC()
    return tokenizer


@cache
def _xlmr() -> Tokenizer:
    return Tokenizer.from_file(str(XLMR_TOKENIZER))


def _tokenizers() -> list[tuple[str, Tokenizer]]:
    found = [("wordpiece", build_tokenizer()), ("byte-level bpe", _bpe()),
             ("no pre-tokenizer", _unigram_without_pre_tokenizer())]
    if XLMR_TOKENIZER.is_file():
        found.append(("xlm-r unigram", _xlmr()))
    return found


@pytest.mark.parametrize(("name", "tokenizer"), _tokenizers(), ids=lambda v: v if isinstance(v, str) else "")
def test_counts_equal_the_tokenizers_own(name: str, tokenizer: Tokenizer) -> None:
    tokenizer.no_truncation()
    tokenizer.no_padding()
    expected = [len(tokenizer.encode(t, add_special_tokens=False).ids) for t in TEXTS]
    counter = TokenCounter(tokenizer)
    assert counter.counts(TEXTS) == expected, name
    assert counter.counts(TEXTS) == expected, name  # again, from the warm cache
    assert TokenCounter(tokenizer, cache_words=3).counts(TEXTS) == expected, name  # the cache refills


@pytest.mark.skipif(not XLMR_TOKENIZER.is_file(), reason="needs ../shared/models/multilingual-e5-small-q4")
def test_a_multilingual_folder_counts_exactly_with_xlmr() -> None:
    import random

    tokenizer = _xlmr()
    words = " ".join(TEXTS).split() + ["\u3000", "…", "Ωμέγα", "עברית", "العربية", "हिन्दी"]
    rng = random.Random(3)
    texts = [rng.choice(["", " ", "  ", "\t"]).join(rng.choices(words, k=rng.randint(1, 40)))
             for _ in range(400)]
    expected = [len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    assert TokenCounter(tokenizer).counts(texts) == expected
