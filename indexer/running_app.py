"""Talk to the running Findling app of a data dir, without Qt: where its socket is, and a client.

Used by a second `findling-desktop` launch (`--quick` in about 0.1 s instead of importing
PySide6 to open a socket) and by `findling index PATH`, which hands new folders to the app
when the app is the index's writer. The app's side is `desktop.single_instance.InstanceServer`;
requests are one JSON line, answered "ok".

On POSIX the app listens on a Unix socket in a folder only its user can enter:

    $XDG_RUNTIME_DIR/findling/     the session's runtime dir (0700), when it is set and safe
    $TMPDIR/findling-<uid>/        else a folder of our own, created 0700 and checked to be ours
    /tmp/findling-<uid>/             (not a symlink, owned by us), in the first of these that
    <user cache dir>/run-<uid>/      works: one taken by another user is passed over

The socket itself is 0600, and each side checks the other's user (SO_PEERCRED on Linux,
LOCAL_PEERCRED on macOS and the BSDs): a client never hands a request to another user's
listener, the app never acts on another user's request. A name in use by something that is
not the app (a stale socket, a stray file, a listener that is not Findling) never stops the
app: stale ones of ours are removed, others passed over for the next of `SLOTS` names. On
Windows, QLocalServer uses a named pipe and `desktop.single_instance` talks to it with Qt.
"""

from __future__ import annotations

import contextlib
import enum
import getpass
import hashlib
import json
import os
import socket
import stat
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CONNECT_SECONDS = 0.5
ANSWER_SECONDS = 3.0  # the running app answers once its event loop takes the request
SLOTS = 3  # socket names tried per data dir: name, name-2, name-3
MAX_SOCKET_PATH = 100  # bytes; sun_path holds 104 (macOS) to 108 (Linux) with its NUL
UNIX_SOCKETS = sys.platform != "win32" and hasattr(socket, "AF_UNIX")


class Handover(enum.Enum):
    DONE = "the running app took the request"
    NO_APP = "no app listens"
    NO_ANSWER = "an app listens but did not answer"


@dataclass(frozen=True)
class Peer:
    """Who is at the other end of a Unix socket; `pid` is None where the platform does not say."""

    uid: int
    pid: int | None


def _user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no USER and no passwd entry (some containers and services)
        name = str(os.getuid()) if hasattr(os, "getuid") else "user"
    return "".join(c for c in name if c.isalnum())[:16] or "user"


def server_name(data_dir: Path) -> str:
    """The local socket name of the app for `data_dir` (per user, short enough for a Unix socket path)."""
    digest = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
    return f"findling-{_user()}-{digest}"


# -- where ----------------------------------------------------------------------------------------
def _candidates() -> Iterator[tuple[Path, str, bool]]:
    """(parent, folder name, whether the parent may be created) for the socket folder, best first."""
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        yield Path(runtime), "findling", False
    temporary = os.environ.get("TMPDIR")  # per user on macOS
    if temporary and os.path.isabs(temporary):
        yield Path(temporary), f"findling-{uid}", False
    yield Path("/tmp"), f"findling-{uid}", False
    import platformdirs

    yield Path(platformdirs.user_cache_dir("findling", appauthor=False)), f"run-{uid}", True


def _safe_parent(parent: Path) -> bool:
    """Ours or root's, and nobody else can replace what is in it (not writable by others, or sticky)."""
    try:
        st = os.stat(parent)
    except OSError:
        return False
    others_write = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return (stat.S_ISDIR(st.st_mode) and st.st_uid in (os.getuid(), 0)
            and (not others_write or bool(st.st_mode & stat.S_ISVTX)))


def _own_private_dir(folder: Path) -> bool | None:
    """True when `folder` is a real folder of ours (made 0700 if it was not), None when it does
    not exist, False when it is someone else's or not a folder (a squatter)."""
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return None
    except OSError:
        return False
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        return False
    if stat.S_IMODE(st.st_mode) != 0o700:
        try:
            os.chmod(folder, 0o700)
        except OSError:
            return False
    return True


def instance_dir(create: bool = False) -> Path | None:
    """The folder of this user's app sockets (POSIX), None when there is none (yet, or at all).

    Client and server walk the same candidates and stop at the first with a safe parent whose
    folder is ours, or missing: the server creates it there, and a client knows no app runs.
    """
    if not UNIX_SOCKETS:
        return None
    for parent, name, may_create in _candidates():
        if create and may_create:
            with contextlib.suppress(OSError):
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder = parent / name
        if not _safe_parent(parent) or len(os.fsencode(folder)) + 40 > MAX_SOCKET_PATH:
            continue  # 40: room for the socket's name
        verdict = _own_private_dir(folder)
        if verdict is None and create:
            with contextlib.suppress(FileExistsError):
                folder.mkdir(mode=0o700)
            verdict = _own_private_dir(folder)  # and 0700 whatever the umask
        if verdict:
            return folder
        if verdict is None:
            return None  # where the app would listen, and it does not
    return None


