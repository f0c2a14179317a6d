"""What an index holds, for `findling status` and the app's Index panel alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.datadir import DataDir


@dataclass(frozen=True)
class IndexStats:
    """Counts of one index (all zero while there is none)."""

    indexed: int = 0
    skipped: int = 0
    errors: int = 0
    chunks: int = 0
    model: str | None = None
    failed: list[tuple[str, str | None]] = field(default_factory=list)  # (path, reason), by path
    unavailable: list[tuple[str, str]] = field(default_factory=list)  # folders out of reach: (path, reason)
    chunks_embedded: int = 0
    chunks_pending: int = 0
    embedding_eta_s: int | None = 0  # from the last embedding rate; None: unknown; 0: nothing pending
    catalog_bytes: int = 0  # measured only when asked for (`sizes=True`)
    index_bytes: int = 0
    skipped_files: list[tuple[str, str | None]] = field(default_factory=list)  # (path, reason), by path
    ocr: dict[str, int] = field(default_factory=lambda: {"pending": 0, "done": 0, "no_text": 0, "errors": 0})
    ocr_eta_s: int | None = 0  # from the recent seconds per file; None: unknown; 0: nothing pending
    ocr_failed: list[tuple[str, str | None]] = field(default_factory=list)  # (path, reason), by path
    vector_index: dict | None = None  # kind, passages, memory_bytes, recall_at_10 (`vector_index_info`)
    embedding_backends: dict[str, int] = field(default_factory=dict)  # passages embedded by each backend


def vector_index_info(recorded: str | None, data: DataDir) -> dict | None:
    """The vector index as the writer recorded it after its last rebuild (kind, passages, memory,
    recall@10 on 200 stored vectors), checked against the saved file's header; None without a file."""
    from indexer.store.vector_file import header_of

    header = header_of(data.vectors_path)
    if header is None:
        return None
    info = json.loads(recorded) if recorded else {}
    if info.get("kind") != header.kind:  # never rebuilt by this release's writer: what the file says
        exact = header.kind == "flat"
        info = {"kind": header.kind, "passages": None, "memory_bytes": data.vectors_path.stat().st_size,
                "recall_at_10": 1.0 if exact else None, "recall_queries": 0}
    info["exact"] = header.kind == "flat"
    return info


def file_size(path: Path) -> int:
    """Bytes of a SQLite file with its -wal and -shm companions."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def index_stats(data: DataDir, sizes: bool = False) -> IndexStats:
    """The index's counts, read from its catalog (read only); with `sizes`, its files' sizes too."""
    if not data.exists():
        return IndexStats()
    catalog = data.open_catalog(readonly=True)
    try:
        counts = catalog.status_counts()
        embedded, pending, _ = catalog.embedding_progress()
        rate = float(catalog.meta_get("embed_chunks_per_s") or 0)
        eta = round(pending / rate) if pending and rate else None
        stats = IndexStats(counts["indexed"], counts["skipped"], counts["error"], catalog.chunk_count(),
                           catalog.meta_get("model"),
                           [(f.path, f.reason) for f in catalog.files_with_status("error")],
                           [(u.path, u.reason) for u in catalog.unavailable()],
                           embedded, pending, eta if pending else 0,
                           skipped_files=[(f.path, f.reason) for f in catalog.files_with_status("skipped")],
                           ocr=catalog.ocr_counts(), ocr_failed=catalog.ocr_failures(),
                           vector_index=vector_index_info(catalog.meta_get("vector_index"), data)
                           if embedded else None,  # nothing embedded: no vector index to speak of
                           embedding_backends=catalog.embedding_backends() if embedded else {})
        shown = stats.vector_index
        if shown is not None and shown["exact"] and shown["passages"] is None:
            shown["passages"] = embedded  # an exact index holds every embedded passage
        per_file = catalog.ocr_seconds_per_file()
        pending_ocr = stats.ocr["pending"]
        stats = replace(stats, ocr_eta_s=(round(pending_ocr * per_file) if per_file else None)
                        if pending_ocr else 0)
    finally:
        catalog.close()
    if not sizes:
        return stats
    vectors = data.vectors_path.stat().st_size if data.vectors_path.exists() else 0
    return replace(stats, catalog_bytes=file_size(data.catalog_path), index_bytes=vectors)


def vector_line(info: dict | None) -> str:
    """The vector index in one line: its kind, size, memory and measured recall."""
    if info is None:
        return "none yet (made once passages are embedded)"
    kind = "exact (flat)" if info["exact"] else f"compressed ({info['kind'].upper()})"
    parts = [kind]
    if info.get("passages") is not None:
        parts.append(f"{info['passages']:,} passages")
    size = info["memory_bytes"]
    shown = f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{max(1, round(size / 1e3))} kB"
    parts.append(f"{shown} in memory")
    if not info["exact"]:
        recall = info.get("recall_at_10")
        parts.append("recall@10 not measured yet" if recall is None else
                     f"recall@10 {recall:.3f} on {info.get('recall_queries', 0)} stored vectors")
    return ", ".join(parts)
