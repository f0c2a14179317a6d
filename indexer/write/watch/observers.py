"""One watchdog observer per root: native events where the OS allows them, polling where it does not.

Linux refuses inotify watches past `fs.inotify.max_user_watches` (ENOSPC) and inotify
instances past `fs.inotify.max_user_instances` (EMFILE), and watchdog then silently skips
the folders it could not watch. Here a refusal is noticed, explained with its fix, and the
root falls back to watchdog's PollingObserver (the caller rescans it, for the changes that
went unseen). Excluded folders (.git, node_modules, …) get no inotify watch at all, which
saves watches; an inotify queue overflow (events lost by the kernel) also asks for a rescan.
"""

from __future__ import annotations

import errno
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from indexer.write.watch.pending import Dirty

# What can change a file's indexed state. Opens, reads and folder mtime changes are left out,
# so the indexer reading a file does not wake the watcher.
EVENT_TYPES: list[type[FileSystemEvent]] = [
    FileCreatedEvent, FileModifiedEvent, FileAttribEvent, FileClosedEvent, FileDeletedEvent,
    FileMovedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
]
REFUSALS = (errno.ENOSPC, errno.EMFILE)
# watchdog warns when a folder moved into a just-watched folder is watched twice; it copes.
warnings.filterwarnings("ignore", message="Callback with id .* already exists", category=RuntimeWarning)
Sink = Callable[[str, Sequence[Dirty]], None]


class Notice(NamedTuple):
    """What a root's observer noticed: a message, whether it is a problem, whether to rescan the root."""

    text: str
    is_error: bool = False
    rescan: bool = False


def refusal_help(root: str, exc: OSError) -> str:
    """A plain explanation of an inotify refusal, with the command that fixes it for good."""
    if exc.errno == errno.EMFILE:
        setting, value, what = "fs.inotify.max_user_instances", 1024, "inotify instance"
    else:
        setting, value, what = "fs.inotify.max_user_watches", 524288, "inotify watch"
    return (
        f"The system refused to watch more folders below {root} (the {what} limit is reached). "
        f"Watching it by polling instead, which is slower to notice changes and costs more CPU. "
        f"To fix: `sudo sysctl {setting}={value}`; to keep it after a reboot: "
        f"`echo {setting}={value} | sudo tee /etc/sysctl.d/90-findling.conf && sudo sysctl --system`, "
        f"then restart the watcher."
    )


def _native_observer(skip_dir: Callable[[str], bool]) -> BaseObserver:
    """The platform's native observer; on Linux, one that reports refusals and overflows."""
    if not sys.platform.startswith("linux"):
        from watchdog.observers import Observer

        return Observer()
    from watchdog.observers.inotify import InotifyEmitter
    from watchdog.observers.inotify_c import InotifyFD

    class CheckedInotifyFD(InotifyFD):
        """An inotify instance that skips excluded folders and remembers refusals and overflows."""

        def __init__(self) -> None:
            super().__init__()
            self.refused: OSError | None = None
            self.overflowed = False

        def add_callback(self, path, mask, callback, id_):  # noqa: ANN001, ANN202 - watchdog's signature
            if skip_dir(os.fsdecode(path)):
                # watchdog skips a sub-folder it cannot watch and goes on with the others.
                raise OSError(errno.EPERM, "excluded folder, not watched")
            try:
                return super().add_callback(path, mask, callback, id_)
            except OSError as exc:
                if exc.errno in REFUSALS:
                    self.refused = exc
                raise

        def handle_event(self, event) -> None:  # noqa: ANN001 - watchdog's InotifyEvent
            if event.is_queue_overflow:
                self.overflowed = True
            super().handle_event(event)

    class CheckedInotifyObserver(BaseObserver):
        def __init__(self) -> None:
            self.fd = CheckedInotifyFD()  # EMFILE here when no inotify instance is left
            self.fd.start()
            super().__init__(InotifyEmitter, inotify_fd=self.fd)

        def on_thread_stop(self) -> None:
            super().on_thread_stop()
            self.fd.stop()
            self.fd.join()

    return CheckedInotifyObserver()


