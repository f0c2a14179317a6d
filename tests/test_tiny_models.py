"""The tiny test models load offline with the real APIs and behave as documented."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import constants as hf_constants
from sentence_transformers import CrossEncoder, SentenceTransformer
from tiny_models import (
    HIDDEN_SIZE,
    make_keyword_cross_encoder,
    make_tiny_cross_encoder,
    make_tiny_embedder,
)
from tokenizers import Tokenizer
from transformers import AutoTokenizer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Invoice #2024-117 is due on March 3rd; please pay €1,250.00 by wire transfer.",
    'She said: "Don\'t forget the meeting at 10:30 (room B-12)!"',
    "Naïve café owners reorganized their résumés — twice…",
    "https://example.com/search?q=semantic+file+search&page=2",
]
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Belt and braces on top of conftest: nothing in here may reach the hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)


@pytest.fixture(scope="module")
def keyword_cross_encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_keyword_cross_encoder(tmp_path_factory.mktemp("models") / "kw-ce", "invoice")


def _logits(model: CrossEncoder, pairs: list[tuple[str, str]]) -> np.ndarray:
    return np.asarray(model.predict(pairs, activation_fn=torch.nn.Identity()))


# --- embedder -------------------------------------------------------------------------------


def test_embedder_encodes_unit_vectors(tiny_model_dir: Path) -> None:
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    embeddings = model.encode(SENTENCES)
    assert embeddings.shape == (len(SENTENCES), HIDDEN_SIZE)
    assert model.get_embedding_dimension() == HIDDEN_SIZE
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(embeddings[0], embeddings[1])
    assert model.max_seq_length == 128


def test_embedder_without_prompts_has_no_prompt_text(tiny_model_dir: Path) -> None:
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    assert not any(model.prompts.values())


def test_embedder_is_deterministic(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = make_tiny_embedder(tmp_path / "again")
    first = SentenceTransformer(str(tiny_model_dir), device="cpu").encode(SENTENCES)
    second = SentenceTransformer(str(again), device="cpu").encode(SENTENCES)
    np.testing.assert_array_equal(first, second)


def test_embedder_max_seq_length(tmp_path: Path) -> None:
    directory = make_tiny_embedder(tmp_path / "short", max_seq_length=16)
    model = SentenceTransformer(str(directory), device="cpu")
    assert model.max_seq_length == 16
    config = json.loads((directory / "tokenizer_config.json").read_text())
    assert config["model_max_length"] == 16
    long_text = " ".join(["word"] * 100)
    assert model.encode([long_text]).shape == (1, HIDDEN_SIZE)
    with pytest.raises(ValueError):
        make_tiny_embedder(tmp_path / "too-long", max_seq_length=1024)


def test_prompts_round_trip(tiny_e5_dir: Path) -> None:
    assert tiny_e5_dir.name == "tiny-e5"
    saved = json.loads((tiny_e5_dir / "config_sentence_transformers.json").read_text())
    assert saved["prompts"].items() >= E5_PROMPTS.items()
    model = SentenceTransformer(str(tiny_e5_dir), device="cpu")
    assert model.prompts.items() >= E5_PROMPTS.items()
    plain, as_query = (
        model.encode(["semantic file search"]),
        model.encode(["semantic file search"], prompt_name="query"),
    )
    assert not np.allclose(plain, as_query)
    np.testing.assert_allclose(as_query, model.encode(["query: semantic file search"]), atol=1e-6)


def test_building_is_fast(tmp_path: Path) -> None:
    make_tiny_embedder(tmp_path / "warm-up")
    for index, maker in enumerate(
        (
            lambda d: make_tiny_embedder(d, prompts=E5_PROMPTS),
            make_tiny_cross_encoder,
            lambda d: make_keyword_cross_encoder(d, "invoice"),
        )
    ):
        start = time.perf_counter()
        maker(tmp_path / str(index))
        assert time.perf_counter() - start < 2.0


# --- tokenizer ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tiny_model_dir", "tiny_cross_encoder_dir"])
def test_tokenizer_json_has_no_unk_for_english(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    directory: Path = request.getfixturevalue(fixture)
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    for sentence in SENTENCES:
        encoding = tokenizer.encode(sentence)
        assert "[UNK]" not in encoding.tokens, (sentence, encoding.tokens)
        assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    pair = tokenizer.encode("a query", "a passage")
    assert pair.tokens == ["[CLS]", "a", "query", "[SEP]", "a", "passage", "[SEP]"]
    assert pair.type_ids == [0, 0, 0, 0, 1, 1, 1]


def test_auto_tokenizer_matches_tokenizer_json(tiny_model_dir: Path) -> None:
    hf_tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert hf_tokenizer.is_fast
    assert hf_tokenizer.model_max_length == 128
    raw = Tokenizer.from_file(str(tiny_model_dir / "tokenizer.json"))
    for sentence in SENTENCES:
        assert hf_tokenizer(sentence)["input_ids"] == raw.encode(sentence).ids
    vocab_lines = (tiny_model_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab_lines == sorted(raw.get_vocab(), key=raw.get_vocab().__getitem__)
    assert vocab_lines[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


# --- cross-encoders -------------------------------------------------------------------------


def test_cross_encoder_scores_each_pair(tiny_cross_encoder_dir: Path) -> None:
    model = CrossEncoder(str(tiny_cross_encoder_dir), device="cpu")
    pairs = [("what is due", passage) for passage in SENTENCES]
    scores = model.predict(pairs)
    assert np.asarray(scores).shape == (len(pairs),)
    assert all(isinstance(float(score), float) for score in scores)
    assert isinstance(float(model.predict(("a", "b"))), float)


def test_keyword_cross_encoder_ranks_keyword_first(keyword_cross_encoder_dir: Path) -> None:
    model = CrossEncoder(str(keyword_cross_encoder_dir), device="cpu")
    passages = [
        "The quick brown fox jumps over the lazy dog.",
        "Meeting notes from Tuesday about the garden project.",
        "Please find the attached invoice for March.",
        "Recipe: flour, water, salt and a little patience.",
    ]
    ranking = model.rank("payment reminder", passages)
    assert ranking[0]["corpus_id"] == 2
    assert ranking[0]["score"] > max(r["score"] for r in ranking[1:])


def test_keyword_cross_encoder_is_monotone_in_count(keyword_cross_encoder_dir: Path) -> None:
    model = CrossEncoder(str(keyword_cross_encoder_dir), device="cpu")
    filler = "the paper says nothing much"
    pairs = [("q", " ".join([filler] + ["invoice"] * count)) for count in range(8)]
    logits = _logits(model, pairs)
    assert np.all(np.diff(logits) > 0.05), logits
    # The count matters, not the passage length or where the keyword sits.
    long_pairs = [("q", "invoice " + " ".join([filler] * 60)), ("q", filler + " invoice")]
    np.testing.assert_allclose(_logits(model, long_pairs), logits[1], atol=1e-4)
    # Query occurrences count too.
    np.testing.assert_allclose(_logits(model, [("invoice", filler)]), logits[1], atol=1e-4)


def test_keyword_cross_encoder_rejects_phrases(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        make_keyword_cross_encoder(tmp_path / "bad", "two words")
