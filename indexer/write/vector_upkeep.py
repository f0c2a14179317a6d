"""The writer's upkeep of the vector index: which kind it should be, and its background rebuilds.

At or above `compress_above` embedded passages the flat index gives way to a compressed one
(`indexer.store.compressed`); below `SWITCH_BACK` × that size it goes back to flat. The compressed
base is trained in a background thread at low priority, on its own read-only catalog connection,
while the current index keeps serving; `take()` (called at the writer's save points) swaps the
result in once it has replayed what changed meanwhile, saves it and records it in the catalog's
meta (`vector_index`: kind, passages, memory, recall@10 on 200 stored vectors). A compressed index
is rebuilt the same way when its delta and tombstones outgrow a share of its base. A kill -9 in the
middle loses only the thread's work: the old file and the catalog's log are untouched, and the
next writer start sees the same need and builds again.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from indexer.store.catalog import Catalog
from indexer.store.compressed import BuildReport, CompressedIndex, build_compressed
from indexer.store.vectors import VectorIndex, VectorStore

SWITCH_BACK = 0.9  # back to flat below this share of `compress_above` (no flapping at the edge)
META_KEY = "vector_index"


def lower_thread_priority() -> None:
    """Nice the calling thread (Linux: a thread is a task, and FAISS's OpenMP workers it starts
    inherit it). Elsewhere `setpriority` would renice the whole process, so it is left as is."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def record(catalog: Catalog, store: VectorStore, report: BuildReport | None) -> None:
    """What `findling status` shows about the index, kept in the catalog's meta."""
    info = {"kind": store.kind, "passages": store.size, "memory_bytes": store.memory_bytes,
            "recall_at_10": 1.0 if store.exact else (report.recall_at_10 if report else None),
            "recall_queries": 0 if store.exact or report is None else min(200, report.passages),
            "built_at": round(time.time())}
    if report is not None:
        info.update(nlist=report.nlist, nprobe=report.nprobe, build_seconds=round(report.seconds, 1))
    with catalog.transaction():
        catalog.meta_set(META_KEY, json.dumps(info))


@dataclass
class _Build:
    thread: threading.Thread
    base_seq: int
    stop: threading.Event
    result: tuple[CompressedIndex, BuildReport] | None = None
    error: BaseException | None = None


class VectorUpkeep:
    """Decides the index kind for the writer and runs its compressed builds in the background."""

    def __init__(self, catalog_path: Path, compress_above: int) -> None:
        self.catalog_path = catalog_path
        self.compress_above = compress_above
        self._build: _Build | None = None
        self.last_error: str | None = None  # a failed build is not retried by this writer

    @property
    def building(self) -> bool:
        return self._build is not None

    @property
    def finished(self) -> bool:
        """A build ran to its end (or failed) and waits for `take`."""
        return self._build is not None and not self._build.thread.is_alive()

    def trim_floor(self, seq: int) -> int:
        """How far the log may be trimmed: never past what a running build will replay from."""
        return seq if self._build is None else min(seq, self._build.base_seq)

    def wants_compressed(self, size: int, current_exact: bool) -> bool:
        if current_exact:
            return size >= self.compress_above
        return size >= SWITCH_BACK * self.compress_above

    def consider(self, store: VectorStore, catalog: Catalog) -> VectorStore | None:
        """Start a build the index needs; returns a flat index to use now when it should go back."""
        if self._build is not None:
            return None
        compressed = self.wants_compressed(store.size, store.exact) and self.last_error is None
        if not compressed:
            return None if store.exact else VectorIndex.build(catalog, store.dim)
        if store.exact or (isinstance(store, CompressedIndex) and store.needs_merge()):
            self.start(catalog, store.dim)
        return None

    def start(self, catalog: Catalog, dim: int) -> None:
        stop = threading.Event()
        build = _Build(threading.Thread(target=lambda: self._run(build, dim), name="findling-vector-build",
                                        daemon=True), catalog.log_seq(), stop)
        self._build = build
        build.thread.start()

    def _run(self, build: _Build, dim: int) -> None:
        lower_thread_priority()
        reader = Catalog(self.catalog_path, readonly=True)
        try:
            build.result = build_compressed(reader, dim, should_stop=build.stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - reported by take(); the flat index keeps serving
            build.error = exc
        finally:
            reader.close()

    def take(self, catalog: Catalog, wait: bool = False) -> tuple[CompressedIndex, BuildReport] | None:
        """The finished build, caught up with the catalog, and its report; None while it runs, or
        when it failed (`last_error`) or was abandoned."""
        build = self._build
        if build is None:
            return None
        if wait:
            build.thread.join()
        if build.thread.is_alive():
            return None
        self._build = None
        if build.error is not None:
            self.last_error = f"{type(build.error).__name__}: {build.error}"
            return None
        if build.result is None:
            self.last_error = "the build stopped early"
            return None
        store, report = build.result
        if not store.catch_up(catalog):
            self.last_error = "the catalog's vector log was trimmed during the build"
            return None
        return store, report

    def abandon(self) -> None:
        """Stop a running build between two batches and wait for it."""
        if self._build is not None:
            self._build.stop.set()
            self._build.thread.join()
            self._build = None
            self.last_error = "abandoned"