def socket_paths(name: str, folder: Path | None = None) -> list[str]:
    """The paths the app for `name` may listen on, in the order it tries them (POSIX)."""
    folder = folder or instance_dir()
    if folder is None:
        return []
    return [str(folder / (name if slot == 1 else f"{name}-{slot}")) for slot in range(1, SLOTS + 1)]


def record_path(socket_path: str) -> str:
    """Next to the socket: the pid of the app listening on it."""
    return socket_path + ".pid"


# -- who ------------------------------------------------------------------------------------------
def peer_identity(connection: socket.socket) -> Peer | None:
    """The user (and process) at the other end of a connected Unix socket; None where unknown."""
    try:
        if hasattr(socket, "SO_PEERCRED"):  # Linux: struct ucred {pid, uid, gid}
            pid, uid, _ = struct.unpack("3i", connection.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            return Peer(uid, pid)
        if sys.platform == "darwin" or "bsd" in sys.platform:  # getpeereid: struct xucred
            sol_local, local_peercred, local_peerpid = 0, 0x001, 0x002
            raw = connection.getsockopt(sol_local, local_peercred, struct.calcsize("IIh16I"))
            uid = struct.unpack_from("II", raw)[1]
            pid = None
            if sys.platform == "darwin":
                with contextlib.suppress(OSError):
                    pid = struct.unpack("i", connection.getsockopt(sol_local, local_peerpid, 4))[0]
            return Peer(uid, pid)
    except OSError:
        return None
    return None


def is_foreign(peer: Peer | None) -> bool:
    """Another user (root included, when we are not root) is at the other end."""
    return peer is not None and peer.uid != os.getuid()


def _recorded_pid(socket_path: str) -> int | None:
    try:
        with open(record_path(socket_path), encoding="ascii") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


class _Slot(enum.Enum):
    FREE = "nothing there"
    STALE = "a socket nobody listens on, or a file of ours"
    FOREIGN = "another user's"
    OTHER = "a listener that is not this data dir's app"
    APP = "the app"


def _probe(path: str) -> tuple[_Slot, socket.socket | None]:
    """What is at `path`; for the app, the connection to it (the caller closes it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return _Slot.FREE, None
    except OSError:
        return _Slot.OTHER, None
    if st.st_uid != os.getuid():
        return _Slot.FOREIGN, None
    if not stat.S_ISSOCK(st.st_mode):
        return _Slot.STALE, None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.settimeout(CONNECT_SECONDS)
    try:
        connection.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        connection.close()
        return _Slot.STALE, None
    except OSError:  # timed out: a listener with a full backlog; not ours to remove
        connection.close()
        return _Slot.OTHER, None
    peer = peer_identity(connection)
    if is_foreign(peer):
        connection.close()
        return _Slot.FOREIGN, None
    if peer is not None and peer.pid is not None and peer.pid != _recorded_pid(path):
        connection.close()
        return _Slot.OTHER, None  # listening, but not the app that recorded itself there
    return _Slot.APP, connection


def send_plain(name: str, request: dict) -> Handover:
    """Send `request` to the app of `name` over its Unix socket, with the standard library only."""
    for path in socket_paths(name):
        slot, connection = _probe(path)
        if connection is None:
            continue
        with connection:
            try:
                connection.settimeout(ANSWER_SECONDS)
                connection.sendall(json.dumps(request).encode() + b"\n")
                answer = b""
                while b"\n" not in answer:
                    chunk = connection.recv(256)
                    if not chunk:
                        break
                    answer += chunk
            except OSError:  # timed out, or the app went away mid-request
                return Handover.NO_ANSWER
        if answer.startswith(b"ok"):
            return Handover.DONE
        if not answer:
            return Handover.NO_ANSWER
        # answered, but not as the app does: pass it over
    return Handover.NO_APP


def claim_socket_path(name: str) -> str:
    """Where the app for `name` is to listen (call with the claim lock held, after `send_plain`
    found no app): the first free slot, after removing a stale socket or stray file of ours;
    other users' and live listeners are passed over. OSError when there is nowhere to listen."""
    folder = instance_dir(create=True)
    if folder is None:
        raise OSError("no private folder for the app's socket (XDG_RUNTIME_DIR, TMPDIR, /tmp "
                      "and the cache dir are unusable or taken by another user)")
    for path in socket_paths(name, folder):
        slot, connection = _probe(path)
        if connection is not None:
            connection.close()
        if slot is _Slot.STALE:
            os.unlink(path)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(record_path(path))
            slot = _Slot.FREE
        if slot is _Slot.FREE:
            return path
        taken = _Slot.OTHER if slot is _Slot.APP else slot  # an app would have answered `send_plain`
        print(f"findling-desktop: {path} is {taken.value}; using another name.", file=sys.stderr)
    raise OSError(f"every socket name for this index in {folder} is in use by something else")
