"""The folders an index covers: checking, adding and removing them (CLI `roots`, the app's Index tab)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from indexer.config import Config
    from indexer.datadir import DataDir
    from indexer.models.protocols import Embedder
    from indexer.write.pipeline import Indexer, StoreMirror


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


def excluded_root_problem(path: str, config: Config, data_dir: Path | None = None) -> str | None:
    """Why nothing under the root `path` would be indexed although it is readable (a folder the
    default excludes cover, such as ~/.cache, or the data dir), or None."""
    from indexer.ingest.excludes import Excludes

    excludes = Excludes.for_config(config, data_dir)
    for form in (os.path.abspath(path), os.path.realpath(path)):
        reason = excludes.default_reason(form, os.path.isdir(form))
        if reason:
            fix = ("" if reason.startswith("it is inside the index's") else
                   " To index it anyway, change `use_default_excludes` to false in the index's config.toml "
                   "(`findling config path` prints where it is).")
            return f"Nothing in {path} is indexed: {reason}.{fix}"
    return None


def with_roots(roots: list[str], added: list[str]) -> list[str]:
    """`roots` followed by the `added` ones it lacks, in order, without duplicates."""
    return list(dict.fromkeys([*roots, *added]))


def purge_roots(data: DataDir, config: Config, embedder: Embedder, roots: list[str],
                mirror: Callable[[Indexer], StoreMirror | None] | None = None) -> int:
    """Remove every file under `roots` from the index (the caller holds the writer lock); files removed.
    `mirror` opens the shared store the removal is mirrored into (`--store`; None: not now)."""
    if not data.exists():
        return 0
    from indexer.write.pipeline import Indexer

    with Indexer(data, config, embedder) as indexer:
        indexer.mirror = mirror(indexer) if mirror is not None else None
        try:
            return sum(indexer.remove_under(root) for root in roots)
        finally:
            if indexer.mirror is not None:
                indexer.mirror.catch_up(force=True)
                indexer.mirror.close()
