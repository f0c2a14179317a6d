"""Recognise secrets by their content, for files whose name does not give them away.

A private key copied to `notes.txt` or `backup` is still a private key: such a file is
recorded as skipped ("private key") and its contents never reach the index. The check looks
at the first bytes only, so it costs nothing on ordinary files.
"""

from __future__ import annotations

import re

PRIVATE_KEY = "private key"
_HEAD_BYTES = 256
# PEM (PKCS#1/#8, OpenSSH, EC, DSA, encrypted), PGP secret key blocks, PuTTY key files.
_PRIVATE_KEY_HEADER = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d+:)"
)


def is_private_key(data: bytes) -> bool:
    """Whether `data` (a file's contents, or at least its first bytes) starts like a private key."""
    return _PRIVATE_KEY_HEADER.match(data[:_HEAD_BYTES]) is not None
