"""Similar files and near-duplicates (`findling similar`, `findling duplicates`), from the catalog only."""

from __future__ import annotations

import json
import shutil
import sqlite3
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from fixtures.make_old_catalogs import fixture_path
from helpers import index_folder

from indexer.cli import cli
from indexer.datadir import DataDir
from indexer.models.embedding import bundled_model_path
from indexer.similar import signature
from indexer.similar.duplicates import candidate_pairs
from indexer.store.catalog import Catalog

MINILM = bundled_model_path()
needs_minilm = pytest.mark.skipif(
    MINILM is None, reason="the bundled MiniLM (the torch extra) is not installed"
)

BUDGET = (
    "The annual budget review covers the travel expenses of the sales team, the cost of the new office in "
    "Lyon, and the hiring plan for the second half of the year. Travel grew by twelve percent because of "
    "the trade fairs in Milan and Berlin. The office lease starts in March and includes parking for twenty "
    "cars. We plan to hire four engineers and two support staff, and to review salaries in September. The "
    "finance team asks every department to send its forecast before the end of the month, with a short "
    "note on any cost that changes by more than ten percent. Questions about the review go to the finance "
    "office, which answers within two working days and keeps a list of the forecasts already received."
)
FILES = {
    "budget.txt": BUDGET,
    "notes/budget-rewrapped.md": textwrap.fill(BUDGET.upper(), 40),  # re-wrapped, re-cased, other extension
    "drafts/budget-draft.txt": BUDGET.replace("four engineers", "three engineers").replace(
        " Questions about the review go to the finance office, which "
        "answers within two working days and keeps a list of the "
        "forecasts already received.",
        "",
    ),  # words changed, one cut
    "sales.txt": "The sales team met its targets for the quarter. Trade fairs in Milan brought new "
    "customers, and the travel budget of the sales team will be discussed at the annual budget review.",
    "garden.txt": "Tomatoes need sun and water every day in summer. Plant basil next to them, and pick the "
    "fruit when it is red and soft. Slugs eat the young leaves at night, so check the beds.",
    "paraphrase.txt": "Every summer day, tomato plants want sunshine and watering. Put basil beside them; "
    "harvest when the fruit turns red and soft. Snails and slugs eat young leaves at night.",
    "photo.jpg": "",
}


