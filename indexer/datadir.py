"""The files of one index in its data dir, and the one-writer lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from indexer.catalog import CATALOG_FILE, Catalog
from indexer.config import Config, ensure_private_dir
from indexer.vectors import VECTORS_FILE

LOCK_FILE = "writer.lock"


class IndexBusy(RuntimeError):
    """Another process is writing this index."""


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
        catalog = self.open_catalog(readonly=True)
        try:
            return catalog.meta_get("model")
        finally:
            catalog.close()

    @contextmanager
    def writer_lock(self) -> Iterator[None]:
        """Held while writing; a second writer fails at once with a clear message."""
        ensure_private_dir(self.path)
        lock = FileLock(str(self.path / LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise IndexBusy(
                f"Another Findling process is writing the index in {self.path}. "
                "Wait for it to finish (or stop it), then try again."
            ) from None
        try:
            yield
        finally:
            lock.release()
