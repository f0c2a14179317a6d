"""Dense retrieval under filters (issue 21): checking candidates after the search and searching among
the passing ids give the exact filtered top-k on a flat index, and only passing chunks on a
compressed one; keyword retrieval's posting budget; the folder filter as a path range."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from helpers import index_folder, searcher

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.search import filtered_dense
from indexer.search.query import parse
from indexer.store import keyword
from indexer.store.keyword import KeywordSearch

WORDS = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbor", "iris", "juniper"]
FOLDERS = ("alpha", "beta", "beta0", "gamma/deep")  # "beta0" sorts right after "beta/": a range's edge


def write_tree(root: Path, per_folder: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    for f, folder in enumerate(FOLDERS):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(per_folder):
            words = " ".join(rng.choice(WORDS) for _ in range(10))
            suffix = ".md" if i % 3 == 0 else ".txt"
            (root / folder / f"n{f}-{i:03d}{suffix}").write_text(f"Note {i}: {words}.", encoding="utf-8")


def truth(data: Path, query_text: str, vector: np.ndarray, k: int) -> list[int]:
    """The exact filtered top-k: every passing embedded chunk scored by its stored vector."""
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        search = KeywordSearch(catalog)
        where, params = search.constraints(parse(query_text))
        ids = [r[0] for r in catalog.conn.execute(
            f"SELECT c.id FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.embedding IS NOT NULL "
            f"AND {where}", params)]
        stored = catalog.stored_embeddings(ids)
    finally:
        catalog.close()
    ranked = sorted(stored, key=lambda i: (-float(stored[i] @ vector), i))
    return ranked[:k]


QUERIES = ["note in:{root}/beta", "note in:{root}/gamma", "note type:md", "note -amber in:{root}/alpha",
           "note in:{root}/beta in:{root}/alpha", '"cobalt dune" in:{root}/beta0', "note in:{root}/nothing"]


@pytest.mark.parametrize("compress", [False, True])
def test_checking_after_and_searching_among_the_ids_agree_with_exact_search(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, compress: bool) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_tree(docs, 45)
    index_folder(docs, data, tiny_model_dir, Config(compress_above=100 if compress else 200_000))
    found = searcher(data, tiny_model_dir)
    try:
        vectors = found.vectors()
        assert vectors.exact is not compress
        rng = np.random.default_rng(3)
        for template in QUERIES:
            text = template.format(root=docs)
            query = parse(text)
            vector = rng.standard_normal(vectors.dim).astype(np.float32)
            vector /= np.linalg.norm(vector)
            exact = truth(data, text, vector, 10)
            results = {}
            for strategy, share in (("after", (0.0, 0.0)), ("among", (2.0, 2.0))):
                monkeypatch.setattr(filtered_dense, "POST_FILTER_SHARE", share[0])
                monkeypatch.setattr(filtered_dense, "POST_FILTER_SHARE_FLAT", share[1])
                results[strategy] = [i for i, _ in filtered_dense.filtered_search(
                    vectors, found.keyword, query, vector, 10)]
            passing = set(truth(data, text, vector, 10_000))
            for strategy, ids in results.items():
                assert set(ids) <= passing, (text, strategy)  # never a chunk the filter drops
                if not compress:
                    assert ids == exact, (text, strategy)
                else:
                    assert len(ids) == min(10, len(passing)), (text, strategy)
            # the searcher's own choice, rescored for a compressed index, is the exact top-k here
            monkeypatch.undo()
            assert [i for i, _ in found.dense(query, 10, query_vector=vector)] == exact, text
    finally:
        found.close()


def test_a_filter_that_keeps_few_of_the_nearest_falls_back_to_its_ids(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The share is judged from whole files; when the nearest candidates hold too few passing chunks
    (an exclusion drops most), the search goes deeper and then lists the passing ids."""
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_tree(docs, 30)
    index_folder(docs, data, tiny_model_dir)
    found = searcher(data, tiny_model_dir)
    try:
        vectors = found.vectors()
        monkeypatch.setattr(filtered_dense, "POST_FILTER_SHARE_FLAT", 0.0)
        monkeypatch.setattr(filtered_dense, "MAX_ROUNDS", 1)
        listed: list[str] = []
        original = KeywordSearch.passing_chunk_ids
        monkeypatch.setattr(KeywordSearch, "passing_chunk_ids",
                            lambda self, query: listed.append(query.raw) or original(self, query))
        text = f"note -amber -basalt -cobalt -dune -ember -fjord -glacier in:{docs}/alpha"
        vector = np.ones(vectors.dim, dtype=np.float32) / np.sqrt(vectors.dim)
        ids = [i for i, _ in filtered_dense.filtered_search(vectors, found.keyword, parse(text), vector, 10)]
        assert ids == truth(data, text, vector, 10)
        assert listed == [text]  # the candidates were too few, so the passing ids were listed
    finally:
        found.close()


