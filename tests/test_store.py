"""The store: catalogs of every earlier schema upgrade in place, embeddings kept; migrations recorded."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from fixtures.make_old_catalogs import DIM, FILES, MODEL, VERSIONS, fixture_path, hash_embedding
from sqlite_utils import Database

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.search.searcher import Searcher
from indexer.store.catalog import Catalog, CatalogOutdated
from indexer.store.migrations import MIGRATIONS, SCHEMA_VERSION, applied, migrate

NAMES = [m.name for m in MIGRATIONS.pending(Database(memory=True))]


class HashEmbedder:
    """Embeds like the fixtures were embedded, under the model name they record."""

    model_id = MODEL
    dim = DIM

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return np.vstack([hash_embedding(t) for t in texts])

    encode_passages = encode_queries


def raw(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_schema_version_counts_the_migrations() -> None:
    assert len(NAMES) == SCHEMA_VERSION and sorted(NAMES) == NAMES  # m001_, m002_, ... in order


@pytest.mark.parametrize(("schema", "commit"), [(s, c) for s, c, _ in VERSIONS], ids=lambda v: str(v))
def test_an_old_catalog_upgrades_without_re_embedding(schema: int, commit: str, tmp_path: Path) -> None:
    data = DataDir(tmp_path / "data")
    data.path.mkdir()
    shutil.copy(fixture_path(schema, commit), data.catalog_path)
    embeddings = raw(data.catalog_path, "SELECT id, hash, embedding FROM chunks ORDER BY id")
    assert raw(data.catalog_path, "SELECT value FROM meta WHERE key = 'schema_version'") == [(str(schema),)]

    if schema < SCHEMA_VERSION:  # a reader cannot upgrade, and says how
        with pytest.raises(CatalogOutdated, match="findling index"):
            Catalog(data.catalog_path, readonly=True)

    catalog = Catalog(data.catalog_path)  # the writer upgrades
    try:
        assert applied(catalog.conn) == NAMES and catalog.meta_get("schema_version") == str(SCHEMA_VERSION)
        assert catalog.embedding_progress()[1] == 0  # nothing to embed again
        assert raw(data.catalog_path, "SELECT id, hash, embedding FROM chunks ORDER BY id") == embeddings
        cjk = raw(data.catalog_path, "SELECT id FROM chunks WHERE text LIKE '東京%'")
        assert raw(data.catalog_path, "SELECT rowid FROM chunks_trigram") == cjk  # once each
        assert {f.path for f in catalog.files()} == set(FILES)
        with catalog.transaction():
            assert migrate(catalog.conn) == []  # applied once, recorded
    finally:
        catalog.close()

    searcher = Searcher(data, HashEmbedder(), Config(reranker=""))
    try:
        for mode in ("dense", "keyword", "hybrid"):
            top = searcher.search("tomatoes need sun", k=1, mode=mode)[0]
            assert top.path == "/fixture/docs/garden.txt", mode
        assert searcher.search("天気", k=1, mode="keyword")[0].path == "/fixture/docs/tokyo.txt"
        assert searcher.search("quarterly tax return", k=1, mode="dense")[0].path == "/fixture/docs/taxes.md"
    finally:
        searcher.close()


def test_a_new_catalog_records_every_migration(tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.sqlite")
    try:
        assert applied(catalog.conn) == NAMES and catalog.generation == 0
        columns = {row[1] for row in catalog.conn.execute("PRAGMA table_info(files)")}
        assert "priority" in columns
    finally:
        catalog.close()
    reader = Catalog(tmp_path / "catalog.sqlite", readonly=True)
    try:
        assert applied(reader.conn) == NAMES
    finally:
        reader.close()


def test_re_embedding_is_staged_resumed_per_model_and_swapped_in_at_once(tmp_path: Path) -> None:
    from indexer.store.staging import EmbeddingStaging

    data = DataDir(tmp_path / "data")
    data.path.mkdir()
    shutil.copy(fixture_path(3, "6dd77f5"), data.catalog_path)
    catalog = Catalog(data.catalog_path)
    try:
        before = raw(data.catalog_path, "SELECT id, embedding FROM chunks ORDER BY id")
        staging = EmbeddingStaging(catalog)
        staging.start("model-b")
        first = staging.unstaged(2)
        staging.stage([i for i, _ in first], np.ones((2, 4), dtype=np.float32))
        EmbeddingStaging(catalog).start("model-b")  # interrupted, then resumed with the same model
        assert staging.staged() == 2 and staging.unstaged(100)[0][0] not in {i for i, _ in first}
        assert raw(data.catalog_path, "SELECT id, embedding FROM chunks ORDER BY id") == before  # untouched
        staging.start("model-c")  # another model starts over
        assert staging.staged() == 0
        rest = staging.unstaged(100)
        generation = catalog.generation
        staging.stage([i for i, _ in rest], np.full((len(rest), 4), 2, dtype=np.float32))
        staging.swap_in("model-c", 4)
        assert (catalog.meta_get("model"), catalog.meta_get("dim")) == ("model-c", "4")
        assert catalog.generation == generation + 1 and catalog.meta_get("reindex_model") is None
        assert all(np.array_equal(v, np.full(4, 2, dtype=np.float32))
                   for v in catalog.stored_embeddings([i for i, _ in rest]).values())
    finally:
        catalog.close()


def test_m007_gives_chunks_a_source_and_keeps_ocr_results_by_content_hash(tmp_path: Path) -> None:
    """Schema 6 → 7: every chunk gets its source (text; name for name chunks), nothing re-embeds, and an
    OCR result kept for a hash goes with the last file of that hash."""
    data = DataDir(tmp_path / "data")
    data.path.mkdir()
    shutil.copy(fixture_path(6, "346e203"), data.catalog_path)
    conn = sqlite3.connect(data.catalog_path)
    with conn:  # an image file of the old release: skipped, found by its name
        conn.execute("INSERT INTO files (path, name, size, mtime_ns, hash, kind, status, reason, "
                     "n_chunks, indexed_at) VALUES ('/fixture/scan.png', 'scan.png', 5, 1, 'h-scan', "
                     "'image', 'skipped', 'image file', 1, 0)")
        conn.execute("INSERT INTO chunks (file_id, ordinal, text, char_start, char_end, n_tokens, hash, "
                     "is_name) VALUES (last_insert_rowid(), 0, 'scan.png', 0, 8, 1, 'n-scan', 1)")
    conn.close()
    embeddings = raw(data.catalog_path, "SELECT id, hash, embedding FROM chunks ORDER BY id")
    catalog = Catalog(data.catalog_path)
    try:
        assert "m007_chunk_sources_and_ocr_results" in applied(catalog.conn)
        assert raw(data.catalog_path, "SELECT id, hash, embedding FROM chunks ORDER BY id") == embeddings
        sources = dict(raw(data.catalog_path, "SELECT text, source FROM chunks"))
        assert sources.pop("scan.png") == "name" and set(sources.values()) == {"text"}
        assert catalog.ocr_counts() == {"pending": 1, "done": 0, "no_text": 0, "errors": 0}  # read next run
        garden = catalog.file("/fixture/docs/garden.txt")
        with catalog.transaction():
            catalog.put_ocr_result(garden.hash, "no_text", "no text found", "{}", 0.5)
            catalog.put_ocr_result("h-scan", "no_text", "no text found", "{}", 0.5)
            catalog.conn.execute("INSERT INTO files (path, name, size, mtime_ns, hash, status, indexed_at) "
                                 "VALUES ('/fixture/copy.txt', 'copy.txt', 1, 1, ?, 'indexed', 0)",
                                 (garden.hash,))
            catalog.delete_file("/fixture/docs/garden.txt")
            catalog.delete_file("/fixture/scan.png")
        assert catalog.ocr_cached(garden.hash) == "{}"  # a copy of that content remains
        assert catalog.ocr_cached("h-scan") is None  # the last file of its hash went
        with catalog.transaction():
            catalog.conn.execute("UPDATE files SET hash = 'edited' WHERE path = '/fixture/copy.txt'")
        assert catalog.ocr_cached(garden.hash) is None
    finally:
        catalog.close()


def test_a_schema6_catalog_gets_page_labels_and_attachments_without_re_embedding(tmp_path: Path) -> None:
    """m008: `chunks.page_label` and `files.parent_id` added to the last release's catalog, empty; the
    upgraded catalog stores a workbook's sheet names and a mail's attachments, which go with their mail."""
    from indexer.store.catalog import NewChunk

    data = DataDir(tmp_path / "data")
    data.path.mkdir()
    shutil.copy(fixture_path(6, "346e203"), data.catalog_path)
    embeddings = raw(data.catalog_path, "SELECT id, hash, embedding FROM chunks ORDER BY id")
    catalog = Catalog(data.catalog_path)
    try:
        assert "m008_page_labels_and_attachments" in applied(catalog.conn)
        assert raw(data.catalog_path, "SELECT id, hash, embedding FROM chunks ORDER BY id") == embeddings
        assert raw(data.catalog_path, "SELECT count(*) FROM chunks WHERE page_label IS NOT NULL") == [(0,)]
        assert {f.parent_id for f in catalog.files()} == {None}
        vector = hash_embedding("plumber invoice")
        with catalog.transaction():
            catalog.put_file("/fixture/docs/budget.xlsx", "budget.xlsx", 10, 1, "h1", "xlsx", "indexed", None,
                             [NewChunk(0, "plumber invoice 120", 2, 0, 19, 3, "c1", vector,
                                       page_label="Travel")])
            catalog.put_file("/fixture/docs/m.eml", "m.eml", 10, 1, "h2", "eml", "indexed", None,
                             [NewChunk(0, "From: ana", None, 0, 9, 3, "c2", vector)])
            mail = catalog.file("/fixture/docs/m.eml")
            catalog.put_file("/fixture/docs/m.eml#a.txt", "m.eml#a.txt", 3, 1, "h3", "text", "indexed", None,
                             [NewChunk(0, "attached words", None, 0, 14, 2, "c3", vector)], parent_id=mail.id)
        ids = [chunk_id for chunk_id, in catalog.conn.execute("SELECT id FROM chunks")]
        rows = {row.path: row for row in catalog.chunks(ids).values()}
        sheet = rows["/fixture/docs/budget.xlsx"]
        assert (sheet.page, sheet.page_label, sheet.container) == (2, "Travel", None)
        assert rows["/fixture/docs/m.eml#a.txt"].container == "/fixture/docs/m.eml"
        with catalog.transaction():
            catalog.delete_file("/fixture/docs/m.eml")
        assert catalog.file("/fixture/docs/m.eml#a.txt") is None
    finally:
        catalog.close()


@pytest.mark.parametrize("storage", ["float16", "int8", "float32"])
def test_m009_a_schema_6_catalog_upgrades_and_converts_its_embeddings_without_re_embedding(
        storage: str, tmp_path: Path) -> None:
    """m009 records the storage of the old blobs (float32); a writer configured for another storage
    converts them in place, once: no chunk waits for an embedding, searches find the same files,
    and reuse by hash and the reindex staging table store the new type."""
    from indexer.store.embedding_codec import decode, storage_of
    from indexer.store.staging import EmbeddingStaging
    from indexer.write.pipeline import Indexer

    data = DataDir(tmp_path / "data")
    data.path.mkdir()
    shutil.copy(fixture_path(6, "346e203"), data.catalog_path)
    before = {i: np.frombuffer(b, dtype=np.float32) for i, b in
              raw(data.catalog_path, "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL")}
    catalog = Catalog(data.catalog_path)
    try:
        assert "m009_embedding_storage" in applied(catalog.conn) and catalog.storage == "float32"
        staging = EmbeddingStaging(catalog)  # an interrupted reindex: its staged vectors convert too
        staging.start("another-model")
        staging.stage([min(before)], np.ones((1, DIM), dtype=np.float32) / np.sqrt(DIM))
    finally:
        catalog.close()
    with Indexer(data, Config(embedding_storage=storage), HashEmbedder()) as writer:
        assert writer.catalog.storage == storage
        assert writer.catalog.embedding_progress()[1] == 0  # nothing to embed again
        rows = raw(data.catalog_path, "SELECT id, embedding FROM chunks WHERE embedding IS NOT NULL")
        assert {i for i, _ in rows} == set(before) and {storage_of(b) for _, b in rows} == {storage}
        tolerance = {"float32": 0, "float16": 1e-3, "int8": 5e-3}[storage]
        for chunk_id, blob in rows:
            np.testing.assert_allclose(decode(blob), before[chunk_id], atol=tolerance)
        (staged,) = raw(data.catalog_path, "SELECT embedding FROM reindex_staging")[0]
        assert storage_of(staged) == storage
        reused = writer.catalog.embeddings_by_hash(
            [h for (h,) in raw(data.catalog_path, "SELECT hash FROM chunks LIMIT 1")])
        assert {storage_of(b) for b in reused.values()} == {storage}
        assert raw(data.catalog_path, "SELECT count(*) FROM vector_log") == [(0,)]  # not a change of vectors
    searcher = Searcher(data, HashEmbedder(), Config(reranker=""))
    try:
        assert searcher.search("tomatoes need sun", k=1, mode="dense")[0].path == "/fixture/docs/garden.txt"
        assert searcher.search("quarterly tax return", k=1, mode="hybrid")[0].path == "/fixture/docs/taxes.md"
    finally:
        searcher.close()
    with Indexer(data, Config(embedding_storage="float32"), HashEmbedder()) as writer:  # and back
        rows = raw(data.catalog_path, "SELECT embedding FROM chunks WHERE embedding IS NOT NULL")
        assert {storage_of(b) for (b,) in rows} == {"float32"} and writer.catalog.storage == "float32"


@pytest.mark.parametrize("dim", [1, 3, 4, 5, 32, 383, 384])
def test_every_embedding_storage_decodes_by_itself(dim: int) -> None:
    from indexer.store.embedding_codec import STORAGES, decode, encode, storage_of

    vector = np.random.default_rng(dim).normal(size=dim).astype(np.float32)
    vector /= np.linalg.norm(vector)
    for storage in STORAGES:
        blob = encode(vector, storage)
        assert storage_of(blob) == storage and decode(blob).shape == (dim,)
        error = {"float32": 0, "float16": 1e-3, "int8": 1 / 127}[storage]
        np.testing.assert_allclose(decode(blob), vector, atol=error * max(1.0, np.abs(vector).max()))
    if dim >= 8:  # the tags and the int8 scale cost 1 and 5 bytes
        assert len(encode(vector, "int8")) < len(encode(vector, "float16")) < len(encode(vector, "float32"))
