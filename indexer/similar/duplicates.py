"""`duplicates`: groups of files that are copies or near-copies of each other, by wasted bytes.

- Exact: the same content hash (files over the size cap have none and are left out; so are
  empty files). Files known only by their name take part here only.
- Near: a pair is confirmed when the estimated Jaccard similarity of their word-shingle sets
  (`indexer.similar.signature`) is at least `MIN_JACCARD` and the cosine of their file vectors at
  least `min_similarity` (default `MIN_SIMILARITY`). Shingles keep a document on a related
  subject or two programs sharing a licence header apart (few 5-word runs in common), and keep
  a translation apart (no words in common); the embedding check keeps apart texts that share
  boilerplate but say different things. Candidate pairs come from MinHash LSH banding
  (`BANDS` bands of `ROWS` rows: a pair with Jaccard 0.5 becomes a candidate with probability
  0.87, one with 0.8 with probability 1 - 1e-9), never from all pairs.

Groups are the connected components of confirmed pairs (exact copies joined first). A group's
`similarity` is the lowest confirmed cosine in it (1.0 for exact copies), `wasted_bytes` its
total size minus its largest file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from indexer.similar.signature import NUM_PERM
from indexer.similar.vectors import FileVectors
from indexer.store import summaries
from indexer.store.catalog import Catalog

MIN_JACCARD = 0.5
MIN_SIMILARITY = 0.9
BANDS, ROWS = 32, 4
_STAR_ABOVE = 64  # a bucket this large is joined as a star around its first file, not as all pairs
assert BANDS * ROWS == NUM_PERM


@dataclass(frozen=True)
class GroupFile:
    path: str
    size: int
    mtime: float


@dataclass
class DuplicateGroup:
    kind: str  # "exact" or "near"
    similarity: float
    wasted_bytes: int
    files: list[GroupFile] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "similarity": round(self.similarity, 4),
            "wasted_bytes": self.wasted_bytes,
            "files": [{"path": f.path, "size": f.size, "mtime": f.mtime} for f in self.files],
        }


@dataclass
class Duplicates:
    groups: list[DuplicateGroup]
    not_compared: int = 0  # files with text not yet embedded (or summarised): left out of near groups

    def to_dict(self) -> dict:
        return {"groups": [g.to_dict() for g in self.groups], "not_compared": self.not_compared}


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, item: int) -> int:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def candidate_pairs(signatures: np.ndarray) -> np.ndarray:
    """Row pairs (i < j) that share at least one LSH band, as an (n, 2) array."""
    found: list[np.ndarray] = []
    with np.errstate(over="ignore"):
        for band in range(BANDS):
            rows = signatures[:, band * ROWS : (band + 1) * ROWS].astype(np.uint64)
            keys = np.zeros(len(signatures), dtype=np.uint64)
            for column in range(ROWS):
                keys = keys * np.uint64(0x9E3779B97F4A7C15) + rows[:, column]
            order = np.argsort(keys, kind="stable")
            sorted_keys = keys[order]
            starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
            sizes = np.diff(np.r_[starts, len(keys)])
            for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
                members = np.sort(order[start : start + size])
                if size > _STAR_ABOVE:
                    found.append(np.column_stack([np.full(size - 1, members[0]), members[1:]]))
                else:
                    i, j = np.triu_indices(size, 1)
                    found.append(np.column_stack([members[i], members[j]]))
    if not found:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.vstack(found), axis=0)


def find_duplicates(
    catalog: Catalog, vectors: FileVectors, min_similarity: float = MIN_SIMILARITY
) -> Duplicates:
    conn = catalog.conn
    joined = _UnionFind()
    weakest: dict[tuple[int, int], float] = {}
    exact = summaries.same_content_groups(conn)
    representative: dict[int, int] = {}
    for group in exact:
        for file_id in group:
            joined.union(file_id, group[0])
            representative[file_id] = group[0]
    ids, signatures = summaries.all_signatures(conn)
    keep = np.array([representative.get(int(i), int(i)) == int(i) for i in ids], dtype=bool)
    ids, signatures = ids[keep], signatures[keep]
    row_of = {int(file_id): row for row, file_id in enumerate(vectors.ids)}
    has_vector = np.array([int(i) in row_of for i in ids], dtype=bool)
    not_compared = int((~has_vector).sum())
    ids, signatures = ids[has_vector], signatures[has_vector]
    edges: list[tuple[int, int, float]] = []
    if len(ids) > 1:
        pairs = candidate_pairs(signatures)
        if len(pairs):
            jaccard = (signatures[pairs[:, 0]] == signatures[pairs[:, 1]]).mean(axis=1)
            pairs = pairs[jaccard >= MIN_JACCARD]
            a = vectors.matrix[[row_of[int(i)] for i in ids[pairs[:, 0]]]]
            b = vectors.matrix[[row_of[int(i)] for i in ids[pairs[:, 1]]]]
            cosine = np.einsum("ij,ij->i", a, b) if len(pairs) else np.zeros(0)
            for (i, j), value in zip(pairs, cosine):
                if value >= min_similarity:
                    edges.append((int(ids[i]), int(ids[j]), float(value)))
    for a_id, b_id, _ in edges:
        joined.union(a_id, b_id)
    members: dict[int, list[int]] = {}
    for file_id in joined.parent:
        members.setdefault(joined.find(file_id), []).append(file_id)
    for a_id, _, value in edges:
        root = joined.find(a_id)
        weakest[root] = min(weakest.get(root, 1.0), value)
    files = summaries.files(conn, joined.parent)
    groups = []
    for root, group in members.items():
        rows = sorted((files[i] for i in group if i in files), key=lambda f: f.path)
        if len(rows) < 2:
            continue
        hashes = {f.hash for f in rows}
        same = len(hashes) == 1 and None not in hashes
        sizes = [f.size for f in rows]
        groups.append(
            DuplicateGroup(
                "exact" if same else "near",
                1.0 if same else weakest.get(root, 1.0),
                sum(sizes) - max(sizes),
                [GroupFile(f.path, f.size, f.mtime_ns / 1e9) for f in rows],
            )
        )
    groups.sort(key=lambda g: (-g.wasted_bytes, g.files[0].path))
    return Duplicates(groups, not_compared)
