"""What a result can do: open (a PDF at its page when the viewer allows), reveal in its folder, copy its path.

Each takes a result's path, i.e. its catalog key (`indexer.paths`), and acts on the file it
names (a name with bytes that are not UTF-8 goes to the launcher as those bytes). Opening runs
the platform's launcher (`xdg-open`, else `gio open`, on Linux and the BSDs; `open` on macOS;
`os.startfile` on Windows) and waits up to `LAUNCH_WAIT_S` for its exit, so a launcher that is
missing or fails (xdg-open exits 3 when nothing handles the type) is a `Launch` with its message,
never a silent success. They block for up to that long: the app calls them off the UI thread
(`desktop.launch`).
The functions are looked up on this module at call time (`actions.open_file(...)`), so tests
can replace them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QGuiApplication

from indexer.paths import file_on_disk, os_path, readable

# Viewer (the desktop entry's name, lower case, without .desktop) → how to ask it for a 1-based page.
PAGE_ARGUMENTS: dict[str, list[str]] = {
    "org.gnome.evince": ["evince", "--page-index={page}", "{path}"],
    "evince": ["evince", "--page-index={page}", "{path}"],
    "atril": ["atril", "--page-index={page}", "{path}"],
    "xreader": ["xreader", "--page-index={page}", "{path}"],
    "org.kde.okular": ["okular", "-p", "{page}", "{path}"],
    "okular": ["okular", "-p", "{page}", "{path}"],
    "org.pwmt.zathura": ["zathura", "-P", "{page}", "{path}"],
    "org.pwmt.zathura-pdf-mupdf": ["zathura", "-P", "{page}", "{path}"],
    "org.pwmt.zathura-pdf-poppler": ["zathura", "-P", "{page}", "{path}"],
    "zathura": ["zathura", "-P", "{page}", "{path}"],
}


@functools.cache
def default_pdf_viewer() -> str | None:
    """The desktop entry of the default PDF viewer (e.g. `org.gnome.evince`), on freedesktop systems."""
    if sys.platform in ("win32", "darwin") or not shutil.which("xdg-mime"):
        return None
    try:
        answer = subprocess.run(["xdg-mime", "query", "default", "application/pdf"], capture_output=True,
                                text=True, timeout=2, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return answer.removesuffix(".desktop").lower() or None


def page_command(path: str, page: int, viewer: str | None) -> list[str] | None:
    """The command that opens `path` at `page` in `viewer`, when that viewer takes a page and is installed."""
    template = PAGE_ARGUMENTS.get(viewer or "")
    if template is None or shutil.which(template[0]) is None:
        return None
    return [part.format(page=page, path=path) for part in template]


LAUNCH_WAIT_S = 2.0  # a launcher that exits within this is judged by its exit status
# xdg-open's documented exit statuses, said for people
XDG_OPEN_STATUS = {
    1: "xdg-open was called wrongly",
    2: "the file was not found",
    3: "no application is set up to open this kind of file",
    4: "the application could not open it",
}


@dataclass(frozen=True)
class Launch:
    """How handing a file to the desktop went: ok, or the message saying why not."""

    ok: bool
    message: str = ""


def _reap(process: subprocess.Popen) -> None:
    threading.Thread(target=process.wait, daemon=True, name="findling-reap").start()


def run_launcher(command: list[str], wait_s: float = LAUNCH_WAIT_S) -> Launch:
    """Run `command` (xdg-open, gio, open, a PDF viewer) and wait up to `wait_s` for its exit.

    A non-zero exit is a failure with the program's own message (its last line on stderr) or what
    its status means; one still running after `wait_s` has the file (a viewer, a slow handler)."""
    name = os.path.basename(command[0])
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: a chatty child never blocks
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=errors, start_new_session=True)
        except FileNotFoundError:
            return Launch(False, f"{name} is not installed")
        except OSError as exc:
            return Launch(False, f"{name} could not be started: {exc.strerror or exc}")
        try:
            status = process.wait(wait_s)
        except subprocess.TimeoutExpired:
            _reap(process)
            return Launch(True)
        if status == 0:
            return Launch(True)
        errors.seek(0)
        said = [line.strip() for line in errors.read(16384).decode(errors="replace").splitlines()]
    meaning = XDG_OPEN_STATUS.get(status) if name == "xdg-open" else None
    last = next((line for line in reversed(said) if line), "")
    what = f"{name} failed (exit status {status}" + (f": {meaning})" if meaning else ")")
    return Launch(False, f"{what}: {last}" if last else what)


def _launcher_for(target: str) -> list[str] | None:
    """The command that opens `target` with its default application on this desktop (not Windows)."""
    if sys.platform == "darwin":
        return ["open", target]
    if shutil.which("xdg-open"):
        return ["xdg-open", target]
    if shutil.which("gio"):
        return ["gio", "open", target]
    return None


def open_location(target: str) -> Launch:
    """Hand an OS path (a file or a folder) to the desktop's default application."""
    if sys.platform == "win32":
        try:
            os.startfile(target)  # type: ignore[attr-defined]  # Windows only
        except OSError as exc:
            return Launch(False, exc.strerror or str(exc))
        return Launch(True)
    command = _launcher_for(target)
    if command is None:
        return Launch(False, "no program to open files was found (xdg-open or gio; install xdg-utils)")
    return run_launcher(command)


def open_file(path: str, page: int | None = None) -> Launch:
    """Open the file of `path` with its default application; a PDF at `page` where the viewer accepts one.
    An attachment (`mail.eml#a.pdf`) opens its mail."""
    target = file_on_disk(path)
    if page and target.lower().endswith(".pdf"):
        command = page_command(target, page, default_pdf_viewer())
        if command and run_launcher(command).ok:
            return Launch(True)
    return open_location(target)


def reveal_in_folder(path: str) -> Launch:
    """Show the file of `path` selected in the file manager (or at least its folder); an attachment's mail."""
    target = file_on_disk(path)
    if sys.platform == "darwin":
        return run_launcher(["open", "-R", target])
    if sys.platform == "win32":
        try:  # explorer's exit status means nothing (1 on success): started is all one can know
            _reap(subprocess.Popen(["explorer", f"/select,{os.path.normpath(target)}"]))
        except OSError as exc:
            return Launch(False, f"explorer could not be started: {exc.strerror or exc}")
        return Launch(True)
    if _show_items_dbus(target):
        return Launch(True)
    return open_location(str(Path(target).parent))


def file_uri(target: str) -> str:
    """The file:// URI of an OS path, exact for any bytes (QUrl needs valid text)."""
    return "file://" + urllib.parse.quote(os.fsencode(os.path.abspath(target)))


def _show_items_dbus(path: str) -> bool:
    """freedesktop FileManager1.ShowItems: Nautilus, Dolphin, Nemo, Caja and Thunar select the file."""
    try:
        from PySide6.QtDBus import QDBusConnection, QDBusInterface, QDBusMessage
    except ImportError:
        return False
    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    manager = QDBusInterface("org.freedesktop.FileManager1", "/org/freedesktop/FileManager1",
                             "org.freedesktop.FileManager1", bus)
    manager.setTimeout(round(LAUNCH_WAIT_S * 1000))
    if not manager.isValid():
        return False
    reply = manager.call("ShowItems", [file_uri(path)], "")
    return reply.type() != QDBusMessage.MessageType.ErrorMessage


def copy_path(path: str) -> None:
    """The file's path, as the OS spells it; as its key when it has bytes no text can hold."""
    target = os_path(path)
    QGuiApplication.clipboard().setText(target if readable(target) else path)
