"""The watcher's queue of paths to reconcile: debounced per path, coalesced, bounded.

Events only mark a path dirty; what happened to it is read from disk when its batch runs,
so create + modify + modify is one update and create + delete is nothing. The paths of a
move are linked and always taken together, so the pipeline sees both ends and records a
move instead of a delete and a new file; paths that are gone (deleted, or the source of a
move) join whichever batch is taken next, so a move whose ends arrive as separate events
(a new folder noticed before the move into it) is still seen whole. New paths wait at least
`MOVE_WINDOW`: watchdog reports the source of a move it could not pair (the destination
folder was not watched yet) as a delete only half a second after the move, and the new
path must still be pending then to be taken with it. When the queue is full,
the root of the incoming path is marked for a rescan and its pending paths are dropped: the
rescan covers them, and memory stays bounded whatever the size of the burst.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

MOVE_WINDOW = 0.75  # watchdog's inotify move pairing holds an unpaired source for 0.5 s
GRACE = 0.02  # paths due this soon join the batch being taken: one event burst, one batch


class Dirty(NamedTuple):
    """A path an event touched: is it a folder, and did the event create it, change it or take it away."""

    path: str
    is_dir: bool
    kind: Literal["created", "changed", "gone"] = "changed"


@dataclass
class Pending:
    """One dirty path: its root, whether the event was about a folder, and when it is due.

    `due` moves with every event (debounce); `deadline` does not, so a file that never stops
    changing is still indexed now and then.
    """

    root: str
    is_dir: bool
    gone: bool
    due: float
    deadline: float


class PendingPaths:
    """Thread-safe: observers `add`, the indexing worker `take`s batches and `wait`s for more."""

    def __init__(
        self,
        debounce: float,
        max_delay: float,
        limit: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.debounce = debounce
        self.max_delay = max_delay
        self.limit = limit
        self.peak = 0  # the most paths ever held at once
        self._clock = clock
        self._cond = threading.Condition()
        self._signalled = False
        self._entries: dict[str, Pending] = {}
        self._links: dict[str, set[str]] = {}
        self._rescans: dict[str, None] = {}  # roots, in the order they overflowed
        self._in_flight = False  # a batch was taken and is not finished yet

    def __len__(self) -> int:
        with self._cond:
            return len(self._entries)

    def add(self, root: str, paths: Sequence[Dirty], delay: float | None = None) -> None:
        """Mark `paths` (below `root`) dirty; several paths are one move, kept together."""
        now = self._clock()
        debounce = self.debounce if delay is None else delay
        deadline = now + max(debounce, self.max_delay)
        with self._cond:
            if root in self._rescans:
                return  # the coming rescan of the root covers it
            fresh = sum(1 for dirty in paths if dirty.path not in self._entries)
            if len(self._entries) + fresh > self.limit:
                self._overflow(root)
                return
            was_empty = not self._entries
            for path, is_dir, kind in paths:
                due = now + (max(debounce, MOVE_WINDOW) if kind == "created" else debounce)
                entry = self._entries.get(path)
                if entry is None:
                    self._entries[path] = Pending(root, is_dir, kind == "gone", due, deadline)
                else:
                    entry.is_dir, entry.gone, entry.due = is_dir, kind == "gone", max(entry.due, due)
            if len(paths) > 1:
                group = {dirty.path for dirty in paths}
                for path in group:
                    self._links.setdefault(path, set()).update(group - {path})
            self.peak = max(self.peak, len(self._entries))
            if was_empty:
                self._signal()

    def request_rescan(self, root: str) -> None:
        with self._cond:
            self._overflow(root)

    def take_rescans(self) -> list[str]:
        """Roots to rescan in full; events below them queue normally again from now on."""
        with self._cond:
            roots = list(self._rescans)
            self._rescans.clear()
            self._in_flight = self._in_flight or bool(roots)
            return roots

    def take(self, limit: int) -> dict[str, Pending]:
        """Up to `limit` due paths, removed from the queue, with the other ends of their moves and,
        when any path is due, the gone paths too."""
        now = self._clock() + GRACE
        with self._cond:
            chosen: dict[str, Pending] = {}
            due = [p for p, e in self._entries.items() if self._ready_at(e) <= now][:limit]
            gone = [p for p, e in self._entries.items() if e.gone][:limit] if due else []
            for path in due + gone:
                if path in chosen:
                    continue
                stack = [path]
                while stack:
                    linked = stack.pop()
                    if linked not in chosen and linked in self._entries:
                        chosen[linked] = self._entries[linked]
                        stack.extend(self._links.get(linked, ()))
            for path in chosen:
                del self._entries[path]
                self._unlink(path)
            self._in_flight = self._in_flight or bool(chosen)
            return chosen

    def finish(self) -> None:
        """The batch taken last is done (see `has_work`)."""
        with self._cond:
            self._in_flight = False

    def next_due(self) -> float | None:
        """When the earliest pending path becomes due (clock time), or None when nothing is pending."""
        with self._cond:
            return min((self._ready_at(e) for e in self._entries.values()), default=None)

    def due_now(self) -> bool:
        """Whether a path is due or a root waits for a rescan."""
        now = self._clock() + GRACE
        with self._cond:
            return bool(self._rescans) or any(self._ready_at(e) <= now for e in self._entries.values())

    def has_work(self) -> bool:
        """Whether anything is queued, due for a rescan, or taken and not finished."""
        with self._cond:
            return bool(self._entries or self._rescans or self._in_flight)

    def wait(self, timeout: float) -> None:
        """Sleep until `timeout` passes, work arrives or `wake()` is called."""
        with self._cond:
            if not self._signalled:
                self._cond.wait(max(0.0, timeout))
            self._signalled = False

    def wake(self) -> None:
        with self._cond:
            self._signal()

    # -- under the lock -------------------------------------------------------------------------
    def _ready_at(self, entry: Pending) -> float:
        return min(entry.due, entry.deadline)

    def _signal(self) -> None:
        self._signalled = True
        self._cond.notify_all()

    def _overflow(self, root: str) -> None:
        self._rescans[root] = None
        for path in [p for p, e in self._entries.items() if e.root == root]:
            del self._entries[path]
            self._unlink(path)
        self._signal()

    def _unlink(self, path: str) -> None:
        for other in self._links.pop(path, ()):
            partners = self._links.get(other)
            if partners is not None:
                partners.discard(path)
                if not partners:
                    del self._links[other]
