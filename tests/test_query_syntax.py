"""Issue 17's query syntax: filter-only listings, the date forms, and filters that cannot be read."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import embedder_for, index_folder

from indexer.cli import cli
from indexer.datadir import DataDir
from indexer.search.query import date_ns, parse
from indexer.search.searcher import Searcher

NOW = dt.datetime(2026, 3, 18, 15, 30)  # a Wednesday afternoon, local time


def local(*args: int) -> int:
    return int(dt.datetime(*args).timestamp() * 1e9)


@pytest.mark.parametrize(("text", "expected"), [
    ("2024", local(2024, 1, 1)),
    ("2024-03", local(2024, 3, 1)),
    ("2024-3", local(2024, 3, 1)),
    ("2024-03-15", local(2024, 3, 15)),
    ("today", local(2026, 3, 18)),
    ("yesterday", local(2026, 3, 17)),
    ("last week", local(2026, 3, 11, 15, 30)),
    ("Last  Week", local(2026, 3, 11, 15, 30)),
    ("last month", local(2026, 2, 16, 15, 30)),
    ("3 days ago", local(2026, 3, 15, 15, 30)),
    ("2 weeks ago", local(2026, 3, 4, 15, 30)),
])
def test_date_forms(text: str, expected: int) -> None:
    assert date_ns(text, NOW) == expected


@pytest.mark.parametrize("text", ["2025-13-45", "2025-02-30", "tomorrowish", "24", "last fortnight", ""])
def test_unreadable_dates(text: str) -> None:
    assert date_ns(text, NOW) is None


def test_after_and_before_bound_periods() -> None:
    query = parse('after:2024 before:2024-03 report', NOW)
    assert (query.after_ns, query.before_ns) == (local(2024, 1, 1), local(2024, 3, 1))
    assert query.words == ["report"] and query.ignored == []
    quoted = parse('after:"last week" notes', NOW)
    assert quoted.after_ns == local(2026, 3, 11, 15, 30) and quoted.words == ["notes"]
    assert parse("after:yesterday", NOW).after_ns == local(2026, 3, 17)


def test_unreadable_filters_are_reported_never_searched() -> None:
    query = parse("budget after:2025-13-45 type:foo in:", NOW)
    assert query.words == ["budget"]  # none of the bad filters became search words
    assert [i.token for i in query.ignored] == ["after:2025-13-45", "type:foo", "in:"]
    assert "not a date" in query.ignored[0].reason and "unknown file type" in query.ignored[1].reason
    assert query.after_ns is None and query.extensions == []
    assert parse("type:.xyz").extensions == ["xyz"]  # any extension, with a dot
    assert parse("type:image").extensions[:2] == ["png", "jpg"]


def test_filter_only_queries_list_files() -> None:
    assert parse("type:pdf").lists_files and parse("-draft").lists_files
    assert not parse("type:pdf invoice").lists_files and not parse('"net 30" type:pdf').lists_files
    assert not parse("after:2025-13-45").lists_files  # nothing usable: no listing of everything


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> tuple[Path, Path]:
    from fpdf import FPDF

    docs = tmp_path_factory.mktemp("mixed")
    for i in range(3):
        pdf = FPDF()
        pdf.add_page()
        pdf.set_font("Helvetica", size=12)
        pdf.multi_cell(0, 8, f"Report number {i} about the harbour.")
        pdf.output(str(docs / f"report{i}.pdf"))
    (docs / "notes.txt").write_text("Plain notes about the harbour.")
    (docs / "draft.md").write_text("A draft of the harbour plan.")
    (docs / "plan.md").write_text("The final harbour plan.")
    base = time.time() - 10 * 86400
    for offset, name in enumerate(["report0.pdf", "notes.txt", "report1.pdf", "draft.md", "plan.md",
                                   "report2.pdf"]):
        os.utime(docs / name, (base + offset * 3600, base + offset * 3600))
    data = tmp_path_factory.mktemp("data")
    index_folder(docs, data, tiny_model_dir)
    return docs, data


def test_type_alone_lists_pdfs_newest_first(mixed: tuple[Path, Path], tiny_model_dir: Path) -> None:
    docs, data = mixed
    searcher = Searcher(DataDir(data), embedder_for(str(tiny_model_dir)))
    try:
        results = searcher.search("type:pdf", k=10)
        assert [Path(r.path).name for r in results] == ["report2.pdf", "report1.pdf", "report0.pdf"]
        assert all(r.modified_ns for r in results)
        assert [Path(r.path).name for r in searcher.search("type:pdf", k=2)] == ["report2.pdf", "report1.pdf"]
        unexcluded = [Path(r.path).name for r in searcher.search("-draft", k=10)]
        assert "draft.md" not in unexcluded and len(unexcluded) == 5 and unexcluded[0] == "report2.pdf"
        assert [Path(r.path).name for r in searcher.search("type:md -draft", k=10)] == ["plan.md"]
    finally:
        searcher.close()


def run(data: Path, model: Path, *args: str):  # noqa: ANN201
    return CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(model), *args],
                              catch_exceptions=False)


def test_cli_listing_header_and_ignored(mixed: tuple[Path, Path], tiny_model_dir: Path) -> None:
    docs, data = mixed
    out = run(data, tiny_model_dir, "search", "type:pdf")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert lines[0] == "3 files matching type:pdf, newest first"
    assert lines[1].endswith("report2.pdf") and len(lines) == 4
    payload = json.loads(run(data, tiny_model_dir, "search", "harbour", "after:2025-13-45", "--json").stdout)
    assert payload["ignored"] == [{"token": "after:2025-13-45", "reason": payload["ignored"][0]["reason"]}]
    assert "not a date" in payload["ignored"][0]["reason"]
    assert payload["results"] and payload["listing"] is False
    text = run(data, tiny_model_dir, "search", "harbour", "type:foo").stdout
    assert text.splitlines()[0].startswith("Ignored type:foo: unknown file type")
    listing = json.loads(run(data, tiny_model_dir, "search", "type:pdf", "--json").stdout)
    assert listing["listing"] is True and listing["ignored"] == [] and len(listing["results"]) == 3


def test_no_reranker_by_default_and_no_note_on_search(mixed: tuple[Path, Path], tiny_model_dir: Path,
                                                      tmp_path: Path) -> None:
    from indexer.config import SUGGESTED_RERANKER, Config

    assert Config().reranker == ""
    # a config saved by the previous release stored its default reranker, which no one can have offline
    data = tmp_path / "old"
    data.mkdir()
    (data / "config.toml").write_text(f'config_version = 2\nreranker = "{SUGGESTED_RERANKER}"\n')
    assert Config.load(data).reranker == ""
    (data / "config.toml").write_text('config_version = 2\nreranker = "/models/my-reranker"\n')
    assert Config.load(data).reranker == "/models/my-reranker"  # a reranker of one's own stays

    docs, index = mixed
    (index / "config.toml").write_text('reranker = "cross-encoder/not-downloaded"\n')
    try:
        out = run(index, tiny_model_dir, "search", "harbour", "--json")
        assert json.loads(out.stdout)["notes"] == []
        text = run(index, tiny_model_dir, "search", "harbour")
        assert "Reranking" not in text.output and "rerank" not in text.stderr.lower()
        status = json.loads(run(index, tiny_model_dir, "status", "--json").stdout)
        assert status["reranker"] == {"name": "cross-encoder/not-downloaded", "available": False,
                                      "reason": "it has not been downloaded"}
        assert "not available" in run(index, tiny_model_dir, "status").stdout
    finally:
        (index / "config.toml").unlink()


def test_status_lists_skipped_files_and_why(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "notes.txt").write_text("Some notes.")
    (docs / "empty.txt").write_text("")
    (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    data = tmp_path / "data"
    assert run(data, tiny_model_dir, "index", str(docs)).exit_code == 0
    status = json.loads(run(data, tiny_model_dir, "status", "--json").stdout)
    assert status["skipped"] == 2
    assert status["skipped_files"] == [{"path": str(docs / "empty.txt"), "reason": "empty file"},
                                       {"path": str(docs / "photo.jpg"), "reason": "image file"}]
    text = run(data, tiny_model_dir, "status").stdout
    assert f"skipped: {docs / 'photo.jpg'}: image file" in text
