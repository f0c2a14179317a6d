"""What a result can do: open (a PDF at its page when the viewer allows), reveal in its folder, copy its path.

Each takes a result's path, i.e. its catalog key (`indexer.paths`), and acts on the file it
names; a name with bytes that are not UTF-8, which Qt cannot hold, goes to xdg-open as bytes.
The functions are looked up on this module at call time (`actions.open_file(...)`), so tests
can replace them.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

from indexer.paths import os_path, readable

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


def _spawn(command: list[str]) -> bool:
    try:
        subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError:
        return False
    return True


def open_file(path: str, page: int | None = None) -> bool:
    """Open the file of `path` with its default application; a PDF at `page` where the viewer accepts one."""
    target = os_path(path)
    if page and target.lower().endswith(".pdf"):
        command = page_command(target, page, default_pdf_viewer())
        if command and _spawn(command):
            return True
    return _open_location(target)


def reveal_in_folder(path: str) -> bool:
    """Show the file of `path` selected in the file manager (or at least its folder)."""
    target = os_path(path)
    if sys.platform == "darwin":
        return _spawn(["open", "-R", target])
    if sys.platform == "win32":
        return _spawn(["explorer", f"/select,{os.path.normpath(target)}"])
    if _show_items_dbus(target):
        return True
    return _open_location(str(Path(target).parent))


def _open_location(target: str) -> bool:
    if readable(target):
        return QDesktopServices.openUrl(QUrl.fromLocalFile(target))
    return _spawn(["open" if sys.platform == "darwin" else "xdg-open", target])  # passed on as the bytes


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
    if not manager.isValid():
        return False
    reply = manager.call("ShowItems", [file_uri(path)], "")
    return reply.type() != QDBusMessage.MessageType.ErrorMessage


def copy_path(path: str) -> None:
    """The file's path, as the OS spells it; as its key when it has bytes no text can hold."""
    target = os_path(path)
    QGuiApplication.clipboard().setText(target if readable(target) else path)