def run(*args: str, data: Path) -> object:
    return CliRunner().invoke(cli, ["--data-dir", str(data), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if MINILM is None:
        pytest.skip("the bundled MiniLM (the torch extra) is not installed")
    base = tmp_path_factory.mktemp("similar")
    docs = base / "docs"
    for name, text in FILES.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text) if text else (docs / name).write_bytes(
            b"\xff\xd8\xff\xe0 not an image"
        )
    shutil.copy(docs / "budget.txt", docs / "budget-copy.txt")
    index_folder(docs, base / "data", MINILM)
    return docs, base / "data"


def groups(data: Path, *args: str) -> list[dict]:
    result = run("duplicates", "--json", *args, data=data)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["groups"]


def test_signatures_ignore_wrapping_and_case_and_see_edits() -> None:
    original = signature.minhash(BUDGET)[0]
    assert np.array_equal(signature.minhash(textwrap.fill(BUDGET.upper(), 33))[0], original)
    draft = signature.minhash(FILES["drafts/budget-draft.txt"])[0]
    assert 0.5 <= signature.estimated_jaccard(original, draft) < 0.95
    assert signature.estimated_jaccard(original, signature.minhash(FILES["garden.txt"])[0]) < 0.1
    assert signature.minhash("  …  ") is None
    assert (
        signature.document_text([("fox jumps over", 10, 24), ("the quick fox", 0, 13)])
        == "the quick fox jumps over"
    )  # overlap kept once, in file order


def test_lsh_finds_similar_rows_and_not_others() -> None:
    rng = np.random.default_rng(1)
    rows = rng.integers(0, 2**32, (50, signature.NUM_PERM), dtype=np.uint64).astype(np.uint32)
    rows[7] = rows[3]
    rows[9, :100] = rows[4, :100]  # Jaccard about 0.8
    pairs = {tuple(p) for p in candidate_pairs(rows).tolist()}
    assert {(3, 7), (4, 9)} <= pairs and len(pairs) == 2


@needs_minilm
def test_copies_and_drafts_are_grouped_and_neighbours_are_not(indexed: tuple[Path, Path]) -> None:
    docs, data = indexed
    found = groups(data)
    assert len(found) == 1
    group = found[0]
    assert {Path(f["path"]).relative_to(docs).as_posix() for f in group["files"]} == {
        "budget.txt",
        "budget-copy.txt",
        "notes/budget-rewrapped.md",
        "drafts/budget-draft.txt",
    }
    assert group["kind"] == "near" and 0.9 <= group["similarity"] <= 1
    sizes = [f["size"] for f in group["files"]]
    assert group["wasted_bytes"] == sum(sizes) - max(sizes)
    # a threshold above the draft's cosine keeps the copies (MiniLM is uncased: the re-cased one embeds alike)
    draft_cosine = min(g["similarity"] for g in found)
    strict = groups(data, "--min-similarity", str(min(1.0, draft_cosine + 1e-3)))
    assert [{Path(f["path"]).name for f in g["files"]} for g in strict] == [
        {"budget.txt", "budget-copy.txt", "budget-rewrapped.md"}
    ]


@needs_minilm
def test_similar_ranks_the_paraphrase_first_with_the_matching_passages(indexed: tuple[Path, Path]) -> None:
    docs, data = indexed
    result = run("similar", str(docs / "garden.txt"), "--json", "--k", "3", data=data)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["path"] == str(docs / "garden.txt")
    paths = [r["path"] for r in payload["results"]]
    assert paths[0] == str(docs / "paraphrase.txt") and str(docs / "garden.txt") not in paths
    assert str(docs / "photo.jpg") not in paths  # known by its name only: never compared
    first = payload["results"][0]
    assert 0 <= first["similarity"] <= 1 and first["similarity"] == first["score"]
    assert [r["similarity"] for r in payload["results"]] == sorted(
        (r["similarity"] for r in payload["results"]), reverse=True
    )
    assert first["snippet"].startswith("Every summer day")
    assert set(first["source_passage"]) == {"chunk_id", "page", "snippet", "char_start", "char_end"}
    assert first["source_passage"]["snippet"].startswith("Tomatoes need sun")
    for name in ("chunk_id", "page", "snippet", "char_start", "char_end", "scores", "highlights", "passages"):
        assert name in first  # the fields of `search --json`


@needs_minilm
@pytest.mark.parametrize(
    ("target", "message"),
    [("photo.jpg", "known only by its name"), (".", "is a folder"), ("missing.txt", "not in the index")],
)
def test_similar_says_why_a_file_cannot_be_compared(
    indexed: tuple[Path, Path], target: str, message: str
) -> None:
    docs, data = indexed
    result = run("similar", str(docs / target), data=data)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


@needs_minilm
def test_a_file_not_embedded_yet_is_reported(tmp_path: Path) -> None:
    from helpers import embedder_for

    from indexer.config import Config
    from indexer.write.pipeline import Indexer

    docs, data = tmp_path / "docs", DataDir(tmp_path / "data")
    docs.mkdir()
    (docs / "a.txt").write_text(BUDGET)
    with data.writer_lock(), Indexer(data, Config(), embedder_for(str(MINILM))) as indexer:
        indexer.run([str(docs)], phase="text")
    result = run("similar", str(docs / "a.txt"), data=data.path)
    assert result.exit_code == 1 and "not embedded yet (0 of 1 passages)" in result.output


@needs_minilm
def test_a_moved_file_keeps_its_group_and_a_deleted_one_leaves_it(tmp_path: Path) -> None:
    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    for name in ("budget.txt", "notes/budget-rewrapped.md", "drafts/budget-draft.txt", "garden.txt"):
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(FILES[name])
    index_folder(docs, data, MINILM)
    assert len(groups(data)[0]["files"]) == 3
    (docs / "drafts/budget-draft.txt").rename(docs / "budget-draft-moved.txt")
    index_folder(docs, data, MINILM)
    assert {Path(f["path"]).name for f in groups(data)[0]["files"]} == {
        "budget.txt",
        "budget-rewrapped.md",
        "budget-draft-moved.txt",
    }
    (docs / "notes/budget-rewrapped.md").unlink()
    index_folder(docs, data, MINILM)
    assert {Path(f["path"]).name for f in groups(data)[0]["files"]} == {
        "budget.txt",
        "budget-draft-moved.txt",
    }
    (docs / "budget.txt").unlink()
    index_folder(docs, data, MINILM)
    assert groups(data) == []
    catalog = Catalog(DataDir(data).catalog_path, readonly=True)
    try:  # the summaries went with their files
        assert catalog.conn.execute("SELECT count(*) FROM file_signatures").fetchone()[0] == 2
    finally:
        catalog.close()


def test_an_index_of_the_previous_release_gets_its_summaries_without_re_embedding(tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.path.mkdir()
    shutil.copy(fixture_path(5, "dc927b3"), data.catalog_path)
    before = (
        sqlite3.connect(data.catalog_path).execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
    )
    catalog = Catalog(data.catalog_path)  # the writer upgrades: instant, the summaries come after
    try:
        count = lambda table: catalog.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
        assert count("file_vectors") == 0 and count("file_signatures") == 0
        assert catalog.backfill_summaries(limit=2) == 4  # 2 signatures, 2 vectors: a batch at a time
        while catalog.backfill_summaries(limit=2):
            pass
        assert count("file_vectors") == 3 and count("file_signatures") == 3
        assert catalog.backfill_summaries() == 0
        assert catalog.conn.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall() == before
    finally:
        catalog.close()
    result = run("similar", "/fixture/docs/garden.txt", "--json", data=data.path)
    assert result.exit_code == 0, result.output
    assert {r["path"] for r in json.loads(result.output)["results"]} == {
        "/fixture/docs/taxes.md",
        "/fixture/docs/tokyo.txt",
    }


def test_what_the_collection_shares_is_taken_out_before_comparing() -> None:
    """Files in two "languages" (a strong shared offset each): without the shared directions taken out
    a file's nearest is another file of its language; with them, its translation."""
    from indexer.similar.vectors import MIN_PASSAGES, FileVectors, shared_directions

    rng = np.random.default_rng(3)
    dim, topics = 64, 40
    languages = rng.normal(0, 1, (2, dim)) * 3
    meaning = rng.normal(0, 1, (topics, dim))
    copies = MIN_PASSAGES // (2 * topics) + 1
    passages = np.vstack([meaning[t] + languages[lang] + rng.normal(0, 0.3, dim)
                          for _ in range(copies) for lang in (0, 1) for t in range(topics)])
    files = np.vstack([meaning[t] + languages[lang] for lang in (0, 1) for t in range(topics)])
    files /= np.linalg.norm(files, axis=1, keepdims=True)
    ids = np.arange(2 * topics)
    plain = FileVectors(ids, files.astype(np.float32), "s")
    shared = shared_directions(passages.astype(np.float32))
    debiased = FileVectors(ids, files.astype(np.float32), "s", *shared)
    translation = lambda i: (i + topics) % (2 * topics)  # noqa: E731
    hits = lambda vectors: np.mean([vectors.top(files[i], 1, exclude=i)[0][0] == translation(i)  # noqa: E731
                                    for i in ids])
    assert hits(plain) < 0.2 and hits(debiased) > 0.9
    few = shared_directions(passages[: MIN_PASSAGES - 1].astype(np.float32))[1]
    assert len(few) == 0  # too few passages: compared as they are
