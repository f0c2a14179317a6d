"""Files the desktop says were used recently (freedesktop `recently-used.xbel`), for priority."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse
from xml.etree import ElementTree

import platformdirs


def recently_used_file() -> Path:
    return Path(platformdirs.user_data_dir()) / "recently-used.xbel"


def recently_used(path: Path | None = None) -> set[str]:
    """Absolute paths of the local files in the recently-used list (empty when there is none)."""
    path = path or recently_used_file()
    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return set()
    found = set()
    for bookmark in root.iter("bookmark"):
        url = urlparse(bookmark.get("href", ""))
        if url.scheme == "file":
            found.add(os.path.normpath(unquote(url.path)))
    return found
