"""File names are stored losslessly: a name with undecodable bytes and one spelling the same
bytes as `\\xNN` are two files, each found and opened; schema-3 catalogs upgrade in place."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from helpers import embedder_for, index_folder, snapshot

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.paths import display_name, key, os_path
from indexer.search.searcher import Searcher
from indexer.store.catalog import SCHEMA_VERSION, Catalog
from indexer.write.pipeline import Indexer

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file names are bytes")
FIXTURE = Path(__file__).parent / "fixtures" / "catalog_schema3.sqlite"
FIXTURE_ROOT = "/findling-fixture"  # the root the fixture's paths were rebased to when it was made
FIXTURE_FILES = {  # name → content, as tests/fixtures/make_catalog_schema3.py made them
    b"plain.txt": b"Sourdough bread starter notes.",
    b"back\\slash.txt": b"Pour-over coffee beans and a grinder.",
    b"\\x80.txt": b"Moon craters seen through a telescope.",
    b"dir\\name/inner.txt": b"Violin sonata in A minor.",
    b"caf\xe9.txt": b"Chess opening gambit.",
}


def test_keys_are_reversible_and_cannot_collide() -> None:
    names = [b"/d/plain.txt", b"/d/\x80", b"/d/\\x80", b"/d/\\\\x80", b"/d/\\", b"/d/a\\b\xff\\c",
             "/d/caf\u00e9 \u65e5\u672c.txt".encode()]
    paths = [os.fsdecode(n) for n in names]
    keys = [key(p) for p in paths]
    assert len(set(keys)) == len(keys)
    assert [os.fsencode(os_path(k)) for k in keys] == names
    for k in keys:
        k.encode("utf-8")  # valid text: SQLite can store it
    assert key("/d/plain.txt") == "/d/plain.txt"  # most paths are their own key
    assert key(os.fsdecode(b"/d/a\\b/c\x80")).startswith(key("/d/a\\b") + "/")  # a folder's key prefixes
    assert display_name(key(os.fsdecode(b"/d/caf\xe9.txt"))) == "caf\\xe9.txt"


def test_an_undecodable_name_and_its_spelling_are_two_files(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    raw = os.fsencode(docs)
    with open(raw + b"/\x80.txt", "wb") as fh:
        fh.write(b"lemon sorbet recipe")
    with open(raw + b"/\\x80.txt", "wb") as fh:
        fh.write(b"mango chutney recipe")
    (docs / "sub\\dir").mkdir()
    (docs / "sub\\dir" / "kiwi.txt").write_text("kiwi jam recipe")
    data = tmp_path / "data"
    report = index_folder(docs, data, tiny_model_dir)
    assert report.indexed == 3 and report.errors == 0
    assert sorted(snapshot(data)) == sorted([str(docs) + "/\\x80.txt", str(docs) + "/\\\\x80.txt",
                                             str(docs) + "/sub\\\\dir/kiwi.txt"])
    searcher = Searcher(DataDir(data), embedder_for(str(tiny_model_dir)), Config(reranker=""))
    try:
        expected = (("lemon", b"/\x80.txt"), ("mango", b"/\\x80.txt"), ("kiwi", b"/sub\\dir/kiwi.txt"))
        for word, name in expected:
            results = searcher.search(word, k=5, mode="keyword")
            assert len(results) == 1, word
            with open(os_path(results[0].path), "rb") as fh:  # the stored path opens that very file
                assert word.encode() in fh.read()
            assert os.fsencode(os_path(results[0].path)) == raw + name
        folder = searcher.search(f"recipe in:{docs}/sub\\dir", k=5, mode="keyword")
        assert [os_path(r.path) for r in folder] == [str(docs / "sub\\dir" / "kiwi.txt")]
    finally:
        searcher.close()
    again = index_folder(docs, data, tiny_model_dir)  # the keys match on a rescan: nothing changes
    assert (again.unchanged, again.indexed, again.removed) == (3, 0, 0)
    os.remove(raw + b"/\x80.txt")
    gone = index_folder(docs, data, tiny_model_dir)
    assert gone.removed == 1 and str(docs) + "/\\\\x80.txt" in snapshot(data)


def test_the_desktop_preview_opens_each_of_them(tmp_path: Path, tiny_model_dir: Path) -> None:
    pytest.importorskip("PySide6")
    from desktop.preview import TextPreview, load_preview

    docs = tmp_path / "docs"
    docs.mkdir()
    with open(os.fsencode(docs) + b"/\x80.txt", "wb") as fh:
        fh.write(b"lemon sorbet recipe")
    (docs / "\\x80.txt").write_text("mango chutney recipe")
    data = tmp_path / "data"
    index_folder(docs, data, tiny_model_dir)
    searcher = Searcher(DataDir(data), None, Config(reranker=""))
    try:
        for word in ("lemon", "mango"):
            [result] = searcher.search(word, k=5, mode="keyword")
            preview = load_preview(result, word)
            assert isinstance(preview, TextPreview), preview
            assert word in preview.html
    finally:
        searcher.close()


def _install_fixture(tmp_path: Path, model_id: str) -> tuple[Path, Path]:
    """The schema-3 fixture as a data dir whose files exist below a fresh root, as they were."""
    root = tmp_path / "root"
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(FIXTURE, data / "catalog.sqlite")
    conn = sqlite3.connect(data / "catalog.sqlite")
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("3",)
        conn.execute("UPDATE files SET path = ? || substr(path, ?)", (str(root), len(FIXTURE_ROOT) + 1))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'model'", (model_id,))
        conn.commit()
        stats = dict(conn.execute("SELECT path, mtime_ns FROM files"))
    finally:
        conn.close()
    for name, content in FIXTURE_FILES.items():
        path = os.fsencode(root) + b"/" + name
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(content)
        old_key = os.fsdecode(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        os.utime(path, ns=(stats[old_key], stats[old_key]))
    return root, data


def _chunks(data: Path) -> dict[str, list[tuple[int, str, bytes | None]]]:
    conn = sqlite3.connect(data / "catalog.sqlite")
    try:
        rows = conn.execute("SELECT f.path, c.id, c.text, c.embedding FROM chunks c JOIN files f "
                            "ON f.id = c.file_id ORDER BY c.id").fetchall()
    finally:
        conn.close()
    found: dict[str, list] = {}
    for path, *chunk in rows:
        found.setdefault(path, []).append(tuple(chunk))
    return found


def test_a_schema_3_catalog_upgrades_keeping_its_embeddings(tmp_path: Path, tiny_model_dir: Path) -> None:
    embedder = embedder_for(str(tiny_model_dir))
    root, data = _install_fixture(tmp_path, embedder.model_id)
    before = _chunks(data)
    assert all(e is not None for chunks in before.values() for *_, e in chunks)  # all embedded
    Catalog(data / "catalog.sqlite").close()  # the writer upgrades
    after = _chunks(data)
    r = str(root)
    renamed = {r + "/plain.txt": r + "/plain.txt", r + "/back\\slash.txt": r + "/back\\\\slash.txt",
               r + "/\\x80.txt": r + "/\\\\x80.txt", r + "/dir\\name/inner.txt": r + "/dir\\\\name/inner.txt",
               r + "/caf\\xe9.txt": r + "/caf\\xe9.txt"}  # this one was the undecodable byte
    assert {renamed[p]: chunks for p, chunks in before.items()} == after  # same ids, texts, embeddings
    catalog = Catalog(data / "catalog.sqlite", readonly=True)
    try:
        assert catalog.meta_get("schema_version") == str(SCHEMA_VERSION)
    finally:
        catalog.close()

    dir_ = DataDir(data)
    with dir_.writer_lock(), Indexer(dir_, Config(), embedder) as indexer:
        report = indexer.run([r])
    assert (report.unchanged, report.indexed, report.removed) == (4, 1, 0)  # nothing re-read but one
    final = _chunks(data)
    for path in renamed.values():
        if path != r + "/caf\\xe9.txt":
            assert final[path] == after[path]  # kept as they were
    # the file held back by its name in schema 3 now has its content indexed
    assert [text for _, text, _ in final[r + "/caf\\xe9.txt"]] == ["Chess opening gambit."]
    searcher = Searcher(dir_, embedder, Config(reranker=""))
    try:
        [hit] = searcher.search("gambit", k=3, mode="keyword")
        assert os.fsencode(os_path(hit.path)) == os.fsencode(root) + b"/caf\xe9.txt"
    finally:
        searcher.close()
