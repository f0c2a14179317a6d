"""The indexing pipeline on real folders: incremental updates, moves, deletes and bad input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import (
    assert_same_index,
    assert_vectors_match_catalog,
    fts_rowids,
    index_folder,
    snapshot,
)

from indexer.config import Config
from indexer.datadir import DataDir

LONG_TEXT = "\n\n".join(
    f"Paragraph {i} talks about topic number {i}. It has a second sentence about the weather in town {i}."
    for i in range(60)
)


def make_docs(root: Path) -> Path:
    docs = root / "docs"
    (docs / "notes").mkdir(parents=True)
    (docs / "long.txt").write_text(LONG_TEXT, encoding="utf-8")
    (docs / "notes" / "cat.md").write_text("# Cat\n\nThe cat sat on the mat.", encoding="utf-8")
    (docs / "code.go").write_text("package main\n\nfunc main() { println(\"hello\") }\n")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return docs


def chunk_ids(data_dir: Path, path: Path) -> list[int]:
    catalog = DataDir(data_dir).open_catalog(readonly=True)
    try:
        row = catalog.file(str(path))
        return [cid for cid, _, _ in catalog.old_chunks(row.id)]
    finally:
        catalog.close()


def test_index_then_rerun_skips_unchanged(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    report = index_folder(docs, tmp_path / "data", tiny_model_dir)
    assert (report.indexed, report.skipped, report.errors) == (3, 1, 0)
    assert report.chunks_embedded > 3  # the long file is split
    assert_vectors_match_catalog(tmp_path / "data")
    again = index_folder(docs, tmp_path / "data", tiny_model_dir)
    assert (again.unchanged, again.indexed, again.chunks_embedded) == (4, 0, 0)


def test_chunks_respect_budget_and_offsets(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    index_folder(docs, tmp_path / "data", tiny_model_dir, Config(chunk_tokens=64, chunk_overlap=8))
    chunks = snapshot(tmp_path / "data")[str(docs / "long.txt")]["chunks"]
    assert len(chunks) > 5
    for text, page, start, end in chunks:
        assert LONG_TEXT[start:end] == text
        assert page is None
    assert chunks[0][2] == 0 and chunks[-1][3] == len(LONG_TEXT.rstrip())


def test_edit_reembeds_only_changed_chunks(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    data = tmp_path / "data"
    config = Config(chunk_tokens=64, chunk_overlap=0)
    index_folder(docs, data, tiny_model_dir, config)
    before = chunk_ids(data, docs / "long.txt")
    (docs / "long.txt").write_text(LONG_TEXT + "\n\nA brand new closing paragraph.", encoding="utf-8")
    report = index_folder(docs, data, tiny_model_dir, config)
    after = chunk_ids(data, docs / "long.txt")
    assert report.indexed == 1
    assert 1 <= report.chunks_embedded <= 2
    assert after[: len(before) - 1] == before[:-1]  # unchanged chunks keep their ids
    assert_vectors_match_catalog(data)
    fresh = tmp_path / "fresh"
    index_folder(docs, fresh, tiny_model_dir, config)
    assert_same_index(data, fresh)


def test_move_keeps_chunks_and_embeddings(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    data = tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    ids = chunk_ids(data, docs / "long.txt")
    (docs / "archive").mkdir()
    os.rename(docs / "long.txt", docs / "archive" / "renamed.txt")
    shutil.move(str(docs / "notes"), str(docs / "archive" / "notes"))
    report = index_folder(docs, data, tiny_model_dir)
    assert report.moved == 2 and report.chunks_embedded == 0
    assert chunk_ids(data, docs / "archive" / "renamed.txt") == ids
    assert str(docs / "long.txt") not in snapshot(data)
    assert_vectors_match_catalog(data)
    fresh = tmp_path / "fresh"
    index_folder(docs, fresh, tiny_model_dir)
    assert_same_index(data, fresh)


def test_delete_leaves_nothing_behind(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    data = tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    (docs / "long.txt").unlink()
    shutil.rmtree(docs / "notes")
    report = index_folder(docs, data, tiny_model_dir)
    assert report.removed == 2
    catalog = DataDir(data).open_catalog(readonly=True)
    chunk_rows = {r[0] for r in catalog.conn.execute("SELECT id FROM chunks")}
    catalog.close()
    assert fts_rowids(data) == chunk_rows
    assert sorted(snapshot(data)) == sorted(str(p) for p in (docs / "code.go", docs / "photo.png"))
    assert_vectors_match_catalog(data)


def test_bad_inputs_are_recorded_and_the_run_goes_on(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("A perfectly good file about gardening.", encoding="utf-8")
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.7\n garbage that is not a pdf at all")
    (docs / "empty.txt").write_bytes(b"")
    (docs / "big.txt").write_text("x" * 3 * 1024 * 1024)
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02binary\x00" * 100)
    (docs / "loop").symlink_to(docs, target_is_directory=True)
    bad_name = os.fsencode(str(docs)) + b"/bad-\xff-name.txt"
    with open(bad_name, "wb") as fh:
        fh.write(b"text behind an undecodable file name")
    report = index_folder(docs, tmp_path / "data", tiny_model_dir, Config(max_file_mb=1))
    files = snapshot(tmp_path / "data")
    assert files[str(docs / "good.txt")]["status"] == "indexed"
    assert files[str(docs / "corrupt.pdf")]["status"] == "error"
    assert "pdf" in files[str(docs / "corrupt.pdf")]["reason"].lower()
    assert files[str(docs / "empty.txt")] | {"embeddings": None} == {
        "status": "skipped", "reason": "empty file", "embeddings": None,
        "chunks": [("empty.txt", None, 0, 9)],  # still found by its name
    }
    assert "size cap" in files[str(docs / "big.txt")]["reason"]
    assert files[str(docs / "binary.txt")]["reason"] == "binary file"
    escaped = [p for p in files if "bad-" in p]  # stored under its lossless key, content indexed
    assert escaped == [str(docs / "bad-\\xff-name.txt")]
    assert files[escaped[0]]["status"] == "indexed"
    assert files[escaped[0]]["chunks"][0][0] == "text behind an undecodable file name"
    assert report.errors == 1 and report.indexed == 2
    assert not any("loop" in p for p in files)  # directory symlinks are not followed


def test_file_vanishing_mid_read_is_not_indexed(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = make_docs(tmp_path)
    import worker_tasks

    import indexer.ingest.prepare as prepare

    monkeypatch.setattr(prepare, "_extract_in_worker", worker_tasks.vanishing_mid_read)
    report = index_folder(docs, tmp_path / "data", tiny_model_dir)
    assert report.vanished == [str(docs / "notes" / "cat.md")]
    assert str(docs / "notes" / "cat.md") not in snapshot(tmp_path / "data")
    assert report.indexed == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file_is_an_error(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    (docs / "secret.txt").write_text("hidden")
    os.chmod(docs / "secret.txt", 0)
    index_folder(docs, tmp_path / "data", tiny_model_dir)
    assert snapshot(tmp_path / "data")[str(docs / "secret.txt")]["status"] == "error"


def test_default_excludes_skip_sensitive_and_vcs_folders(tmp_path: Path, tiny_model_dir: Path) -> None:
    home = tmp_path / "home"
    for folder in (".ssh", ".git", "node_modules", ".cache", "notes"):
        (home / folder).mkdir(parents=True)
        (home / folder / "file.txt").write_text(f"content in {folder}")
    (home / "notes" / "report.txt.part").write_text("partial download")
    (home / "notes" / "~$draft.txt").write_text("office lock file")
    index_folder(home, tmp_path / "data", tiny_model_dir)
    assert sorted(snapshot(tmp_path / "data")) == [str(home / "notes" / "file.txt")]


def test_corrupt_vector_file_is_rebuilt_from_catalog(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    data = tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    vectors = DataDir(data).vectors_path
    vectors.write_bytes(b"garbage")
    from helpers import searcher

    reader = searcher(data, tiny_model_dir)
    assert reader.search("cat mat", k=5)  # rebuilt in memory by the reader
    reader.close()
    assert vectors.read_bytes() == b"garbage"  # a reader never writes
    index_folder(docs, data, tiny_model_dir)  # the writer repairs it
    assert_vectors_match_catalog(data)


def _signatures(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    catalog = DataDir(data_dir).open_catalog(readonly=True)
    try:
        return {path: (blob, shingles) for path, blob, shingles in catalog.conn.execute(
            "SELECT path, minhash, shingles FROM files JOIN file_signatures ON file_id = files.id")}
    finally:
        catalog.close()


def test_workers_cut_the_chunks_and_signatures_the_writer_would(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from indexer.write import pipeline

    docs = make_docs(tmp_path)
    for i in range(6):
        (docs / f"extra-{i}.txt").write_text(LONG_TEXT.replace("topic", f"subject {i}"), encoding="utf-8")
    config = Config(chunk_tokens=64, chunk_overlap=8)
    monkeypatch.setattr(pipeline, "WRITER_CHUNKS_UP_TO", 10**6)  # every run chunks in the writer
    index_folder(docs, tmp_path / "writer", tiny_model_dir, config)

    chunked_here: list[str] = []
    writer_chunking = pipeline.chunk_extracted
    monkeypatch.setattr(pipeline, "WRITER_CHUNKS_UP_TO", 0)  # every run chunks in the workers
    monkeypatch.setattr(pipeline, "chunk_extracted",
                        lambda item, *args: chunked_here.append(item.path) or writer_chunking(item, *args))
    index_folder(docs, tmp_path / "workers", tiny_model_dir, config)

    assert chunked_here == []
    assert_same_index(tmp_path / "workers", tmp_path / "writer")
    signatures = _signatures(tmp_path / "workers")
    assert len(signatures) == 9 and all(shingles for _, shingles in signatures.values())
    assert signatures == _signatures(tmp_path / "writer")


def test_without_a_tokenizer_file_the_writer_chunks(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from indexer.models.embedding import TorchEmbedder
    from indexer.write import pipeline

    docs = make_docs(tmp_path)
    for i in range(6):
        (docs / f"extra-{i}.txt").write_text(f"Extra note number {i} about the harbour.", encoding="utf-8")
    monkeypatch.setattr(TorchEmbedder, "tokenizer_file", property(lambda self: None))
    chunked_here: list[str] = []
    writer_chunking = pipeline.chunk_extracted
    monkeypatch.setattr(pipeline, "chunk_extracted",
                        lambda item, *args: chunked_here.append(item.path) or writer_chunking(item, *args))
    report = index_folder(docs, tmp_path / "data", tiny_model_dir)
    assert report.indexed == 9 and len(chunked_here) == 9
