"""The files of one index in its data dir, and the one-writer lock."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from indexer.config import Config, ensure_private_dir
from indexer.private import FILE_MODE, tighten, write_private_text
from indexer.store.catalog import CATALOG_FILE, Catalog
from indexer.store.vector_file import VECTORS_FILE

LOCK_FILE = "writer.lock"
WRITER_FILE = "writer.json"  # who holds the lock: {"pid", "holder"}, for the busy message
APP_HOLDER = "The Findling app"


class IndexBusy(RuntimeError):
    """Another process is writing this index."""

    def __init__(self, message: str, holder: str | None = None, pid: int | None = None) -> None:
        super().__init__(message)
        self.holder = holder
        self.pid = pid


class ModelMismatch(RuntimeError):
    """The index was built with another embedding model."""


class DataDir:
    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def catalog_path(self) -> Path:
        return self.path / CATALOG_FILE

    @property
    def vectors_path(self) -> Path:
        return self.path / VECTORS_FILE

    def exists(self) -> bool:
        return self.catalog_path.exists()

    def config(self) -> Config:
        return Config.load(self.path)

    def open_catalog(self, readonly: bool = False) -> Catalog:
        if not readonly:
            ensure_private_dir(self.path)
        return Catalog(self.catalog_path, readonly=readonly)

    def recorded_model(self) -> str | None:
        """The model the index was built with (queries must use it), or None for a new index."""
        if not self.exists():
            return None
        try:
            catalog = self.open_catalog(readonly=True)
        except sqlite3.OperationalError:  # the writer made the file and has not committed its schema yet
            return None
        try:
            return catalog.meta_get("model")
        finally:
            catalog.close()

    @contextmanager
    def writer_lock(self, holder: str = "findling") -> Iterator[None]:
        """Held while writing; a second writer fails at once with a message naming the holder.
        Taking it makes every file in the data dir private (0600), whatever made them."""
        from filelock import FileLock, Timeout  # the writer's (a search never takes it)

        ensure_private_dir(self.path)
        lock = FileLock(str(self.path / LOCK_FILE), timeout=0, mode=FILE_MODE)
        try:
            lock.acquire()
        except Timeout:
            raise self._busy() from None
        try:
            tighten(self.path)
            with suppress(OSError):  # only for the message: never a reason to fail
                record = json.dumps({"pid": os.getpid(), "holder": holder})
                write_private_text(self.path / WRITER_FILE, record)
            yield
        finally:
            with suppress(OSError):
                (self.path / WRITER_FILE).unlink()
            lock.release()

    def _busy(self) -> IndexBusy:
        try:
            writer = json.loads((self.path / WRITER_FILE).read_text())
            holder, pid = str(writer["holder"]), int(writer["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            holder, pid = None, None
        import psutil  # only when a writer is recorded

        if pid is not None and not psutil.pid_exists(pid):
            holder, pid = None, None  # a record left behind: the holder is someone else
        if holder == APP_HOLDER:
            return IndexBusy(
                f"{APP_HOLDER} (pid {pid}) is indexing {self.path} and keeps it up to date itself. "
                "Add folders in its Index tab, or quit it (tray menu → Quit) and try again. "
                "Searching works meanwhile.", holder, pid)
        who = f"Another Findling process ({holder}, pid {pid})" if holder else "Another Findling process"
        return IndexBusy(f"{who} is writing the index in {self.path}. "
                         "Wait for it to finish (or stop it), then try again.", holder, pid)
