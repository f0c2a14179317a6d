"""Walk the roots: every regular file not excluded, with the stat the catalog compares against.

Excludes are gitignore-style patterns (pathspec) matched relative to each root, and the
same rules serve the initial scan, reconcile and the watcher's events. Directory
symlinks are not followed, so symlink loops cannot trap a scan.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec


@dataclass(frozen=True)
class Found:
    path: str
    size: int
    mtime_ns: int
    dev: int | None = None  # the device it is on: a folder that changes device was unmounted
    mode: int | None = None


class Excludes:
    def __init__(self, patterns: list[str]) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines(patterns)

    def excluded(self, root: str, path: str, is_dir: bool = False) -> bool:
        relative = os.path.relpath(path, root)
        if relative.startswith(".."):
            return False
        return self.spec.match_file(relative + ("/" if is_dir else ""))

    def excluded_anywhere(self, roots: list[str], path: str, is_dir: bool = False) -> bool:
        """Excluded relative to the root that contains `path`, or any of its parent folders."""
        for root in roots:
            relative = os.path.relpath(path, root)
            if relative.startswith(".."):
                continue
            parts = Path(relative).parts
            for depth in range(1, len(parts)):
                if self.spec.match_file(os.path.join(*parts[:depth]) + "/"):
                    return True
            return self.excluded(root, path, is_dir)
        return False


def scan(root: str, excludes: Excludes, on_error: Callable[[OSError], None] | None = None,
         relative_to: str | None = None) -> Iterator[Found]:
    """Regular files below `root` (a file root yields itself), excludes applied, sorted walk.

    Excludes are matched relative to `relative_to` (default: `root`). Whatever cannot be read
    (a missing root, a folder that cannot be listed, a file that cannot be stat'ed) goes to
    `on_error` with the path in `OSError.filename`: the caller must not take it for deleted.
    """
    base = relative_to or root

    def report(err: OSError) -> None:
        if on_error:
            on_error(err)

    try:
        st = os.stat(root)
    except OSError as exc:
        exc.filename = root
        report(exc)
        return
    if not stat.S_ISDIR(st.st_mode):
        found = _stat(root, report)
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
            found = _stat(path, report)
            if found:
                yield found


def _stat(path: str, report: Callable[[OSError], None]) -> Found | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:  # broken symlink, vanished
        return None
    except OSError as exc:  # no permission to look at it, an I/O error: not gone
        exc.filename = path
        report(exc)
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    return Found(path, st.st_size, st.st_mtime_ns, st.st_dev, st.st_mode)
