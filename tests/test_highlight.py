"""Issue 17's one highlight policy and snippet window, for the command line and the app alike."""

from __future__ import annotations

from indexer.search.highlight import SENTENCE_REACH, STOPWORDS, highlight_spans, snippet_window
from indexer.search.query import parse


def lit(text: str, query: str) -> list[str]:
    return [text[s:e] for s, e in highlight_spans(text, parse(query))]


def test_whole_words_only() -> None:
    assert lit("Catatan rapat: the cat sat on the Cats' mat.", "cat") == ["cat"]  # "Cats" is 3 letters + s
    assert lit("Invoices, invoice, INVOICED, invoicing and invoicer", "invoice") == [
        "Invoices", "invoice", "INVOICED", "invoicing"]
    assert lit("boxes box boxing", "box") == ["box"]  # 3 letters: whole word only
    assert lit("taxes and tax", "taxe") == ["taxes"]  # 4 letters: -s


def test_case_and_accents_fold() -> None:
    assert lit("Café, CAFE, cafés and caféine", "cafe") == ["Café", "CAFE", "cafés"]
    assert lit("Über die Straße", "uber") == ["Über"]


def test_stop_words_are_not_lit_unless_alone() -> None:
    assert lit("The cat and the dog", "the cat and dog") == ["cat", "dog"]
    assert lit("To be or not to be", "to be") == ["To", "be", "to", "be"]  # nothing else to light
    assert {"the", "and", "of"} <= STOPWORDS


def test_cjk_runs_anywhere() -> None:
    assert lit("深度学习是机器学习的一个子集", "机器学习") == ["机器学习"]
    assert lit("東京の天気は晴れ", "天気 weather") == ["天気"]


def test_snippet_starts_at_its_sentence() -> None:
    text = ("Watering guide. " * 3) + "The monstera gets yellow leaves when it is watered too often."
    window, offset = snippet_window(text, text.index("yellow"))
    assert window.startswith("The monstera gets yellow")
    assert text[offset:offset + 12] == "The monstera"
    line = "First line\nsecond line holds the word plumber here"
    window, _ = snippet_window(line, line.index("plumber"))
    assert window.startswith("second line")


def test_a_far_sentence_start_gives_an_ellipsis_and_a_word_start() -> None:
    text = "Start " + " ".join(f"word{i}" for i in range(60)) + " target is here."
    focus = text.index("target")
    assert focus > SENTENCE_REACH
    window, offset = snippet_window(text, focus)
    assert window.startswith("…word") and window[1:].split()[0] in text.split()
    assert window[focus - offset:focus - offset + 6] == "target"  # text index i is window index i - offset


def test_search_results_follow_the_policy(tmp_path, tiny_model_dir) -> None:  # noqa: ANN001
    from helpers import embedder_for, index_folder

    from indexer.datadir import DataDir
    from indexer.search.searcher import Searcher

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("Catatan rapat. The invoices from the plumber arrived; the cat slept.")
    index_folder(docs, tmp_path / "data", tiny_model_dir)
    searcher = Searcher(DataDir(tmp_path / "data"), embedder_for(str(tiny_model_dir)))
    try:
        top = searcher.search("cat invoice the", k=1, mark_sentences=0)[0]
    finally:
        searcher.close()
    assert [top.snippet[s:e] for s, e in top.highlights] == ["invoices", "cat"]
