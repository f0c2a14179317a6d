"""Spreadsheets, presentations, RTF, legacy Office, mail and mailboxes: extracted with their pages and
labels, found by search at the right page, bounded by the budgets, recorded when corrupt; a mail's
attachments are files of their own that follow their mail."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import embedder_for, index_folder
from office_files import (
    corrupt,
    make_eml,
    make_mbox,
    make_odp,
    make_ods,
    make_pptx,
    make_rtf,
    make_xls,
    make_xlsx,
)

from indexer.cli import cli
from indexer.config import Config
from indexer.datadir import DataDir
from indexer.ingest.extract import extract, sheets
from indexer.ingest.prepare import chunk_extracted, read_and_extract
from indexer.ingest.scan import Found
from indexer.paths import file_on_disk
from indexer.search.pages import page_badge, page_text
from indexer.search.searcher import Searcher

MAKERS = {".xlsx": make_xlsx, ".xls": make_xls, ".ods": make_ods, ".pptx": make_pptx, ".odp": make_odp,
          ".rtf": make_rtf, ".mbox": make_mbox}
ATTACHED_TEXT = b"The lighthouse keeper's log for November."


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("office") / "docs"
    folder.mkdir()
    for suffix, make in MAKERS.items():
        make(folder / f"sample{suffix}")
    make_eml(folder / "harbour.eml", {"figures.xlsx": (folder / "sample.xlsx").read_bytes(),
                                      "log.txt": ATTACHED_TEXT})
    return folder


@pytest.fixture(scope="module")
def indexed(office: Path, tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    data = tmp_path_factory.mktemp("office-data")
    report = index_folder(office, data, tiny_model_dir)
    assert report.errors == 0
    return data


def search(data: Path, model: Path, query: str, k: int = 10) -> list:
    searcher = Searcher(DataDir(data), embedder_for(str(model)), Config(reranker=""))
    try:
        return searcher.search(query, k=k, mode="keyword")
    finally:
        searcher.close()


def units(path: Path) -> list[tuple[int | None, str | None, str]]:
    return [(u.page, u.label, u.text) for u in extract(path).units]


# -- extraction --------------------------------------------------------------------------------
def test_a_workbook_gives_a_unit_per_sheet_named_with_formulas_cached_values(office: Path) -> None:
    for name in ("sample.xlsx", "sample.ods"):
        found = units(office / name)
        assert [(page, label) for page, label, _ in found] in ([(1, "Budget"), (2, "Travel")],
                                                               [(1, "Accounts"), (2, "Trips")]), name
        assert "4242\t" in found[0][2]  # the formula's cached value, beside its row's other cell
        assert "4242" not in found[1][2]
    budget = units(office / "sample.xlsx")[0][2].splitlines()
    assert budget[0] == "Item\tAmount\tNote" and budget[1].startswith("Budget item 1\t1.5\t")
    ods = units(office / "sample.ods")[0][2].splitlines()
    assert len(ods) == 4  # 3 rows + the formula row: 16,000 repeated empty cells, 1 M empty rows free
    assert units(office / "sample.xls") == [
        (1, "Budget", "Budget legacy row 0\t0\nBudget legacy row 1\t2.5\nBudget legacy row 2\t5"),
        (2, "Travel", "Travel legacy row 0\t0\nTravel legacy row 1\t2.5\nTravel legacy row 2\t5")]


def test_a_deck_gives_a_unit_per_slide_titled_with_its_notes(office: Path) -> None:
    for name, title, notes in (("sample.pptx", "Harbour roadmap", "Remember to thank the lighthouse keepers"),
                               ("sample.odp", "Garden plan", "Water the tomatoes daily")):
        found = units(office / name)
        assert [(page, label) for page, label, _ in found] == [(1, "Slide 1"), (2, title)], name
        assert found[1][2].splitlines()[0] == title
        assert found[1][2].endswith(f"\nNotes:\n{notes}")
        assert "Notes:" not in found[0][2]


def test_rtf_accents_and_legacy_office(tmp_path: Path, office: Path) -> None:
    assert units(office / "sample.rtf") == [(None, None, "Crème brûlée au café\nNaïve résumé\n")]
    doc = tmp_path / "old.doc"
    doc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))  # an OLE2 compound file
    assert extract(doc).skip_reason == "legacy Office format: save as .docx to index"
    slides = tmp_path / "old.ppt"
    shutil.copy(doc, slides)
    assert extract(slides).skip_reason == "legacy Office format: save as .pptx to index"
    rtf_named_doc = tmp_path / "letter.doc"  # Word saves RTF under .doc
    shutil.copy(office / "sample.rtf", rtf_named_doc)
    assert "Crème brûlée" in units(rtf_named_doc)[0][2]


def test_a_mail_has_headers_html_body_and_attachments_of_their_own_kind(office: Path) -> None:
    extraction = extract(office / "harbour.eml")
    (text,) = [u.text for u in extraction.units]
    assert text.startswith("From: Ana Lima <ana@example.org>\nTo: bo@example.org\nDate: ")
    assert "Subject: Harbour works" in text and "The harbour repairs start Monday." in text
    assert "<b>" not in text and "\nx\n" not in text  # through the HTML extractor, title left out
    assert text.endswith("Attachments: figures.xlsx, log.txt")
    figures, log = extraction.attachments
    assert (figures.name, figures.extraction.kind, figures.extraction.units[1].label) == (
        "figures.xlsx", "xlsx", "Travel")
    assert (log.name, log.extraction.kind, log.extraction.units[0].text) == (
        "log.txt", "text", ATTACHED_TEXT.decode())


def test_a_mailbox_gives_a_unit_per_message_numbered_and_titled(office: Path) -> None:
    found = units(office / "sample.mbox")
    assert [(page, label) for page, label, _ in found] == [
        (1, "Message 1 about the invoice"), (2, "Message 2 about the budget"),
        (3, "Message 3 about the lighthouse")]
    assert "From the garden we send tomatoes." in found[1][2]


# -- budgets -----------------------------------------------------------------------------------
def test_a_huge_sheet_is_cut_at_the_row_and_cell_budgets_with_a_note(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path) -> None:
    path = make_xlsx(tmp_path / "huge.xlsx", rows=400, sheets=("Big", "Second", "Third"))
    monkeypatch.setattr(sheets, "MAX_SHEET_ROWS", 100)
    extraction = extract(path)
    assert [len(u.text.splitlines()) for u in extraction.units] == [100, 100, 100]
    assert extraction.note.startswith("cut at the spreadsheet budget: sheet 'Big' after 100 rows")
    monkeypatch.setattr(sheets, "MAX_CELLS", 450)  # 150 rows of 3 cells
    extraction = extract(path)
    assert [len(u.text.splitlines()) for u in extraction.units] == [100, 50]
    assert sum(len(u.text.split("\t")) + u.text.count("\n") for u in extraction.units) == 450
    assert "1 more sheet(s) not read ('Third')" in extraction.note
    ods = extract(make_ods(tmp_path / "huge.ods", rows=400))
    assert [len(u.text.splitlines()) for u in ods.units] == [100, 50] and "'Trips' at row 51" in ods.note
    # the note is recorded on the indexed file
    found = Found(str(path), path.stat().st_size, path.stat().st_mtime_ns)
    prepared = chunk_extracted(read_and_extract(found, 50), Config(), embedder_for(str(tiny_model_dir)))
    assert prepared.status == "indexed" and prepared.reason == extraction.note


def test_the_default_budgets_bound_a_million_row_sheet() -> None:
    narrow = sheets.SheetText()
    narrow.add_sheet(1, "Narrow", ([f"r{r}"] for r in range(1_000_000)))
    assert len(narrow.units[0].text.splitlines()) == sheets.MAX_SHEET_ROWS
    assert narrow.cuts == [f"sheet 'Narrow' after {sheets.MAX_SHEET_ROWS:,} rows"]
    wide = sheets.SheetText()
    wide.add_sheet(1, "Wide", ([f"r{r}"] * 10 for r in range(1_000_000)))
    assert wide.cells == sheets.MAX_CELLS and len(wide.units[0].text.splitlines()) == sheets.MAX_CELLS // 10
    row = sheets.MAX_CELLS // 10 + 1
    assert wide.cuts == [f"sheet 'Wide' at row {row:,} (the {sheets.MAX_CELLS:,}-cell budget)"]


# -- the index: search, pages and labels, filters, corrupt files --------------------------------
@pytest.mark.parametrize(("query", "path", "page", "label"), [
    ("plumber total 4242", "sample.xlsx", 1, "Budget"),
    ("Travel item", "sample.xlsx", 2, "Travel"),
    ("Travel legacy row", "sample.xls", 2, "Travel"),
    ("lighthouse total", "sample.ods", 1, "Accounts"),
    ("thank the lighthouse keepers", "sample.pptx", 2, "Harbour roadmap"),
    ("water the tomatoes daily", "sample.odp", 2, "Garden plan"),
    ("creme brulee", "sample.rtf", None, None),
    ("harbour repairs Monday", "harbour.eml", None, None),
    ("garden we send tomatoes", "sample.mbox", 2, "Message 2 about the budget"),
    ("lighthouse keeper November", "harbour.eml#log.txt", None, None),
])
def test_each_text_is_found_at_its_page_with_its_label(indexed: Path, office: Path, tiny_model_dir: Path,
                                                       query: str, path: str, page: int | None,
                                                       label: str | None) -> None:
    top = search(indexed, tiny_model_dir, query)[0]
    assert (top.path, top.page, top.page_label) == (str(office / path), page, label)
    assert top.container == (str(office / "harbour.eml") if "#" in path else None)


def test_type_filters_for_the_new_formats(indexed: Path, office: Path, tiny_model_dir: Path) -> None:
    def paths(query: str) -> set[str]:
        return {Path(r.path).name for r in search(indexed, tiny_model_dir, query)}

    assert paths("Travel item type:xlsx") == {"sample.xlsx", "harbour.eml#figures.xlsx"}
    assert paths("harbour type:pptx") == {"sample.pptx"}
    assert paths("harbour type:eml") == {"harbour.eml"}
    assert paths("Ana Lima type:mail") == {"harbour.eml", "sample.mbox"}
    assert paths("Travel type:spreadsheet") == {"sample.xlsx", "sample.xls", "sample.ods",
                                                "harbour.eml#figures.xlsx"}
    assert paths("Slide type:presentation") == {"sample.pptx", "sample.odp"}


def test_search_json_carries_page_label_and_container(indexed: Path, office: Path,
                                                      tiny_model_dir: Path) -> None:
    out = CliRunner().invoke(cli, ["--data-dir", str(indexed), "--model", str(tiny_model_dir), "search",
                                   "Travel item", "--json", "--mode", "keyword"], catch_exceptions=False)
    results = {Path(r["path"]).name: r for r in json.loads(out.stdout)["results"]}
    assert (results["sample.xlsx"]["page"], results["sample.xlsx"]["page_label"]) == (2, "Travel")
    assert results["harbour.eml#figures.xlsx"]["container"] == str(office / "harbour.eml")
    assert results["sample.xlsx"]["container"] is None
    plain = CliRunner().invoke(cli, ["--data-dir", str(indexed), "--model", str(tiny_model_dir), "search",
                                     "Travel item", "--mode", "keyword"], catch_exceptions=False)
    assert "sample.xlsx  (sheet 2 “Travel”)" in plain.stdout


def test_corrupt_files_are_recorded_with_their_reason(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    for suffix in (*MAKERS, ".eml"):
        corrupt(folder / f"broken{suffix}")
    report = index_folder(folder, tmp_path / "data", tiny_model_dir)
    assert report.errors == len(MAKERS) + 1
    catalog = DataDir(tmp_path / "data").open_catalog(readonly=True)
    try:
        reasons = {Path(row.path).suffix: row.reason for row in catalog.files_with_status("error")}
    finally:
        catalog.close()
    for suffix, kind in ((".xlsx", "XLSX"), (".xls", "XLS"), (".ods", "ODS"), (".pptx", "PPTX"),
                         (".odp", "ODP"), (".rtf", "RTF"), (".eml", "EML"), (".mbox", "MBOX")):
        assert reasons[suffix].startswith(f"corrupt {kind}: "), reasons


# -- attachments follow their mail --------------------------------------------------------------
def _files(data: Path) -> dict[str, tuple]:
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        rows = catalog.files()
        by_id = {row.id: row.path for row in rows}
        chunks = dict(catalog.conn.execute("SELECT file_id, group_concat(id) FROM chunks GROUP BY file_id"))
        fts = catalog.conn.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        assert fts == catalog.chunk_count()  # no text left behind in FTS
        return {row.path: (row.kind, row.status, by_id.get(row.parent_id), chunks.get(row.id))
                for row in rows}
    finally:
        catalog.close()


def test_attachments_are_updated_moved_and_deleted_with_their_mail(tmp_path: Path,
                                                                   tiny_model_dir: Path) -> None:
    folder, data = tmp_path / "mail", tmp_path / "data"
    folder.mkdir()
    xlsx = make_xlsx(tmp_path / "figures.xlsx")
    eml = make_eml(folder / "harbour.eml", {"figures.xlsx": xlsx.read_bytes(), "log.txt": ATTACHED_TEXT,
                                            "broken.pdf": b"%PDF-1.4 truncated"})
    index_folder(folder, data, tiny_model_dir)
    files = _files(data)
    assert {p: v[:3] for p, v in files.items()} == {
        str(eml): ("eml", "indexed", None),
        f"{eml}#figures.xlsx": ("xlsx", "indexed", str(eml)),
        f"{eml}#log.txt": ("text", "indexed", str(eml)),
        f"{eml}#broken.pdf": (None, "error", str(eml)),
    }
    assert index_folder(folder, data, tiny_model_dir).unchanged == 1  # nothing to redo

    moved = folder / "sub" / "kept.eml"
    moved.parent.mkdir()
    eml.rename(moved)
    index_folder(folder, data, tiny_model_dir)
    after_move = _files(data)
    assert after_move[f"{moved}#figures.xlsx"][2:] == (str(moved), files[f"{eml}#figures.xlsx"][3])
    assert not any(path.startswith(str(eml)) for path in after_move)

    make_eml(moved, {"log.txt": ATTACHED_TEXT})  # edited: two attachments gone
    index_folder(folder, data, tiny_model_dir)
    assert set(_files(data)) == {str(moved), f"{moved}#log.txt"}

    moved.unlink()
    data_dir = DataDir(data)
    with data_dir.writer_lock():  # as the watcher runs a deleted path
        from indexer.write.pipeline import Indexer

        with Indexer(data_dir, Config(), embedder_for(str(tiny_model_dir))) as indexer:
            indexer.run([str(moved)], within=[str(folder)])
    assert _files(data) == {}


def test_a_file_on_disk_keeps_its_name_against_an_attachment(tmp_path: Path, tiny_model_dir: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    eml = make_eml(folder / "m.eml", {"log.txt": ATTACHED_TEXT})
    (folder / "m.eml#log.txt").write_text("a real file with a hash in its name")
    index_folder(folder, tmp_path / "data", tiny_model_dir)
    files = _files(tmp_path / "data")
    assert files[f"{eml}#log.txt"][2] is None  # the file on disk, not the attachment
    assert len(files) == 2


def test_open_and_reveal_act_on_the_mail_of_an_attachment(office: Path) -> None:
    eml = str(office / "harbour.eml")
    assert file_on_disk(f"{eml}#figures.xlsx") == eml
    assert file_on_disk(str(office / "sample.xlsx")) == str(office / "sample.xlsx")
    assert file_on_disk(f"{office}/missing.eml#x.pdf") == f"{office}/missing.eml#x.pdf"


def test_pages_in_words() -> None:
    assert page_text("/a/b.xlsx", 2, "Budget") == "sheet 2 “Budget”"
    assert page_text("/a/m.eml#b.pptx", 3, None) == "slide 3"
    assert page_text("/a/box.mbox", 7, "Re: rent") == "message 7 “Re: rent”"
    assert page_text("/a/b.pdf", 5) == "page 5" and page_text("/a/b.txt", None) == ""
    assert (page_badge("/a/b.ods", 1, "Accounts"), page_badge("/a/b.odp", 4, "Plan"),
            page_badge("/a/b.pdf", 5)) == ("Accounts", "slide 4", "p. 5")


# -- hostile archives ----------------------------------------------------------------------------
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "hahahahahahahahahaha">'
          + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
          + ']><p:sld xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main">&i;</p:sld>')


def _replaced(source: Path, target: Path, member: str, data: bytes) -> Path:
    import zipfile

    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, data if info.filename == member else old.read(info))
    return target


def test_zip_bombs_and_entity_expansion_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from indexer.ingest import budget
    from indexer.ingest.budget import OverBudget
    from indexer.ingest.extract import ExtractionError, office

    xlsx = make_xlsx(tmp_path / "plain.xlsx")
    bomb = _replaced(xlsx, tmp_path / "bomb.xlsx", "docProps/app.xml", b" " * (40 * 2**20))  # 40 MiB of air
    monkeypatch.setattr(budget, "_budget_bytes", 64 * 2**20)
    with pytest.raises(OverBudget, match=r"too large to index: docProps/app.xml inflates to 40 MiB"):
        extract(bomb)
    monkeypatch.setattr(office, "_MAX_PART_BYTES", 2**20)  # a streamed part is cut off as it inflates
    ods = make_ods(tmp_path / "plain.ods", rows=3000)
    with pytest.raises(ExtractionError, match=r"corrupt ODS: content.xml is too large"):
        extract(ods)
    laughs = _replaced(make_pptx(tmp_path / "plain.pptx"), tmp_path / "laughs.pptx", "ppt/slides/slide1.xml",
                       LAUGHS.encode())
    with pytest.raises(ExtractionError, match=r"corrupt PPTX: .*(amplification|entit)"):
        extract(laughs)
