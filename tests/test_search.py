"""Hybrid retrieval, the query syntax, filters, reranking, CJK text and the similarity matrix."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import embedder_for, index_folder

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.models.embedding import bundled_model_path
from indexer.models.rerank import TorchReranker
from indexer.search.query import parse
from indexer.search.scores import relevance
from indexer.search.searcher import Searcher

MINILM = bundled_model_path()

DOCS = {
    "cat.txt": "The cat sat upon the mat all afternoon.",
    "invoice.txt": "Payment reminder for invoice INV-2024-0173 from the plumbing company.",
    "stocks.txt": "The stock market closed higher after the central bank held interest rates.",
    "recipe.txt": "Whisk two eggs with flour and milk, then fry the batter in a hot pan.",
    "car.txt": "Change the engine oil every ten thousand kilometres and check the tyres.",
    "hiking.txt": "The trail climbs through pine forest to a lake below the summit.",
}


@pytest.fixture(scope="module")
def minilm_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("search")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text)
    index_folder(docs, root / "data", MINILM)
    return docs, root / "data"


def open_searcher(data: Path, model: Path, **kwargs) -> Searcher:
    return Searcher(DataDir(data), embedder_for(str(model)), **kwargs)


def paths(results) -> list[str]:
    return [Path(r.path).name for r in results]


def test_identifier_only_keywords_find_is_found_by_hybrid(minilm_index) -> None:
    docs, data = minilm_index
    searcher = open_searcher(data, MINILM)
    assert paths(searcher.search("INV-2024-0173", k=1, mode="keyword")) == ["invoice.txt"]
    assert paths(searcher.search("INV-2024-0173", k=1, mode="hybrid")) == ["invoice.txt"]
    searcher.close()


def test_paraphrase_only_dense_finds_is_found_by_hybrid(minilm_index) -> None:
    docs, data = minilm_index
    searcher = open_searcher(data, MINILM)
    assert "cat.txt" not in paths(searcher.search("a feline resting on a rug", k=1, mode="keyword"))
    assert paths(searcher.search("a feline resting on a rug", k=1, mode="hybrid")) == ["cat.txt"]
    searcher.close()


def test_results_carry_each_stage_score_and_highlights(minilm_index) -> None:
    docs, data = minilm_index
    searcher = open_searcher(data, MINILM)
    top = searcher.search("invoice from the plumber", k=1)[0]
    searcher.close()
    assert Path(top.path).name == "invoice.txt"
    assert set(top.scores.to_dict()) == {"dense", "keyword", "fused"}
    assert top.scores.dense > 0 and top.scores.keyword > 0
    marked = [top.snippet[s:e].lower() for s, e in top.highlights]
    assert "invoice" in marked and "the" not in marked  # a function word is not highlighted
    assert top.best_sentence is not None


@pytest.mark.parametrize("text", [
    '"', '*', 'NEAR(', 'AND', 'OR NOT', '"unbalanced quote', 'a "b', '-', '--', 'type:', 'in:""',
    'after:notadate', 'before:2025-13-45', '(((', 'col:value', "'; DROP TABLE files; --", '^*"',
    "NEAR(a b, 3)", "\x00", "ERROR: could not connect",
])
def test_hostile_input_never_raises(minilm_index, text: str) -> None:
    docs, data = minilm_index
    searcher = open_searcher(data, MINILM)
    for mode in ("dense", "keyword", "hybrid"):
        searcher.search(text, k=3, mode=mode)
    searcher.close()


def test_query_syntax() -> None:
    query = parse('invoice "net 30 days" -draft type:pdf in:~/Documents/taxes after:2025-01-01 '
                  'before:2025-07-01 ERROR: could --option a-b "x-y"')
    assert query.phrases == ["net 30 days", "x-y"]
    assert query.excluded == ["draft"]
    assert query.extensions == ["pdf"]
    assert query.folders == [os.path.expanduser("~/Documents/taxes")]
    assert query.after_ns < query.before_ns
    assert query.words == ["invoice", "ERROR:", "could", "--option", "a-b"]
    assert parse("after:someday").words == [] and parse("after:someday").ignored  # reported, not text
    assert parse('"unbalanced').words == ["unbalanced"]


def test_filters_phrases_and_exclusions_inside_retrieval(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "taxes").mkdir(parents=True)
    (docs / "other").mkdir()
    old = time.time() - 400 * 86400
    for i in range(30):
        folder = docs / ("taxes" if i % 3 == 0 else "other")
        extension = "md" if i % 2 else "txt"
        body = f"Budget note {i} about garden tools and rent."
        if i % 5 == 0:
            body += " Contains the exact phrase quarterly estimate here."
        if i % 4 == 0:
            body += " Marked as draft."
        path = folder / f"note{i:02d}.{extension}"
        path.write_text(body)
        if i < 15:
            os.utime(path, (old, old))
    index_folder(docs, tmp_path / "data", tiny_model_dir)
    searcher = open_searcher(tmp_path / "data", tiny_model_dir)
    cutoff = time.strftime("%Y-%m-%d", time.localtime(time.time() - 200 * 86400))
    for mode in ("dense", "keyword", "hybrid"):
        md = searcher.search("budget garden type:md", k=10, mode=mode)
        assert len(md) == 10 and all(r.path.endswith(".md") for r in md), mode
        taxes = searcher.search(f"budget in:{docs / 'taxes'}", k=10, mode=mode)
        assert len(taxes) == 10 and all("/taxes/" in r.path for r in taxes), mode
        recent = searcher.search(f"budget after:{cutoff}", k=30, mode=mode)
        assert sorted(paths(recent)) == sorted(f.name for f in docs.rglob("note*") if int(f.stem[4:]) >= 15)
        older = searcher.search(f"budget before:{cutoff}", k=30, mode=mode)
        assert len(older) == 15, mode
        phrase = searcher.search('budget "quarterly estimate"', k=30, mode=mode)
        assert sorted(int(Path(p).stem[4:]) for p in paths(phrase)) == list(range(0, 30, 5)), mode
        excluded = searcher.search("budget -draft", k=30, mode=mode)
        assert sorted(int(Path(p).stem[4:]) for p in paths(excluded)) == [
            i for i in range(30) if i % 4], mode
    searcher.close()


def test_reranking_reorders_by_cross_encoder_score(tmp_path: Path, tiny_model_dir: Path) -> None:
    from tiny_models import make_keyword_cross_encoder

    docs = tmp_path / "docs"
    docs.mkdir()
    counts = {"one.txt": 1, "three.txt": 3, "zero.txt": 0, "two.txt": 2, "four.txt": 4}
    for name, count in counts.items():
        (docs / name).write_text("animals at the zoo " + "zebra " * count + "and more animals")
    index_folder(docs, tmp_path / "data", tiny_model_dir)
    model = make_keyword_cross_encoder(tmp_path / "ce", "zebra")
    reranker = TorchReranker("keyword-ce", model)
    searcher = open_searcher(tmp_path / "data", tiny_model_dir, reranker=reranker)
    plain = searcher.search("animals zoo", k=5, rerank=False)
    reranked = searcher.search("animals zoo", k=5, rerank=True)
    searcher.close()
    assert paths(reranked) == ["four.txt", "three.txt", "two.txt", "one.txt", "zero.txt"]
    assert paths(plain) != paths(reranked)
    scores = [r.scores.rerank for r in reranked]
    assert scores == sorted(scores, reverse=True)
    assert [r.score for r in reranked] == scores


def test_relevance_of_a_reranked_result_is_the_rerankers_probability(tmp_path: Path,
                                                                       tiny_model_dir: Path) -> None:
    from tiny_models import make_keyword_cross_encoder

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "zero.txt").write_text("animals at the zoo and more animals")
    (docs / "three.txt").write_text("animals at the zoo zebra zebra zebra and more animals")
    index_folder(docs, tmp_path / "data", tiny_model_dir)
    reranker = TorchReranker("keyword-ce", make_keyword_cross_encoder(tmp_path / "ce", "zebra"))
    searcher = open_searcher(tmp_path / "data", tiny_model_dir, reranker=reranker)
    results = {Path(r.path).name: r for r in searcher.search("animals zoo", k=2, rerank=True)}
    searcher.close()
    for result in results.values():  # CrossEncoder applies the sigmoid: a probability, shown as it is
        assert 0.0 < result.scores.rerank < 1.0
        assert relevance(result) == pytest.approx(result.scores.rerank)
    assert relevance(results["zero.txt"]) < 0.1  # a logit of about -4 (a second sigmoid made it 0.5)
    assert relevance(results["three.txt"]) > 0.7


def test_chinese_and_japanese_keyword_search(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "ml.txt").write_text("机器学习是人工智能的一个分支。它让计算机从数据中学习。")
    (docs / "food.txt").write_text("今天我们去饭店吃北京烤鸭，味道非常好。")
    (docs / "tokyo.txt").write_text("東京は日本の首都です。多くの人が住んでいます。")
    (docs / "en.txt").write_text("An English note about learning machines.")
    index_folder(docs, tmp_path / "data", tiny_model_dir)
    searcher = open_searcher(tmp_path / "data", tiny_model_dir)
    assert paths(searcher.search("机器学习", k=1, mode="keyword")) == ["ml.txt"]
    assert paths(searcher.search("北京烤鸭", k=1, mode="keyword")) == ["food.txt"]
    assert paths(searcher.search("首都", k=1, mode="keyword")) == ["tokyo.txt"]  # two characters
    assert paths(searcher.search("東京の首都", k=1, mode="hybrid")) == ["tokyo.txt"]
    top = searcher.search("机器学习", k=1, mode="keyword")[0]
    assert top.snippet[top.highlights[0][0]:top.highlights[0][1]] == "机器学习"
    searcher.close()


def test_similarity_matrix_is_cosine_of_stored_embeddings(minilm_index) -> None:
    docs, data = minilm_index
    searcher = open_searcher(data, MINILM)
    results = searcher.search("money and payments", k=4)
    similarity = searcher.similarity("money and payments", results)
    stored = searcher.catalog.stored_embeddings([r.chunk_id for r in results])
    query_vector = embedder_for(str(MINILM)).encode_queries(["money and payments"])[0]
    searcher.close()
    vectors = np.vstack([query_vector] + [stored[r.chunk_id] for r in results])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(similarity.matrix, vectors @ vectors.T, atol=1e-5)
    assert similarity.labels == ["query"] + paths(results)


def test_stray_keyword_matches_score_low_after_normalisation(minilm_index) -> None:
    docs, data = minilm_index
    searcher = open_searcher(data, MINILM)
    for text, weak in [("invoice from the plumbing company", False), ("Rechnung vom Klempner a", True),
                       ("水管工的发票 the", True)]:
        query = parse(text)
        top = searcher.keyword.search(query, 1)
        normalised = top[0][1] / searcher.keyword.score_scale(query)
        assert (normalised < 0.3) == weak, (text, normalised)
    searcher.close()


def test_keyword_mode_needs_no_model(minilm_index) -> None:
    docs, data = minilm_index
    searcher = Searcher(DataDir(data), None, Config())
    assert paths(searcher.search("INV-2024-0173", k=1)) == ["invoice.txt"]
    searcher.close()


def test_opening_a_searcher_and_searching_by_keyword_leave_the_vector_file_unread(
        tmp_path: Path, tiny_model_dir: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "a.txt").write_text("Sourdough starter needs flour and water.", encoding="utf-8")
    index_folder(docs, data, tiny_model_dir)
    assert DataDir(data).vectors_path.exists()
    searcher = Searcher(DataDir(data), embedder_for(str(tiny_model_dir)))  # checks the model
    try:
        assert searcher.search("sourdough", mode="keyword")
        assert searcher.store._vectors is None  # the model check and a keyword search need no vectors
        assert searcher.search("sourdough", mode="hybrid")
        assert searcher.store._vectors is not None
    finally:
        searcher.close()
