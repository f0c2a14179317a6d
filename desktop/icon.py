"""The app icon, from the PNGs rendered from desktop/icons/findling.svg (packaging/make_icons.py)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon

ICONS = Path(__file__).resolve().parent / "icons"


@cache
def app_icon() -> QIcon:
    """Every rendered size (crisp in a 22 px tray and a 256 px dock), the SVG where it can be read."""
    icon = QIcon()
    for png in sorted(ICONS.glob("findling-*.png")):
        icon.addFile(str(png))
    if icon.isNull():
        icon = QIcon(str(ICONS / "findling.svg"))
    return icon