def test_bm25_matches_on_the_rarest_words_within_the_postings_budget(
        tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    for i in range(40):  # "common" in every note but one; "medium" in ten; "rare" and "scarce" in one each
        words = ["common" if i else "filler", "medium" if i % 4 == 0 else "plain"]
        words += ["rare"] if i == 5 else []
        words += ["scarce"] if i == 6 else []
        (docs / f"n{i:02d}.txt").write_text(" ".join(words), encoding="utf-8")
    index_folder(docs, data, tiny_model_dir)
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        search = KeywordSearch(catalog)
        counted = catalog.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        assert search._rows("chunks_fts") == counted
        words = ["common", "medium", "rare", "scarce"]
        assert search._informative(words) == ["medium", "rare", "scarce"]  # "common": in over half
        monkeypatch.setattr(keyword, "POSTINGS_BUDGET", 5)
        assert search._informative(words) == ["rare", "scarce"]  # the two rarest, always
        hits = dict(search.search(parse("common medium rare scarce"), 10))
        names = {catalog.conn.execute("SELECT f.name FROM chunks c JOIN files f ON f.id = c.file_id "
                                      "WHERE c.id = ?", (i,)).fetchone()[0] for i in hits}
        assert names == {"n05.txt", "n06.txt"}
        monkeypatch.setattr(keyword, "POSTINGS_BUDGET", 20)
        assert search._informative(words) == ["medium", "rare", "scarce"]
    finally:
        catalog.close()


def test_the_folder_filter_is_a_path_range_that_keeps_exactly_the_folder(tmp_path: Path,
                                                                          tiny_model_dir: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    write_tree(docs, 3)
    (docs / "beta" / "é").mkdir()
    (docs / "beta" / "é" / "accent.txt").write_text("note accent", encoding="utf-8")
    index_folder(docs, data, tiny_model_dir)
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        search = KeywordSearch(catalog)
        ids = search.passing_chunk_ids(parse(f"note in:{docs}/beta"))
        paths = {catalog.conn.execute("SELECT f.path FROM chunks c JOIN files f ON f.id = c.file_id "
                                      "WHERE c.id = ?", (int(i),)).fetchone()[0] for i in ids}
        expected = {p for (p,) in catalog.conn.execute("SELECT path FROM files")
                    if p.startswith(f"{docs}/beta/")}
        assert paths == expected and any(p.endswith("accent.txt") for p in paths)
        assert not any("/beta0/" in p for p in paths)
        share = search.passing_share(parse(f"note in:{docs}/beta"))
        files = catalog.conn.execute("SELECT count(*) FROM files").fetchone()[0]
        assert share == pytest.approx(len(expected) / files)
        assert search.passing_share(parse(f'"note" in:{docs}/beta')) is None  # a phrase decides
    finally:
        catalog.close()


def test_document_counts_are_kept_until_the_catalog_changes(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    (docs / "a.txt").write_text("walnut tree", encoding="utf-8")
    index_folder(docs, data, tiny_model_dir)
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        search = KeywordSearch(catalog)
        assert search._document_frequencies("chunks_vocab", ["walnut", "absent"]) == {"walnut": 1}
        (docs / "b.txt").write_text("walnut shell", encoding="utf-8")
        index_folder(docs, data, tiny_model_dir)  # a new generation: the counts are read again
        assert search._document_frequencies("chunks_vocab", ["walnut", "shell"]) == {"walnut": 2, "shell": 1}
    finally:
        catalog.close()
