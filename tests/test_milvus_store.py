"""The shared index on Milvus Lite (issue 22), started in this process by the tests themselves.

Milvus Lite 3.x runs in-process (a gRPC server on threads over one .db directory); every client
here, writer and readers, talks to that one server, as machines would to a Milvus server. The
module's servers are released at its end, so nothing outlives it.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("pymilvus", reason="the milvus extra (pymilvus) is not installed")
pytest.importorskip("milvus_lite", reason="the milvus extra (milvus-lite) is not installed")

from click.testing import CliRunner  # noqa: E402
from helpers import embedder_for  # noqa: E402

from indexer.cli import cli  # noqa: E402
from indexer.config import Config  # noqa: E402
from indexer.datadir import DataDir, ModelMismatch  # noqa: E402
from indexer.search.searcher import Searcher  # noqa: E402
from indexer.store import milvus_mirror  # noqa: E402
from indexer.store.errors import StoreBusy, StoreEmpty, StoreUnavailable  # noqa: E402
from indexer.store.milvus_mirror import MilvusMirror  # noqa: E402
from indexer.store.milvus_schema import meta_collection  # noqa: E402
from indexer.store.milvus_store import MilvusStore, read_meta  # noqa: E402
from indexer.store.store_uri import BadStoreUri, parse_store_uri  # noqa: E402
from indexer.write.pipeline import Indexer  # noqa: E402

DOCS = {
    "sea.txt": "The lighthouse keeper watched the stormy sea every night from the rocky island.",
    "invoice.md": "Invoice INV-2024-0173 for garden tools and a lawn mower, paid in March.",
    "notes/recipe.txt": "Bake the bread with flour, water, salt and yeast for forty minutes.",
    "notes/draft.txt": "A draft letter about the garden party and the lawn games.",
    "chinese.txt": "我们使用中文检索系统来查找文件和资料。",
}


def uri(db: Path, collection: str) -> str:
    return f"milvus://{db}?collection={collection}"


def write_docs(folder: Path, docs: dict[str, str] = DOCS) -> Path:
    for name, text in docs.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def index_shared(docs: Path, data: Path, model: Path, store: str, *, mirror_too: bool = True,
                 messages: list[str] | None = None) -> str:
    """Index `docs` locally and, with `mirror_too`, into the store; what the mirror did at start."""
    embedder = embedder_for(str(model))
    data_dir = DataDir(data)
    with data_dir.writer_lock(), Indexer(data_dir, Config(), embedder) as indexer:
        if not mirror_too:
            indexer.run([str(docs)])
            return "local only"
        say = messages.append if messages is not None else (lambda text: None)
        mirror = MilvusMirror(parse_store_uri(store), indexer.catalog, embedder, "test", say=say).open()
        indexer.mirror = mirror
        try:
            indexer.run([str(docs)])
        finally:
            mirror.close()
        return mirror.last_sync


def reader(store: str, model: Path, **kwargs) -> Searcher:
    """A second client that knows only the store URI: no data dir, no catalog."""
    return Searcher(None, embedder_for(str(model)), Config(reranker=""),
                    store=MilvusStore(parse_store_uri(store), **kwargs))


def names(results) -> list[str]:
    return [Path(r.path).name for r in results]


def milvus_ids(store: str) -> dict[int, str]:
    target = parse_store_uri(store)
    client = MilvusStore(target).client
    rows = client.query(target.collection, filter="id >= 0", output_fields=["id", "path"])
    return {int(r["id"]): r["path"] for r in rows}


def catalog_ids(data: Path) -> dict[int, str]:
    from indexer.store.catalog import Catalog

    catalog = Catalog(DataDir(data).catalog_path, readonly=True)
    try:
        return {int(i): p for i, p in catalog.conn.execute(
            "SELECT c.id, f.path FROM chunks c JOIN files f ON f.id = c.file_id "
            "WHERE c.embedding IS NOT NULL")}
    finally:
        catalog.close()


@pytest.fixture(scope="module")
def shared(lite_db: Path, tiny_model_dir: Path,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("shared")
    docs = write_docs(root / "docs")
    store = uri(lite_db, "team")
    index_shared(docs, root / "data", tiny_model_dir, store)
    return docs, root / "data", store


def test_a_reader_with_only_the_uri_searches_dense_keyword_and_hybrid(shared, tiny_model_dir) -> None:
    docs, data, store = shared
    assert milvus_ids(store) == catalog_ids(data)  # every embedded passage, nothing else
    searcher = reader(store, tiny_model_dir)
    try:
        assert searcher.store.stats().passages == len(DOCS)
        assert names(searcher.search("INV-2024-0173", k=1, mode="keyword")) == ["invoice.md"]
        assert names(searcher.search("INV-2024-0173", k=1, mode="hybrid")) == ["invoice.md"]
        # the tiny model is random, but a passage's own text is its nearest neighbour
        assert names(searcher.search(DOCS["notes/recipe.txt"], k=1, mode="dense")) == ["recipe.txt"]
        result = searcher.search("lighthouse", k=1)[0]
        assert result.path == str(docs / "sea.txt") and result.highlights and result.match == "good"
    finally:
        searcher.close()


def test_fusion_on_milvus_ranks_as_the_local_index_does(shared, tiny_model_dir) -> None:
    docs, data, store = shared
    local = Searcher(DataDir(data), embedder_for(str(tiny_model_dir)), Config(reranker=""))
    remote = reader(store, tiny_model_dir)
    try:
        for query in ("garden lawn", "bread flour", "stormy sea night", "draft letter"):
            assert names(remote.search(query, k=3)) == names(local.search(query, k=3)), query
            weights = remote.store.query_terms(remote.parse(query)).weights
            assert set(weights) == set(local.store.query_terms(local.parse(query)).weights)
    finally:
        local.close()
        remote.close()


def test_filters_phrases_and_exclusions_become_milvus_expressions(shared, tiny_model_dir) -> None:
    docs, data, store = shared
    searcher = reader(store, tiny_model_dir)
    try:
        # dense search finds every passage weakly: the filters decide which can come back at all
        assert names(searcher.search("garden type:md", k=5)) == ["invoice.md"]
        assert names(searcher.search(f"garden in:{docs / 'notes'}", k=5)) == ["draft.txt", "recipe.txt"]
        assert names(searcher.search('"lawn games"', k=5)) == ["draft.txt"]
        assert names(searcher.search('"games lawn"', k=5)) == []  # a phrase is its words in a row
        without = names(searcher.search("garden -invoice", k=5))
        assert without[0] == "draft.txt" and "invoice.md" not in without and len(without) == 4
        assert names(searcher.search("garden after:2999-01-01", k=5)) == []
        listing = searcher.search("type:txt -bread", k=10)
        assert set(names(listing)) == {"sea.txt", "draft.txt", "chinese.txt"}
    finally:
        searcher.close()


def test_a_cjk_query_is_matched_by_trigrams(shared, tiny_model_dir) -> None:
    docs, data, store = shared
    searcher = reader(store, tiny_model_dir)
    try:
        assert names(searcher.search("中文检索", k=1, mode="keyword")) == ["chinese.txt"]
        assert names(searcher.search("检索", k=1, mode="keyword")) == ["chinese.txt"]  # two characters
        assert names(searcher.search('"查找文件"', k=5, mode="keyword")) == ["chinese.txt"]
    finally:
        searcher.close()


def test_path_map_shows_the_readers_mount(shared, tiny_model_dir) -> None:
    docs, data, store = shared
    searcher = reader(store, tiny_model_dir, path_map={str(docs): "/Volumes/share"})
    try:
        assert searcher.search("lighthouse", k=1)[0].path == "/Volumes/share/sea.txt"
        assert names(searcher.search("garden in:/Volumes/share/notes", k=5)) == ["draft.txt", "recipe.txt"]
    finally:
        searcher.close()


def test_edit_move_and_delete_reach_the_shared_index(lite_db, tiny_model_dir, tmp_path,
                                                     monkeypatch) -> None:
    from indexer.store import milvus_store

    monkeypatch.setattr(milvus_store, "COUNT_TTL", 0.0)
    docs = write_docs(tmp_path / "docs")
    store = uri(lite_db, "edits")
    index_shared(docs, tmp_path / "data", tiny_model_dir, store)
    early = reader(store, tiny_model_dir)  # open across the writer's changes
    before = early.store.query_terms(early.parse("lighthouse harbour")).weights
    (docs / "sea.txt").write_text("The harbour master counted the fishing boats at dawn.", encoding="utf-8")
    (docs / "archive").mkdir()
    shutil.move(docs / "notes" / "recipe.txt", docs / "archive" / "recipe.txt")
    (docs / "invoice.md").unlink()
    assert index_shared(docs, tmp_path / "data", tiny_model_dir, store) == "current"
    assert milvus_ids(store) == catalog_ids(tmp_path / "data")
    after = early.store.query_terms(early.parse("lighthouse harbour")).weights  # counted again
    early.close()
    assert after["harbour"] < before["harbour"] and after["lighthouse"] > before["lighthouse"]
    searcher = reader(store, tiny_model_dir)
    try:
        assert names(searcher.search("harbour boats", k=1, mode="keyword")) == ["sea.txt"]
        assert searcher.search("lighthouse", k=5, mode="keyword") == []
        assert searcher.search("INV-2024-0173", k=5, mode="keyword") == []
        assert searcher.search("bread flour", k=1)[0].path == str(docs / "archive" / "recipe.txt")
    finally:
        searcher.close()


def test_a_lost_write_is_retried_and_local_indexing_goes_on(lite_db, tiny_model_dir, tmp_path,
                                                          monkeypatch) -> None:
    from pymilvus.exceptions import MilvusException

    docs = write_docs(tmp_path / "docs", {"a.txt": "Alpha centauri is a star system."})
    store = uri(lite_db, "lost")
    index_shared(docs, tmp_path / "data", tiny_model_dir, store)
    (docs / "b.txt").write_text("Beta carotene colours carrots orange.", encoding="utf-8")
    original = MilvusMirror._write

    def unreachable(self, upserted, removed):  # noqa: ANN001
        raise MilvusException(message="connection refused")

    monkeypatch.setattr(MilvusMirror, "_write", unreachable)
    messages: list[str] = []
    index_shared(docs, tmp_path / "data", tiny_model_dir, store, messages=messages)  # Milvus "down"
    assert any("batches behind, retrying" in m for m in messages)
    assert "b.txt" in {Path(p).name for p in catalog_ids(tmp_path / "data").values()}  # locally indexed
    assert "b.txt" not in {Path(p).name for p in milvus_ids(store).values()}
    result = CliRunner().invoke(cli, ["status", "--data-dir", str(tmp_path / "data")])
    assert "batches behind, retrying" in result.output
    monkeypatch.setattr(MilvusMirror, "_write", original)
    assert index_shared(docs, tmp_path / "data", tiny_model_dir, store).startswith("reconciled")
    assert milvus_ids(store) == catalog_ids(tmp_path / "data")


def test_the_writer_replays_what_milvus_missed_by_chunk_id(lite_db, tiny_model_dir, tmp_path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.txt": "Alpha centauri is a star system."})
    store = uri(lite_db, "replay")
    index_shared(docs, tmp_path / "data", tiny_model_dir, store)
    (docs / "a.txt").write_text("Andromeda is a galaxy far away.", encoding="utf-8")
    (docs / "c.txt").write_text("Comets have icy cores.", encoding="utf-8")
    index_shared(docs, tmp_path / "data", tiny_model_dir, store, mirror_too=False)  # written while away
    assert milvus_ids(store) != catalog_ids(tmp_path / "data")
    assert index_shared(docs, tmp_path / "data", tiny_model_dir, store).startswith("replayed")
    assert milvus_ids(store) == catalog_ids(tmp_path / "data")


def test_a_live_lease_refuses_a_second_writer_and_a_stale_one_is_taken_over(
        lite_db, tiny_model_dir, tmp_path, monkeypatch) -> None:
    docs = write_docs(tmp_path / "docs", {"a.txt": "Alpha centauri is a star system."})
    store = uri(lite_db, "leased")
    index_shared(docs, tmp_path / "data", tiny_model_dir, store)
    embedder = embedder_for(str(tiny_model_dir))
    other = tmp_path / "other"
    with Indexer(DataDir(other), Config(), embedder) as indexer:
        first = MilvusMirror(parse_store_uri(store), indexer.catalog, embedder, "first writer").open()
        try:
            second = MilvusMirror(parse_store_uri(store), indexer.catalog, embedder, "second writer")
            with pytest.raises(StoreBusy, match="being written by first writer"):
                second.open()
        finally:
            first._stop.set()  # the first writer dies: its lease is no longer renewed
            first._renewer.join()
        lease = json.loads(read_meta(first.client, "leased")["lease"])
        lease["renewed"] = time.time() - milvus_mirror.LEASE_STALE - 1
        first.client.upsert(meta_collection("leased"), [{"key": "lease", "value": json.dumps(lease),
                                                         "pad": [0.0, 0.0]}])
        messages: list[str] = []
        third = MilvusMirror(parse_store_uri(store), indexer.catalog, embedder, "third writer",
                             say=messages.append).open()
        third.close()
        assert any("Taking over the shared index's lease from first writer" in m for m in messages)


def test_a_reader_or_writer_with_another_model_gets_the_mismatch_message(shared, tiny_e5_dir,
                                                                         tmp_path) -> None:
    docs, data, store = shared
    with pytest.raises(ModelMismatch, match="was built with the model"):
        reader(store, tiny_e5_dir)
    embedder = embedder_for(str(tiny_e5_dir))
    with Indexer(DataDir(tmp_path / "data"), Config(), embedder) as indexer, \
            pytest.raises(ModelMismatch, match="was built with the model"):
        MilvusMirror(parse_store_uri(store), indexer.catalog, embedder, "test").open()


def test_an_empty_collection_and_bad_uris_get_plain_messages(lite_db) -> None:
    with pytest.raises(StoreEmpty, match="No shared index"):
        MilvusStore(parse_store_uri(uri(lite_db, "nothing_here")))
    for bad in ("milvus://relative.db", "milvus:///no/suffix?collection=x", "milvus:///a.db?collection=1x",
                "http://host/c", "milvus://host:99999/c", "milvus:///a.db?nonsense=1"):
        with pytest.raises(BadStoreUri):
            parse_store_uri(bad)
    remote = parse_store_uri("milvus://ann:secret@milvus.example:19531/team?secure=true", {})
    assert (remote.uri, remote.collection, remote.token, remote.remote) == (
        "https://milvus.example:19531", "team", "ann:secret", True)
    assert "secret" not in remote.shown
    token = parse_store_uri("milvus://milvus.example/team", {"FINDLING_MILVUS_TOKEN": "t0k"})
    assert (token.uri, token.token) == ("http://milvus.example:19530", "t0k")


def test_the_cli_asks_before_text_leaves_the_machine_and_refuses_similar(tmp_path, monkeypatch) -> None:
    from indexer.store import milvus_store

    connected: list[str] = []
    monkeypatch.setattr(milvus_store, "connect", lambda target: connected.append(target.uri))
    data = ["--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(cli, ["search", "x", "--store", "milvus://milvus.example/team", *data])
    assert result.exit_code == 1 and "sends passage text" in result.output and "--yes" in result.output
    assert connected == []  # nothing was sent
    result = CliRunner().invoke(cli, [*data, "--store", "milvus:///a/b.db?collection=t", "similar", "f.txt"])
    assert result.exit_code == 1 and "not available with --store" in result.output
    result = CliRunner(env={"FINDLING_STORE": "milvus://x.db"}).invoke(cli, [*data, "duplicates"])
    assert result.exit_code == 2 and "absolute path ending in .db" in result.output


def test_an_unreachable_server_is_one_clear_message(tmp_path, monkeypatch) -> None:
    from indexer.store import milvus_store

    monkeypatch.setattr(milvus_store, "CONNECT_TIMEOUT", 1.0)
    monkeypatch.setenv("FINDLING_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(cli, ["--yes", "--store", "milvus://127.0.0.1:9/team", "search", "x",
                                      "--mode", "keyword"])
    assert result.exit_code == 1, result.output
    assert "cannot be reached" in result.output and "Traceback" not in result.output
    assert Config.load(tmp_path / "data").store_consent == ["milvus://127.0.0.1:9/team"]  # agreed once
    with pytest.raises(StoreUnavailable):
        milvus_store.connect(parse_store_uri("milvus://127.0.0.1:9/team", {}))
    assert os.environ.get("FINDLING_STORE") is None


def test_status_says_what_the_shared_index_holds(shared, tmp_path) -> None:
    docs, data, store = shared
    result = CliRunner().invoke(cli, ["status", "--store", store, "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert f"Shared index: {parse_store_uri(store).shown} (this index is its writer)" in result.output
    assert f"  Passages: {len(DOCS)} in {len(DOCS)} files" in result.output
    assert "  Writer:   no writer now" in result.output  # the writer's lease went with it
    assert "  Mirror:   in step with this index" in result.output  # the writer's own view, from its catalog
