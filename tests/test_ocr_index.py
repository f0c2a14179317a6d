"""The OCR phase: images and scanned PDF pages found by what they say, read once per content."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from helpers import embedder_for, kill_9
from ocr_images import needs_latin_font, needs_ocr, scanned_pdf, text_image

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.search.searcher import Searcher
from indexer.write.pipeline import Indexer

pytestmark = [needs_ocr, needs_latin_font]


def index(data: Path, model: Path, folder: Path, **settings) -> object:
    with DataDir(data).writer_lock(), Indexer(DataDir(data), Config(**settings),
                                              embedder_for(str(model))) as ix:
        return ix.run([str(folder)])


def catalog_rows(data: Path, sql: str) -> list[tuple]:
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        return catalog.conn.execute(sql).fetchall()
    finally:
        catalog.close()


def search(data: Path, model: Path, text: str):
    searcher = Searcher(DataDir(data), embedder_for(str(model)), Config(reranker=""))
    try:
        return searcher.search(text, k=5, mode="keyword")
    finally:
        searcher.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ocr") / "docs"
    folder.mkdir()
    text_image(["Quittance de loyer", "Montant payé 712 euros"]).save(folder / "Screenshot 15-09-51.png")
    scanned_pdf(folder / "scan.pdf", [None, ["Contrat de location", "Garantie locative"]],
                text_layer={0: "Page one of the contract carries a real text layer with plenty of words."})
    scanned_pdf(folder / "born-digital.pdf", [None],
                text_layer={0: "A report typed in a word processor: its text layer is enough to index it."})
    (folder / "notes.txt").write_text("Plain notes about the garden.")
    return folder


@pytest.fixture(scope="module")
def indexed(corpus: Path, tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path):
    data = tmp_path_factory.mktemp("ocr-data") / "data"
    report = index(data, tiny_model_dir, corpus)
    return data, report


def test_an_image_is_found_by_its_text_and_loses_its_name_chunk(indexed, corpus: Path,
                                                                  tiny_model_dir: Path) -> None:
    data, report = indexed
    top = search(data, tiny_model_dir, "quittance loyer")[0]
    assert Path(top.path).name == "Screenshot 15-09-51.png"
    assert (top.source, top.found_by) == ("ocr", "content") and "Quittance de loyer" in top.snippet
    assert json.loads(json.dumps(top.to_dict()))["source"] == "ocr"
    rows = catalog_rows(data, "SELECT f.status, f.reason, f.ocr, c.source, c.is_name, c.embedding IS NULL "
                              "FROM files f JOIN chunks c ON c.file_id = f.id "
                              "WHERE f.name LIKE 'Screenshot%'")
    assert rows == [("indexed", None, "text", "ocr", 0, 0)]  # embedded, no name chunk left


def test_a_scanned_page_is_read_and_its_hit_names_the_page(indexed, tiny_model_dir: Path) -> None:
    data, _ = indexed
    top = search(data, tiny_model_dir, "garantie locative")[0]
    assert (Path(top.path).name, top.page, top.source) == ("scan.pdf", 2, "ocr")
    sources = catalog_rows(data, "SELECT c.page, c.source FROM chunks c JOIN files f ON f.id = c.file_id "
                                 "WHERE f.name = 'scan.pdf' ORDER BY c.ordinal")
    assert sources == [(1, "text"), (2, "ocr")]  # page 1 has its text layer: not read again


def test_a_text_layer_pdf_is_not_read(indexed) -> None:
    data, report = indexed
    rows = catalog_rows(data, "SELECT f.ocr, r.reason, (SELECT count(*) FROM chunks c WHERE c.file_id = f.id "
                              "AND c.source = 'ocr') FROM files f JOIN ocr_results r ON r.hash = f.hash "
                              "WHERE f.name = 'born-digital.pdf'")
    assert rows == [("none", "every page has a text layer", 0)]
    assert report.ocr_read == 3 and report.ocr_text == 2


def test_a_copy_or_a_move_is_never_read_again(indexed, corpus: Path, tiny_model_dir: Path,
                                              tmp_path: Path) -> None:
    data, _ = indexed
    work = tmp_path / "docs"
    shutil.copytree(corpus, work)
    copied_data = tmp_path / "data"
    shutil.copytree(data, copied_data)
    catalog = DataDir(copied_data).open_catalog()
    catalog.close()
    report = index(copied_data, tiny_model_dir, work)  # a new folder: the same contents again
    assert report.ocr_read == 0 and report.indexed == 4
    top = search(copied_data, tiny_model_dir, "quittance loyer")
    assert {Path(r.path).parent for r in top if r.source == "ocr"} >= {work}
    (work / "Screenshot 15-09-51.png").rename(work / "renamed.png")
    assert index(copied_data, tiny_model_dir, work).ocr_read == 0


def test_bad_images_are_recorded_and_the_run_goes_on(tmp_path: Path, tiny_model_dir: Path) -> None:
    from PIL import Image

    folder = tmp_path / "bad"
    folder.mkdir()
    Image.new("1", (10_000, 10_000)).save(folder / "bomb.png")
    Image.effect_noise((400, 300), 60).convert("RGB").save(folder / "cut.jpg", quality=90)
    (folder / "cut.jpg").write_bytes((folder / "cut.jpg").read_bytes()[:3000])
    Image.new("RGB", (40, 40), "white").save(folder / "icon.png")
    Image.effect_noise((640, 480), 20).convert("RGB").save(folder / "blank.png")
    data = tmp_path / "data"
    index(data, tiny_model_dir, folder)
    rows = {name: (status, reason) for name, status, reason in
            catalog_rows(data, "SELECT name, status, reason FROM files")}
    assert rows["bomb.png"] == rows["cut.jpg"] == ("skipped", "image file")  # still found by name
    assert rows["icon.png"] == ("skipped", "too small to hold text (40×40 px)")
    assert rows["blank.png"] == ("skipped", "no text found")
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        assert catalog.ocr_counts() == {"pending": 0, "done": 0, "no_text": 2, "errors": 2}
        failed = dict((Path(path).name, reason) for path, reason in catalog.ocr_failures())
    finally:
        catalog.close()
    assert failed["bomb.png"].startswith("image too large: 10000×10000 pixels, over the 40 MP cap")
    assert failed["cut.jpg"].startswith("corrupt or truncated image")


def test_a_file_over_the_time_cap_kills_the_worker_and_is_recorded(tmp_path: Path,
                                                                   tiny_model_dir: Path) -> None:
    folder = tmp_path / "slow"
    folder.mkdir()
    text_image(["Une longue page"] * 4, size=(1600, 1200)).save(folder / "page.png")
    data = tmp_path / "data"
    index(data, tiny_model_dir, folder, ocr_timeout_s=0.05)
    assert catalog_rows(data, "SELECT f.status, f.ocr, r.reason FROM files f JOIN ocr_results r "
                              "ON r.hash = f.hash") == [
        ("skipped", "error", "OCR failed: OCR timed out after 0.05 s")]


def test_the_watcher_reads_a_new_image_live_in_its_ocr_phase(tmp_path: Path, tiny_model_dir: Path) -> None:
    import time

    from indexer.write.watcher import WatchCallbacks, Watcher, WatchOptions

    folder = tmp_path / "live"
    folder.mkdir()
    (folder / "note.txt").write_text("A note about the garden.")
    data = tmp_path / "data"
    phases: list[str | None] = []
    watcher = Watcher(DataDir(data), Config(), embedder_for(str(tiny_model_dir)), [str(folder)],
                      WatchOptions(debounce=0.05, low_priority=False, battery=lambda: None),
                      WatchCallbacks(on_status=lambda status: phases.append(status.phase)))
    watcher.start()
    try:
        deadline = time.monotonic() + 60
        while watcher.status().state != "idle" and time.monotonic() < deadline:
            time.sleep(0.05)
        text_image(["Facture du plombier", "Total 348 euros"]).save(folder / "receipt.png")
        while time.monotonic() < deadline:
            rows = catalog_rows(data, "SELECT f.ocr, count(c.id), sum(c.embedding IS NULL) FROM files f "
                                      "JOIN chunks c ON c.file_id = f.id WHERE f.name = 'receipt.png'")
            if rows and rows[0][0] == "text" and rows[0][2] == 0:
                break
            time.sleep(0.1)
    finally:
        watcher.stop()
    assert rows[0][0] == "text", rows
    assert "ocr" in phases
    top = search(data, tiny_model_dir, "facture plombier")[0]
    assert (Path(top.path).name, top.source) == ("receipt.png", "ocr")


def test_cli_phases_status_and_a_reindex_that_never_reads_again(tmp_path: Path, tiny_model_dir: Path) -> None:
    from click.testing import CliRunner

    from indexer.cli import cli

    folder = tmp_path / "docs"
    folder.mkdir()
    text_image(["Attestation d'assurance", "Habitation 2024"]).save(folder / "scan.png")
    data = tmp_path / "data"

    def run(*args: str) -> str:
        result = CliRunner().invoke(cli, ["--data-dir", str(data), "--model", str(tiny_model_dir), *args],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    run("index", str(folder), "--phase", "embed")  # text and embeddings only: the image waits
    status = json.loads(run("status", "--json"))["ocr"]
    assert (status["pending"], status["done"], status["available"]) == (1, 0, True)
    run("index", str(folder))
    status = json.loads(run("status", "--json"))["ocr"]
    assert (status["pending"], status["done"], status["no_text"], status["errors"]) == (0, 1, 0, 0)
    before = catalog_rows(data, "SELECT hash, result, done_at FROM ocr_results")
    run("reindex")
    assert catalog_rows(data, "SELECT hash, result, done_at FROM ocr_results") == before
    assert json.loads(run("status", "--json"))["ocr"]["pending"] == 0
    found = json.loads(run("search", "attestation assurance", "--json", "--mode", "keyword"))["results"]
    assert (Path(found[0]["path"]).name, found[0]["source"]) == ("scan.png", "ocr")


def test_the_preview_marks_the_recognised_passage_on_the_page_and_the_image(indexed,
                                                                           tiny_model_dir: Path) -> None:
    from desktop.preview import PdfPreview, load_preview

    data, _ = indexed
    page_hit = search(data, tiny_model_dir, "garantie locative")[0]
    shown = load_preview(page_hit, "garantie locative", data)
    assert isinstance(shown, PdfPreview) and (shown.page, shown.pages) == (2, 2)
    # the page picture is 874 × 1240 px, the second line drawn at y = 30 + 80 (40 px text)
    scale = shown.image.height() / 1240
    tops = sorted(r.top() / scale for r in shown.passage_rects)
    assert len(tops) == 2 and 15 < tops[0] < 45 and 95 < tops[1] < 125
    assert shown.term_rects and all(shown.passage_rects[1].contains(r.center()) for r in shown.term_rects)

    image_hit = search(data, tiny_model_dir, "montant")[0]
    shown = load_preview(image_hit, "montant", data)
    assert isinstance(shown, PdfPreview) and shown.image.width() == 800
    (term,) = shown.term_rects
    assert 25 < term.left() < 45 and 85 < term.top() < 110  # "Montant" starts line 2, at (30, 94)


def test_kill_9_during_ocr_loses_at_most_the_file_in_flight(tmp_path: Path, tiny_model_dir: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    folder = tmp_path / "scans"
    folder.mkdir()
    for number in range(6):
        picture = text_image([f"Relevé numéro {number}", "Banque populaire"], size=(640, 240))
        picture.save(folder / f"r{number}.png")
    data = tmp_path / "data"
    env = {**os.environ, "FINDLING_DATA_DIR": str(data), "FINDLING_MODEL": str(tiny_model_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "indexer.cli", "index", str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def read() -> int:
        try:
            return len(catalog_rows(data, "SELECT hash FROM ocr_results"))
        except Exception:  # noqa: BLE001 - not created yet
            return 0

    deadline = time.monotonic() + 90
    while read() < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    left = kill_9(proc)
    assert not left, "the OCR worker outlived the killed index"
    at_kill = read()
    assert 2 <= at_kill < 6, f"kill landed outside the OCR phase ({at_kill} files read)"
    judged = catalog_rows(data, "SELECT count(*) FROM files WHERE ocr = 'text'")[0][0]
    assert judged == at_kill  # each read file was committed with its result, nothing half-done
    report = index(data, tiny_model_dir, folder)
    assert report.ocr_read == 6 - at_kill  # resumed: what was read is not read again
    assert catalog_rows(data, "SELECT count(*) FROM files WHERE ocr = 'text' "
                              "AND status = 'indexed'") == [(6,)]
