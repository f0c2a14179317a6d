"""Talk to the running Findling app of a data dir, without Qt: its socket name and a client.

Used by a second `findling-desktop` launch (`--quick` in about 0.1 s instead of importing
PySide6 to open a socket) and by `findling index PATH`, which hands new folders to the app
when the app is the index's writer. On Unix, Qt's QLocalServer listens on a Unix socket at
$TMPDIR/<name> (/tmp without TMPDIR), so the standard library can talk to it directly.
Elsewhere (Windows named pipes), or when that path does not answer, `desktop.single_instance`
does the same with QLocalSocket, which is authoritative. The app's side is
`desktop.single_instance.InstanceServer`; requests are one JSON line, answered "ok".
"""

from __future__ import annotations

import enum
import getpass
import hashlib
import json
import os
import socket
import sys
from pathlib import Path

CONNECT_SECONDS = 0.5
ANSWER_SECONDS = 3.0  # the running app answers once its event loop takes the request


class Handover(enum.Enum):
    DONE = "the running app took the request"
    NO_APP = "no app listens"
    NO_ANSWER = "an app listens but did not answer"


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


def socket_path(name: str) -> str | None:
    """Where QLocalServer puts a socket of this name on Unix (QDir::tempPath), None elsewhere."""
    if sys.platform == "win32" or not hasattr(socket, "AF_UNIX"):
        return None
    return os.path.join(os.environ.get("TMPDIR") or "/tmp", name)


def send_plain(name: str, request: dict) -> Handover:
    """Send `request` over the Unix socket with the standard library only."""
    path = socket_path(name)
    if path is None or not os.path.exists(path):
        return Handover.NO_APP
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(CONNECT_SECONDS)
        try:
            connection.connect(path)
        except OSError:  # refused (a crashed app's file), or not a socket
            return Handover.NO_APP
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
    return Handover.DONE if answer.startswith(b"ok") else Handover.NO_ANSWER
