"""Two-phase indexing: keyword search first, embeddings behind, resumable, most wanted first."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from helpers import assert_vectors_match_catalog, embedder_for, snapshot

from indexer.config import Config
from indexer.datadir import DataDir
from indexer.search.searcher import Searcher
from indexer.write.pipeline import PRIORITY_OPENED, Indexer


def make_docs(root: Path, count: int = 12) -> Path:
    docs = root / "docs"
    docs.mkdir()
    for i in range(count):
        (docs / f"note{i:02d}.txt").write_text(f"Note {i} about gardening, tomatoes and compost heap {i}.")
    (docs / "invoice.txt").write_text("Invoice INV-2024-0173 for the plumbing repair.")
    return docs


def indexer(data: Path, model: Path) -> Indexer:
    return Indexer(DataDir(data), Config(), embedder_for(str(model)))


def pending(data: Path) -> int:
    catalog = DataDir(data).open_catalog(readonly=True)
    try:
        return catalog.embedding_progress()[1]
    finally:
        catalog.close()


def test_keyword_hits_before_any_embedding(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    data = tmp_path / "data"
    with DataDir(data).writer_lock(), indexer(data, tiny_model_dir) as ix:
        report = ix.run([str(docs)], phase="text")
    assert report.indexed == 13 and report.chunks_embedded == 0
    assert pending(data) == 13
    keyword_only = Searcher(DataDir(data), None, Config())
    assert Path(keyword_only.search("INV-2024-0173", k=1)[0].path).name == "invoice.txt"
    keyword_only.close()
    hybrid = Searcher(DataDir(data), embedder_for(str(tiny_model_dir)), Config())
    top = hybrid.search("plumbing repair invoice", k=3, mode="hybrid")
    hybrid.close()
    assert Path(top[0].path).name == "invoice.txt"
    assert top[0].scores.dense is None  # found although not embedded yet


def test_text_phase_never_imports_torch(tmp_path: Path, tiny_model_dir: Path) -> None:
    docs = make_docs(tmp_path)
    code = (
        "import sys\n"
        "from indexer.config import Config\n"
        "from indexer.datadir import DataDir\n"
        "from indexer.models.embedding import TorchEmbedder\n"
        "from indexer.models.resolution import resolve_model\n"
        "from indexer.write.pipeline import Indexer\n"
        f"data = DataDir(__import__('pathlib').Path({str(tmp_path / 'data')!r}))\n"
        f"embedder = TorchEmbedder(resolve_model({str(tiny_model_dir)!r}))\n"
        "with data.writer_lock(), Indexer(data, Config(), embedder) as ix:\n"
        f"    report = ix.run([{str(docs)!r}], phase='text')\n"
        "assert report.indexed == 13, report\n"
        "loaded = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_interrupted_embedding_resumes_without_redoing_work(tmp_path: Path, tiny_model_dir: Path,
                                                             monkeypatch) -> None:
    import indexer.write.pipeline as pipeline

    monkeypatch.setattr(pipeline, "BATCH_CHUNKS", 4)
    docs = make_docs(tmp_path)
    data = tmp_path / "data"
    batches = []
    with DataDir(data).writer_lock(), indexer(data, tiny_model_dir) as ix:
        ix.run([str(docs)], phase="text")
        ix.embed_pending(should_stop=lambda: len(batches) >= 2, on_batch=lambda d, t: batches.append(d))
    assert pending(data) == 13 - 8
    first = {p: f["embeddings"] for p, f in snapshot(data).items()}
    encoded: list[int] = []
    embedder = embedder_for(str(tiny_model_dir))
    real = embedder.encode_passages
    monkeypatch.setattr(embedder, "encode_passages", lambda texts: encoded.append(len(texts)) or real(texts))
    with DataDir(data).writer_lock(), indexer(data, tiny_model_dir) as ix:
        report = ix.run([str(docs)])
    assert sum(encoded) == 5 and report.chunks_embedded == 5 and pending(data) == 0
    after = snapshot(data)
    for path, vectors in first.items():
        for old, new in zip(vectors, after[path]["embeddings"], strict=True):
            assert old is None or (old == new).all()  # finished chunks were not re-embedded
    assert_vectors_match_catalog(data)


def test_embedding_order_opened_then_recent_then_small(tmp_path: Path, tiny_model_dir: Path,
                                                      monkeypatch) -> None:
    import indexer.write.pipeline as pipeline

    docs = tmp_path / "docs"
    docs.mkdir()
    old = time.time() - 90 * 86400
    files = {
        "huge_old.txt": ("word " * 60_000, old),
        "small_old.txt": ("a small old note", old),
        "recent.txt": ("edited this week", time.time()),
        "used.txt": ("opened in an editor lately", old),
        "opened.txt": ("the user clicked this result", old),
    }
    for name, (text, mtime) in files.items():
        (docs / name).write_text(text)
        os.utime(docs / name, (mtime, mtime))
    monkeypatch.setattr(pipeline, "recently_used", lambda: {str(docs / "used.txt")})
    data = tmp_path / "data"
    with DataDir(data).writer_lock(), indexer(data, tiny_model_dir) as ix:
        ix.run([str(docs)], phase="text")
        assert ix.prioritize(str(docs / "opened.txt"))
        order = [row[0] for row in ix.catalog.conn.execute(
            "SELECT f.name FROM chunks c JOIN files f ON f.id = c.file_id WHERE c.embedding IS NULL "
            "GROUP BY f.id ORDER BY min(c.id)")]
        wanted = [ix.catalog.conn.execute("SELECT name FROM files f JOIN chunks c ON c.file_id = f.id "
                                          "WHERE c.id = ?", (chunk_id,)).fetchone()[0]
                  for chunk_id, _, _ in ix.catalog.pending_chunks(10_000)]
    assert list(dict.fromkeys(wanted)) == ["opened.txt", "used.txt", "recent.txt", "small_old.txt",
                                           "huge_old.txt"]
    assert set(order) == set(files)
    assert PRIORITY_OPENED > 0
