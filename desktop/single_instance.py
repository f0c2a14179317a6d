"""One app per index: a second launch hands its request to the running app and exits.

    findling-desktop --quick ──▶ QLocalSocket ──▶ running app's QLocalServer ──▶ `requested(dict)`
                                 one JSON line       replies "ok" once the request is acted on

The server's name is derived from the user and the data dir, so two indexes may have two
apps, and tests never meet a real running app. The client side needs no QApplication (about
0.1 s from a cold process to the answer). A file lock in the data dir covers the step from
"nobody answered" to "listening", so two launches at once cannot both become the server.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock
from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_MS = 500
ANSWER_MS = 3000  # the running app answers once its event loop takes the request
CLAIM_LOCK = "instance.lock"


def server_name(data_dir: Path) -> str:
    """The local socket name of the app for `data_dir` (per user, short enough for a Unix socket path)."""
    digest = hashlib.sha1(str(Path(data_dir).resolve()).encode()).hexdigest()[:12]
    user = "".join(c for c in getpass.getuser() if c.isalnum())[:16] or "user"
    return f"findling-{user}-{digest}"


def hand_over(name: str, request: dict) -> bool:
    """Send `request` to the running app; True once it answered, False when no app listens."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        return False
    try:
        socket.write(json.dumps(request).encode() + b"\n")
        socket.waitForBytesWritten(CONNECT_MS)
        answer = b""
        while b"\n" not in answer and socket.waitForReadyRead(ANSWER_MS):
            answer += bytes(socket.readAll())
        return answer.startswith(b"ok")
    finally:
        socket.disconnectFromServer()


class InstanceServer(QObject):
    """Listens for later launches; each request arrives as `requested(dict)` on the UI thread."""

    requested = Signal(dict)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        """Listen under `name`, replacing a socket file left by a crashed app (call when nobody answered)."""
        if self.server.listen(self.name):
            return True
        QLocalServer.removeServer(self.name)
        return self.server.listen(self.name)

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)

    def _read(self, socket: QLocalSocket) -> None:
        if not socket.canReadLine():
            return
        line = bytes(socket.readLine())
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            socket.write(b"error: not a Findling request\n")
            socket.flush()
            return
        self.requested.emit(request)  # direct: acted on before the answer goes out
        socket.write(b"ok\n")
        socket.flush()


@contextmanager
def claim_lock(data_dir: Path) -> Iterator[None]:
    """Held from "nobody answered" to "listening": two launches at once make one server."""
    from indexer.config import ensure_private_dir

    ensure_private_dir(data_dir)
    with FileLock(str(data_dir / CLAIM_LOCK), timeout=10):
        yield


def become_or_hand_over(data_dir: Path, request: dict) -> InstanceServer | None:
    """The server for this data dir if no app runs for it; None once the running app took `request`.

    Needs a QCoreApplication (for the server's signals). Raises RuntimeError when the name
    can be neither reached nor listened on.
    """
    name = server_name(data_dir)
    with claim_lock(data_dir):
        if hand_over(name, request):
            return None
        server = InstanceServer(name)
        if not server.listen():
            raise RuntimeError(f"Findling could not listen on its local socket {name!r}: "
                               f"{server.server.errorString()}")
        return server
