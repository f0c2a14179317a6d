"""Start at login, as an option: an XDG autostart entry on Linux and other freedesktop systems.

    ~/.config/autostart/findling.desktop         →  findling-desktop --hidden
    ~/.config/autostart/findling-<hash>.desktop  →  findling-desktop --hidden --data-dir DIR

`--hidden` starts in the tray (or as a normal window where there is no tray). The entry is
the packaged one (packaging/linux/findling-autostart.desktop) with the Exec line of this
installation. Windows and macOS have their own mechanisms (a shortcut in the Startup folder;
a LaunchAgent or Login Items), documented in the README and not written by the app.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

ENTRY_NAME = "findling.desktop"
RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")  # characters that need quoting in Exec


def supported() -> bool:
    return sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd"))


def autostart_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "autostart"


def _own_dir(data_dir: Path | None) -> Path | None:
    """`data_dir`, or None for the default data dir (whose entry names no data dir)."""
    from indexer.config import default_data_dir

    if data_dir is None or Path(data_dir).resolve() == default_data_dir().resolve():
        return None
    return Path(data_dir).resolve()


def entry_path(data_dir: Path | None = None) -> Path:
    """One entry per index: starting at login is a choice made for each data dir."""
    own = _own_dir(data_dir)
    if own is None:
        return autostart_dir() / ENTRY_NAME
    digest = hashlib.sha1(str(own).encode()).hexdigest()[:8]
    return autostart_dir() / f"findling-{digest}.desktop"


def launch_command(data_dir: Path | None = None) -> list[str]:
    """How to start this installation: the frozen binary, the console script, or `python -m desktop`."""
    beside = Path(sys.executable).with_name("findling-desktop")  # this environment's own script
    if getattr(sys, "frozen", False):
        command = [sys.executable]
    elif beside.is_file():
        command = [str(beside)]
    elif shutil.which("findling-desktop"):
        command = [shutil.which("findling-desktop")]
    else:
        command = [sys.executable, "-m", "desktop"]
    command.append("--hidden")
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    return command


def exec_line(command: list[str]) -> str:
    """A desktop-entry Exec value, quoted as the Desktop Entry spec asks (double quotes, `%` doubled)."""

    def quote(part: str) -> str:
        if part and not any(c in RESERVED for c in part):
            return part.replace("%", "%%")
        escaped = "".join("\\" + c if c in '"`$\\' else c for c in part)
        return f'"{escaped}"'.replace("%", "%%")

    # the string-value escape (a backslash written twice) applies on top of the quoting
    return " ".join(quote(part) for part in command).replace("\\", "\\\\")


def entry_text(command: list[str]) -> str:
    return "\n".join([
        "[Desktop Entry]",
        "Type=Application",
        "Name=Findling",
        "GenericName=File search",
        "Comment=Keep the Findling index current and quick search a click away",
        f"Exec={exec_line(command)}",
        "Icon=findling",
        "Terminal=false",
        "Categories=Utility;",
        "X-GNOME-Autostart-enabled=true",
        "",
    ])


def enabled(data_dir: Path | None = None) -> bool:
    return entry_path(data_dir).is_file()


def enable(data_dir: Path | None = None) -> Path:
    """Write the autostart entry for `data_dir` (replacing an older one); returns its path."""
    path = entry_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(entry_text(launch_command(_own_dir(data_dir))), encoding="utf-8")
    os.replace(staged, path)
    return path


def disable(data_dir: Path | None = None) -> None:
    entry_path(data_dir).unlink(missing_ok=True)
