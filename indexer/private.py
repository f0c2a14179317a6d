"""Files only their user can read: everything in a data dir is 0600 (its folders 0700), whatever the umask.

An index holds the text of the user's files, so its catalog, vectors, config and lock files are
created with mode 0600 (the umask can only take bits away from that) and any that an older
Findling or another tool left readable are tightened when a writer takes the index. SQLite
gives its -wal and -shm files the mode of the database file. On Windows, where modes are not
permissions, these are no-ops beyond creating the files.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700
POSIX = os.name == "posix"


def create_private(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (never truncates)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE))


def write_private_text(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, the new file 0600 from its creation."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(staged, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(staged)
        raise


def tighten(folder: Path) -> int:
    """Take group and other permissions off every file and folder below `folder` that this user
    owns; symlinks are left alone (chmod would follow them out of the folder). Returns how many
    were changed."""
    if not POSIX:
        return 0
    changed = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in [*dirnames, *filenames]:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if st.st_uid != os.getuid() or not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
                    continue
                mode = stat.S_IMODE(st.st_mode)
                if mode & 0o077:
                    os.chmod(path, mode & ~0o077)
                    changed += 1
            except OSError:  # vanished meanwhile, or not ours to change
                continue
    return changed
