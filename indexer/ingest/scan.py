"""Walk the roots: every regular file not excluded, with the stat the catalog compares against.

The exclude rules (`indexer.ingest.excludes`) serve the initial scan, reconcile and the watcher's
events alike. A symlink to a file is yielded with the reason it is recorded without its
contents (`Found.skip`); directory symlinks are not followed, nor recorded, so symlink loops
cannot trap a scan.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from indexer.ingest.excludes import Excludes

__all__ = ["Excludes", "Found", "scan"]


@dataclass(frozen=True)
class Found:
    path: str
    size: int
    mtime_ns: int
    dev: int | None = None  # the device it is on: a folder that changes device was unmounted
    mode: int | None = None
    skip: str | None = None  # why the file is recorded without reading it (a symlink), else None


def scan(root: str, excludes: Excludes, on_error: Callable[[OSError], None] | None = None,
         relative_to: str | None = None) -> Iterator[Found]:
    """Regular files below `root` (a file root yields itself), excludes applied, sorted walk.

    Excludes are matched relative to `relative_to` (default: `root`). Whatever cannot be read
    (a missing root, a folder that cannot be listed, a file that cannot be stat'ed) goes to
    `on_error` with the path in `OSError.filename`: the caller must not take it for deleted.
    Symlinks come as `Found`s with a `skip` reason. A symlinked folder is walked only when it
    is one of the roots of `excludes`; any other path that is a symlink is judged as a link.
    """
    base = relative_to or root

    def report(err: OSError) -> None:
        if on_error:
            on_error(err)

    if os.path.islink(root) and not excludes.is_root(root):
        found = None if excludes.excluded_by_default(root) else _stat(root, excludes, report)
        if found:
            yield found
        return
    try:
        st = os.stat(root)
    except OSError as exc:
        exc.filename = root
        report(exc)
        return
    if not stat.S_ISDIR(st.st_mode):
        found = None if excludes.excluded_by_default(root) else _stat(root, excludes, report)
        if found:
            yield found
        return
    for dirpath, dirnames, filenames in os.walk(root, onerror=report, followlinks=False):
        dirnames[:] = sorted(
            d for d in dirnames
            if not excludes.excluded(base, os.path.join(dirpath, d), is_dir=True)
        )
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            if excludes.excluded(base, path):
                continue
            found = _stat(path, excludes, report)
            if found:
                yield found


def _stat(path: str, excludes: Excludes, report: Callable[[OSError], None]) -> Found | None:
    """A regular file as found, a symlink judged by its target (see `Excludes.link_reason`), else None."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:  # vanished
        return None
    except OSError as exc:  # no permission to look at it, an I/O error: not gone
        exc.filename = path
        report(exc)
        return None
    if stat.S_ISLNK(st.st_mode):
        reason = excludes.link_reason(path)  # None: a folder, not followed
        return Found(path, st.st_size, st.st_mtime_ns, st.st_dev, st.st_mode, reason) if reason else None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Found(path, st.st_size, st.st_mtime_ns, st.st_dev, st.st_mode)
