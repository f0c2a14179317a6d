"""Gone or out of reach: whether a file the scan did not see may be purged from the index.

A file is purged only when its folder was read and the file is not there. It is kept, and
its folder reported as unavailable, when:
- the folder (or one above it) could not be listed or stat'ed (`EACCES`, `EIO`, …);
- the root it was indexed under no longer exists (moved, deleted, or an unplugged drive);
- the nearest folder that still exists is on another device than the file was seen on: an
  unmounted drive leaves its mount point behind as an empty folder on the parent's device.

Device numbers of removable and network filesystems can change from one mount to the next,
so a device that the same scan saw renumbered (files seen before on device A, now on B)
counts as the same. Files indexed before devices were recorded (schema 4) have none: for
them only the first two rules apply until a scan sees them.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from indexer.paths import as_text, key, os_path
from indexer.store.catalog import FileRow, Unavailable

NOT_FOUND = "not found: moved, deleted, or on a drive that is not connected"
OTHER_DEVICE = "on another drive than when indexed: the drive may be unmounted"


def unreadable_reason(err: OSError) -> str:
    """What the user reads for a folder or file the scan could not read."""
    return as_text(f"cannot be read: {err.strerror or err}")


class Availability:
    """Decides, for catalog files a scan did not see, which are gone and which out of reach."""

    def __init__(self, roots: Iterable[str], unreadable: dict[str, str],
                 renumbered: dict[int, int] | None = None) -> None:
        """`roots` and the `unreadable` folders are OS paths; what is `found` is keyed by catalog key."""
        # Longest first, so a file is judged under the innermost root that holds it.
        self.roots = sorted({os.path.abspath(r) for r in roots}, key=len, reverse=True)
        self.unreadable = unreadable
        self.renumbered = renumbered or {}
        self.found: dict[str, Unavailable] = {}
        self._stats: dict[str, os.stat_result | OSError] = {}

    def kept(self, row: FileRow) -> bool:
        """Whether `row` must be kept (its folder is recorded in `found`), rather than purged."""
        reason = self._out_of_reach(row)
        if reason is None:
            return False
        self.found.setdefault(reason.path, reason)
        return True

    def _out_of_reach(self, row: FileRow) -> Unavailable | None:
        path = os_path(row.path)
        for folder, reason in self.unreadable.items():
            if path == folder or path.startswith(folder.rstrip(os.sep) + os.sep):
                return Unavailable(key(folder), reason)
        root = self._root_of(path)
        if root is not None and root != path:
            st = self._stat(root)
            if isinstance(st, OSError):
                reason = NOT_FOUND if st.errno == errno.ENOENT else unreadable_reason(st)
                return Unavailable(key(root), reason)
        folder, st = self._nearest_existing(os.path.dirname(path), root)
        if folder is None:  # not even the folder of a file root is left
            return Unavailable(key(root), NOT_FOUND) if root is not None else None
        if isinstance(st, OSError):
            return Unavailable(key(folder), unreadable_reason(st))
        try:
            with os.scandir(folder):
                pass
        except OSError as exc:
            return Unavailable(key(folder), unreadable_reason(exc))
        if row.dev is not None and st.st_dev != row.dev and self.renumbered.get(row.dev) != st.st_dev:
            return Unavailable(key(folder), OTHER_DEVICE)
        return None

    def _root_of(self, path: str) -> str | None:
        for root in self.roots:
            if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
                return root
        return None

    def _nearest_existing(self, folder: str, root: str | None) -> tuple[str | None, os.stat_result | OSError]:
        """The deepest existing folder at or above `folder` (not above `root`), with its stat,
        or the error that stopped the climb (a folder that exists but cannot be looked into)."""
        stop = os.path.dirname(root) if root else None
        while True:
            st = self._stat(folder)
            if not isinstance(st, OSError):
                return folder, st
            if st.errno != errno.ENOENT:
                return folder, st
            parent = os.path.dirname(folder)
            if parent == folder or folder == stop:
                return None, st
            folder = parent

    def _stat(self, path: str) -> os.stat_result | OSError:
        if path not in self._stats:
            try:
                self._stats[path] = os.stat(path)
            except OSError as exc:
                self._stats[path] = exc
        return self._stats[path]
