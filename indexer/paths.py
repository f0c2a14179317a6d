"""Catalog keys: how a file's path is stored, losslessly, and back.

A POSIX file name is bytes; Python gives it as str with each undecodable byte as a lone
surrogate (`os.fsdecode`, surrogateescape), which SQLite text cannot hold. The key writes
such a byte as `\\xNN` and, so that no name can spell another's key, a backslash as `\\\\`:

    b"/d/caf\\xe9.txt"   ─▶ "/d/caf\\xe9.txt"      (one backslash: the byte 0xE9)
    b"/d/caf\\\\xe9.txt"  ─▶ "/d/caf\\\\xe9.txt"     (two: a name spelled with a backslash)

Every other path (almost all of them) is its own key, a folder's key is a prefix of the
keys below it, and `os_path(key(p)) == p`. Windows paths come from the OS as text and
use the backslash as their separator, so there the key is the path itself.
"""

from __future__ import annotations

import os
import re

ESCAPING = os.name == "posix"  # Linux, macOS, the BSDs
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")


def key(path: str) -> str:
    """The catalog key of an OS path (a str from os.walk, os.fsdecode or sys.argv)."""
    if not ESCAPING or ("\\" not in path and (path.isascii() or _encodable(path))):
        return path
    return path.replace("\\", "\\\\").encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def os_path(stored: str) -> str:
    """The OS path of a catalog key: open it, stat it, hand it to the file manager."""
    if not ESCAPING or "\\" not in stored:
        return stored
    return _ESCAPE.sub(_unescape, stored)


def _unescape(match: re.Match) -> str:
    escaped = match.group(1)
    return "\\" if escaped == "\\" else chr(0xDC00 + int(escaped[1:], 16))


def readable(path: str) -> bool:
    """Whether an OS path is valid text (no undecodable bytes): what Qt and the clipboard can hold."""
    return _encodable(path)


def display_name(stored: str) -> str:
    """A key's file name as text for people and for name search: undecodable bytes as `\\xNN`."""
    name = os.path.basename(os_path(stored))
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def as_text(message: str) -> str:
    """`message` (an error that may quote an OS path) as valid text: unencodable characters escaped."""
    return message if _encodable(message) else message.encode("utf-8", "backslashreplace").decode("utf-8")


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


ATTACHMENT_MARK = "#"  # `message.eml#report.pdf`: the attachment report.pdf of message.eml


def file_on_disk(stored: str) -> str:
    """The OS path of the file a key names on disk: its own, or for an attachment (`mail.eml#a.pdf`,
    which is no file) the file that carries it, so Open and Reveal act on the mail."""
    target = os_path(stored)
    if os.path.lexists(target):
        return target
    folder, name = os.path.split(target)
    while ATTACHMENT_MARK in name:
        name = name.rsplit(ATTACHMENT_MARK, 1)[0]
        if os.path.isfile(os.path.join(folder, name)):
            return os.path.join(folder, name)
    return target
