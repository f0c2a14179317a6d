"""The folders an index covers: checking, adding and removing them (CLI `roots`, the app's Index tab)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from indexer.config import Config
    from indexer.datadir import DataDir
    from indexer.models.protocols import Embedder


def root_path(path: str) -> str:
    """The absolute form of a folder the user typed (`~` expanded), as roots are stored."""
    return os.path.abspath(os.path.expanduser(path))


def folder_problem(path: str) -> str | None:
    """Why `path` cannot be indexed, or None when it is a readable folder."""
    if not os.path.exists(path):
        return f"The folder {path} does not exist."
    if not os.path.isdir(path):
        return f"{path} is not a folder."
    if not os.access(path, os.R_OK | os.X_OK):
        return f"The folder {path} cannot be read (permission denied)."
    try:
        with os.scandir(path) as entries:
            next(entries, None)
    except OSError as exc:
        return f"The folder {path} cannot be read: {exc.strerror or exc}."
    return None


def with_roots(roots: list[str], added: list[str]) -> list[str]:
    """`roots` followed by the `added` ones it lacks, in order, without duplicates."""
    return list(dict.fromkeys([*roots, *added]))


def purge_roots(data: DataDir, config: Config, embedder: Embedder, roots: list[str]) -> int:
    """Remove every file under `roots` from the index (the caller holds the writer lock); files removed."""
    if not data.exists():
        return 0
    from indexer.write.pipeline import Indexer

    with Indexer(data, config, embedder) as indexer:
        return sum(indexer.remove_under(root) for root in roots)
