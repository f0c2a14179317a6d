"""The vector index behind `VectorStore`: the FAISS class provides it, filters are ids, and only
`indexer/store/` knows FAISS (so a compressed index or a shared store can take its place)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from indexer.store.catalog import Change
from indexer.store.vectors import VectorIndex, VectorStore, _new_index

ROOT = Path(__file__).resolve().parent.parent


def test_the_faiss_index_provides_the_protocol_and_filters_by_id(tmp_path: Path) -> None:
    store = VectorIndex(_new_index(4), generation=0)
    assert isinstance(store, VectorStore)
    vectors = np.eye(4, dtype=np.float32)
    store.apply(Change([10, 11, 12, 13], list(vectors), []), generation=1)
    query = np.array([[1.0, 0.9, 0.0, 0.0]], dtype=np.float32)
    scores, ids = store.search(query, 2)
    assert ids[0].tolist() == [10, 11]
    scores, ids = store.search(query, 2, allowed=np.array([11, 13]))
    assert ids[0].tolist() == [11, 13] and scores[0][0] > scores[0][1]
    store.apply(Change([], [], [11]), generation=2)
    assert sorted(store.ids().tolist()) == [10, 12, 13] and store.generation == 2
    store.save(tmp_path / "v.faiss")
    again = VectorIndex.read(tmp_path / "v.faiss")
    assert again is not None and again.generation == 2 and again.size == 3


def test_only_the_store_imports_faiss() -> None:
    offenders = []
    for file in sorted((ROOT / "indexer").rglob("*.py")) + sorted((ROOT / "desktop").rglob("*.py")):
        if (ROOT / "indexer" / "store") in file.parents:
            continue
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name == "faiss" or name.startswith("faiss.") for name in names):
                offenders.append(str(file.relative_to(ROOT)))
    assert offenders == []
