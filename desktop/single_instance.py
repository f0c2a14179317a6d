"""One app per index: a second launch hands its request to the running app and exits.

    findling-desktop --quick ──▶ Unix socket / QLocalSocket ──▶ running app's QLocalServer
                                 one JSON line                   ──▶ `requested(dict)`, then "ok"

The server's name is derived from the user and the data dir, so two indexes may have two
apps, and tests never meet a real running app. On POSIX the socket is a 0600 file in a
private folder and both ends check each other's user (`indexer.running_app`, which is also
the client, with no Qt import at all); on Windows it is a named pipe, with a Qt client. A file
lock in the data dir covers the step from "nobody answered" to "listening", so two launches at
once cannot both become the server; a server that accepts but does not answer (a busy app) is
never replaced, and a socket file is removed only when connecting to it was refused (left by a
crashed app). Whatever else holds the name is passed over, never a reason not to start.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket as sockets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from indexer.running_app import (
    ANSWER_SECONDS,
    CONNECT_SECONDS,
    UNIX_SOCKETS,
    Handover,
    claim_socket_path,
    is_foreign,
    peer_identity,
    record_path,
    send_plain,
    server_name,
)

CONNECT_MS = int(CONNECT_SECONDS * 1000)
ANSWER_MS = int(ANSWER_SECONDS * 1000)
CLAIM_LOCK = "instance.lock"
__all__ = ["AppNotAnswering", "Handover", "InstanceServer", "become_or_hand_over", "hand_over", "send",
           "server_name"]


def send(name: str, request: dict) -> Handover:
    """Send `request` to the app listening on `name`, and say what became of it."""
    if UNIX_SOCKETS:
        return send_plain(name, request)  # the same client as the fast path, user check included
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_MS):
        return Handover.NO_APP
    try:
        socket.write(json.dumps(request).encode() + b"\n")
        socket.waitForBytesWritten(CONNECT_MS)
        answer = b""
        while b"\n" not in answer and socket.waitForReadyRead(ANSWER_MS):
            answer += bytes(socket.readAll())
        return Handover.DONE if answer.startswith(b"ok") else Handover.NO_ANSWER
    finally:
        socket.disconnectFromServer()


def hand_over(name: str, request: dict) -> bool:
    """Send `request` to the running app; True once it answered."""
    return send(name, request) is Handover.DONE


class InstanceServer(QObject):
    """Listens for later launches; each request arrives as `requested(dict)` on the UI thread."""

    requested = Signal(dict)

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        """`name`: a socket path on POSIX (`claim_socket_path`), a pipe name on Windows."""
        super().__init__(parent)
        self.name = name
        # No socket options: with them Qt binds elsewhere and renames over the name, which would
        # take the name from a live app; without them, listening on a live name fails.
        self.server = QLocalServer(self)
        self.server.newConnection.connect(self._accept)

    def listen(self) -> bool:
        """Listen under `name`; call only after connecting to it was refused, so an existing socket
        file is one left by a crashed app and is removed. On POSIX the socket is 0600 whatever
        the umask, and its pid record says which process is the app."""
        if not UNIX_SOCKETS:
            if self.server.listen(self.name):
                return True
            QLocalServer.removeServer(self.name)
            return self.server.listen(self.name)
        old = os.umask(0o177)
        try:
            listening = self.server.listen(self.name)
        finally:
            os.umask(old)
        if listening:
            os.chmod(self.name, 0o600)
            from indexer.private import write_private_text

            write_private_text(Path(record_path(self.name)), str(os.getpid()))
        return listening

    def close(self) -> None:
        """Stop listening and let Qt delete this server in its event loop: never use it afterwards."""
        self.server.close()
        if UNIX_SOCKETS:
            with contextlib.suppress(OSError):
                os.unlink(record_path(self.name))
        self.deleteLater()

    def _accept(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.disconnected.connect(socket.deleteLater)
            if _from_another_user(socket):  # never acted on
                socket.write(b"error: this app belongs to another user\n")
                socket.flush()
                socket.disconnectFromServer()
                continue
            socket.readyRead.connect(lambda s=socket: self._read(s))
            self._read(socket)  # the request may have arrived with the connection

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


def _from_another_user(socket: QLocalSocket) -> bool:
    """The peer is another user (SO_PEERCRED / LOCAL_PEERCRED); False where that cannot be told."""
    if not UNIX_SOCKETS:
        return False
    descriptor = int(socket.socketDescriptor())
    if descriptor < 0:
        return False
    connection = sockets.socket(fileno=os.dup(descriptor))
    try:
        return is_foreign(peer_identity(connection))
    finally:
        connection.close()


@contextmanager
def claim_lock(data_dir: Path) -> Iterator[None]:
    """Held from "nobody answered" to "listening": two launches at once make one server."""
    from filelock import FileLock

    from indexer.config import ensure_private_dir
    from indexer.private import FILE_MODE

    ensure_private_dir(data_dir)
    with FileLock(str(data_dir / CLAIM_LOCK), timeout=10, mode=FILE_MODE):
        yield


class AppNotAnswering(RuntimeError):
    """An app for this data dir is running but did not answer."""


def become_or_hand_over(data_dir: Path, request: dict) -> InstanceServer | None:
    """The server for this data dir if no app runs for it; None once the running app took `request`.

    Needs a QCoreApplication (for the server's signals). Raises AppNotAnswering when an app
    accepted the request but did not answer, and OSError or RuntimeError when this launch can
    be neither client nor server (a data dir it cannot write, a socket it cannot create).
    """
    name = server_name(data_dir)
    with claim_lock(data_dir):
        outcome = send(name, request)
        if outcome is Handover.DONE:
            return None
        if outcome is Handover.NO_ANSWER:
            raise AppNotAnswering(f"Findling is already running for {data_dir} but did not answer "
                                  f"within {ANSWER_MS / 1000:.0f} s; try again in a moment.")
        # Owned by the application, not by Python: a garbage-collected wrapper would delete the
        # server and its sockets in the middle of their pending events (a crash, seen 1 in 10).
        where = claim_socket_path(name) if UNIX_SOCKETS else name
        server = InstanceServer(where, QCoreApplication.instance())
        if not server.listen():
            raise RuntimeError(f"Findling could not listen on its local socket {name!r}: "
                               f"{server.server.errorString()}")
        return server