class RootWatch:
    """Watches one root and hands its events to `sink(root, [Dirty, …])`.

    `excluded(path, is_dir)` filters event paths (the root's exclude rules). A folder root
    itself is never handed on, so an unmounted or vanished root never empties the index.
    """

    def __init__(
        self,
        root: str,
        sink: Sink,
        excluded: Callable[[str, bool], bool],
        poll: bool = False,
        poll_interval: float = 5.0,
    ) -> None:
        self.root = root
        self.is_file = os.path.isfile(root)
        self.sink = sink
        self.excluded = excluded
        self.polling = poll
        self.poll_interval = poll_interval
        self._observer: BaseObserver | None = None
        self._handler = _Handler(self)

    def start(self) -> str | None:
        """Start watching; a message when the OS refused native watching and polling took over.

        Other errors (a missing root, no permission) are raised.
        """
        if self.polling:
            self._start(PollingObserver(timeout=self.poll_interval))
            return None
        try:
            self._start(_native_observer(lambda path: path != self.root and self.excluded(path, True)))
            refused = getattr(getattr(self._observer, "fd", None), "refused", None)
            if refused is not None:
                raise refused
            return None
        except OSError as exc:
            self.stop()
            if exc.errno not in REFUSALS:
                raise
            return self.fall_back(exc)

    def fall_back(self, exc: OSError) -> str:
        """Switch this root to polling after a refusal; the explanation to show."""
        self.stop()
        self.polling = True
        self._start(PollingObserver(timeout=self.poll_interval))
        return refusal_help(self.root, exc)

    @property
    def watching(self) -> bool:
        return self._observer is not None

    def check(self) -> Notice | None:
        """What happened since the last check that the engine must act on, if anything."""
        observer = self._observer
        if observer is None:
            return None
        if observer.emitters and not any(e.is_alive() for e in observer.emitters):
            self.stop()  # the root itself went away: its watch ended
            return Notice(f"Stopped watching {self.root}: it is gone (deleted or unmounted?). Its files "
                          "stay in the index; `findling roots remove` purges them.", is_error=True)
        fd = getattr(observer, "fd", None)
        if fd is None:
            return None
        if fd.refused is not None:
            return Notice(self.fall_back(fd.refused), is_error=True, rescan=True)
        if fd.overflowed:
            fd.overflowed = False
            return Notice(f"Too many changes at once below {self.root}: some were not reported; "
                          "rescanning it.", rescan=True)
        return None

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is None:
            return
        observer.stop()
        if observer.ident is not None:
            observer.join()

    def _start(self, observer: BaseObserver) -> None:
        self._observer = observer
        try:
            observer.schedule(self._handler, self.root, recursive=True, event_filter=EVENT_TYPES)
            observer.start()
        except BaseException:
            self.stop()
            raise

    def on_event(self, event: FileSystemEvent) -> None:
        if event.is_synthetic:
            return  # sub-events of a folder create or move: the folder's own event covers them
        if isinstance(event, FileSystemMovedEvent):
            paths = [(event.src_path, "gone"), (event.dest_path, "changed")]
        elif isinstance(event, (FileDeletedEvent, DirDeletedEvent)):
            paths = [(event.src_path, "gone")]
        elif isinstance(event, (FileCreatedEvent, DirCreatedEvent)):
            paths = [(event.src_path, "created")]
        else:
            paths = [(event.src_path, "changed")]
        kept = []
        for raw, kind in paths:
            path = os.fsdecode(raw)
            if self._inside(path) and not self.excluded(path, event.is_directory):
                kept.append(Dirty(path, event.is_directory, kind))
        if kept:
            self.sink(self.root, kept)

    def _inside(self, path: str) -> bool:
        if self.is_file:
            return path == self.root
        return path.startswith(self.root.rstrip(os.sep) + os.sep)


class _Handler(FileSystemEventHandler):
    def __init__(self, watch: RootWatch) -> None:
        self.watch = watch

    def dispatch(self, event: FileSystemEvent) -> None:
        self.watch.on_event(event)
