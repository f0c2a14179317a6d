"""The single-instance socket: private (0600 in a 0700 folder of ours), never handed to or driven
by another user, and never kept from starting by whatever else holds its name."""

from __future__ import annotations

import os
import shutil
import socket as sockets
import stat
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
pytestmark = pytest.mark.skipif(os.name != "posix", reason="Unix sockets (Windows uses named pipes)")

import desktop.single_instance as single_instance  # noqa: E402
import indexer.running_app as running_app  # noqa: E402
from desktop.single_instance import AppNotAnswering, become_or_hand_over, server_name  # noqa: E402
from indexer.running_app import Handover, Peer, instance_dir, record_path, send_plain, socket_paths  # noqa: E402

WAIT = 20_000  # ms


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private XDG_RUNTIME_DIR of its own (short: Unix socket paths are), as a session has."""
    folder = Path(tempfile.mkdtemp(prefix="fr-"))
    os.chmod(folder, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def ask(qtbot, name: str, request: dict) -> Handover:  # noqa: ANN001
    """`send_plain` from another thread while this one runs the app's event loop."""
    with ThreadPoolExecutor(1) as pool:
        future: Future = pool.submit(send_plain, name, request)
        qtbot.waitUntil(future.done, timeout=WAIT)
        return future.result()


def serve(data: Path) -> tuple[single_instance.InstanceServer, list[dict]]:
    server = become_or_hand_over(data, {"action": "show"})
    assert server is not None and server.server.isListening()
    requests: list[dict] = []
    server.requested.connect(requests.append)
    return server, requests


def listener(path: str) -> sockets.socket:
    """Something listening on `path` that is not the app."""
    squatter = sockets.socket(sockets.AF_UNIX)
    squatter.bind(path)
    squatter.listen(4)
    return squatter


def test_the_socket_is_0600_in_the_runtime_dir_whatever_the_umask(qtbot, tmp_path: Path,  # noqa: ANN001
                                                                   runtime: Path) -> None:
    previous = os.umask(0o000)
    try:
        server, requests = serve(tmp_path / "data")
    finally:
        os.umask(previous)
    try:
        path = Path(server.name)
        assert path.parent == runtime / "findling"
        assert stat.S_ISSOCK(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and path.parent.stat().st_uid == os.getuid()
        assert stat.S_IMODE(os.stat(record_path(str(path))).st_mode) == 0o600
        assert ask(qtbot, server_name(tmp_path / "data"), {"action": "quick"}) is Handover.DONE
        assert [r["action"] for r in requests] == ["quick"]
    finally:
        server.close()
    assert not os.path.exists(record_path(server.name))


def test_an_unsafe_runtime_dir_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = Path(tempfile.mkdtemp(prefix="fs-"))
    private = Path(tempfile.mkdtemp(prefix="ft-"))
    try:
        os.chmod(shared, 0o777)  # writable by anyone, not sticky: someone could swap our folder
        os.chmod(private, 0o700)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(shared))
        monkeypatch.setenv("TMPDIR", str(private))
        assert instance_dir(create=True) == private / f"findling-{os.getuid()}"
        assert not (shared / "findling").exists()
        monkeypatch.delenv("XDG_RUNTIME_DIR")
        assert instance_dir() == private / f"findling-{os.getuid()}"  # the client finds the same
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def test_a_squatted_folder_is_passed_over(monkeypatch: pytest.MonkeyPatch, runtime: Path) -> None:
    (runtime / "findling").mkdir(mode=0o700)
    real_lstat = os.lstat

    def lstat(path, *args, **kwargs):  # noqa: ANN001, ANN202 - the folder belongs to another user
        result = real_lstat(path, *args, **kwargs)
        if os.fspath(path) == str(runtime / "findling"):
            fields = list(result[:10])
            fields[4] = os.getuid() + 1
            return os.stat_result(fields)
        return result

    private = Path(tempfile.mkdtemp(prefix="ft-"))
    try:
        os.chmod(private, 0o700)
        monkeypatch.setenv("TMPDIR", str(private))
        monkeypatch.setattr(running_app.os, "lstat", lstat)
        assert instance_dir(create=True) == private / f"findling-{os.getuid()}"
        assert instance_dir() == private / f"findling-{os.getuid()}"
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_squatters_never_stop_the_app_from_starting(qtbot, tmp_path: Path, runtime: Path,  # noqa: ANN001
                                                   capfd) -> None:
    data = tmp_path / "data"
    name = server_name(data)
    folder = instance_dir(create=True)
    first, second, third = socket_paths(name, folder)

    left = sockets.socket(sockets.AF_UNIX)  # what a kill -9 leaves: a socket file nobody listens on
    left.bind(first)
    left.close()
    server, _ = serve(data)
    assert server.name == first  # removed, and used
    server.close()

    Path(first).write_text("a stray file of ours")
    server, _ = serve(data)
    assert server.name == first
    server.close()

    squatter = listener(first)  # a listener that is not the app (no record of the app's pid)
    try:
        server, requests = serve(data)
        assert server.name == second
        assert "using another name" in capfd.readouterr().err
        assert ask(qtbot, name, {"action": "quick"}) is Handover.DONE  # reaches the app, not the squatter
        assert [r["action"] for r in requests] == ["quick"]
        squatter.settimeout(1)
        probe, _ = squatter.accept()
        with probe:
            assert probe.recv(1024) == b""  # the squatter was never told anything
        server.close()
        others = [listener(second), listener(third)]
        try:
            with pytest.raises(OSError, match="in use by something else"):
                become_or_hand_over(data, {"action": "show"})  # the app then starts without it
        finally:
            for other in others:
                other.close()
    finally:
        squatter.close()


def test_a_busy_app_is_not_replaced(tmp_path: Path, runtime: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    path = socket_paths(server_name(data), instance_dir(create=True))[0]
    silent = listener(path)  # an app (its pid recorded) that accepts but is too busy to answer
    Path(record_path(path)).write_text(str(os.getpid()))
    monkeypatch.setattr(running_app, "ANSWER_SECONDS", 0.3)
    try:
        with pytest.raises(AppNotAnswering, match="did not answer"):
            become_or_hand_over(data, {"action": "quick"})
        assert os.path.exists(path)  # not taken over
    finally:
        silent.close()


def test_a_client_never_hands_over_to_another_user(qtbot, tmp_path: Path, runtime: Path,  # noqa: ANN001
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    server, requests = serve(data)
    try:
        monkeypatch.setattr(running_app, "peer_identity", lambda c: Peer(os.getuid() + 1, os.getpid()))
        assert ask(qtbot, server_name(data), {"action": "add-roots", "paths": ["/secret"]}) is Handover.NO_APP
        qtbot.wait(100)
        assert requests == []
        other = become_or_hand_over(data, {"action": "show"})  # passed over: this launch starts
        assert other is not None and other.name == socket_paths(server_name(data))[1]
        other.close()
    finally:
        server.close()


def test_the_app_refuses_requests_from_another_user(qtbot, tmp_path: Path, runtime: Path,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    server, requests = serve(data)
    try:
        monkeypatch.setattr(single_instance, "peer_identity", lambda c: Peer(os.getuid() + 1, 1))
        assert ask(qtbot, server_name(data), {"action": "quit"}) is not Handover.DONE
        qtbot.wait(100)
        assert requests == []
        monkeypatch.undo()
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
        assert ask(qtbot, server_name(data), {"action": "show"}) is Handover.DONE  # its own user: yes
        assert [r["action"] for r in requests] == ["show"]
    finally:
        server.close()


def test_the_peer_is_this_user_on_a_real_socket(tmp_path: Path, runtime: Path) -> None:
    path = str(instance_dir(create=True) / "probe")
    server = listener(path)
    client = sockets.socket(sockets.AF_UNIX)
    try:
        client.connect(path)
        peer = running_app.peer_identity(client)
        if peer is None:
            pytest.skip("this platform does not tell a socket's peer")
        assert peer.uid == os.getuid() and peer.pid in (os.getpid(), None)
        assert not running_app.is_foreign(peer)
    finally:
        client.close()
        server.close()
