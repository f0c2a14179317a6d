"""Text from files (names, snippets, error reasons) made safe to print on a terminal.

A file name or a passage may hold control characters: ESC starts sequences that retitle,
clear or recolour the terminal, BEL rings, CR and backspace overwrite what was printed, C1
controls (U+0080-U+009F) act as ESC on some terminals, and bidi overrides (U+202E) reverse
what follows. Each is shown as a visible escape (`\\x1b`, `\\u202e`) instead. JSON output does
not need this: `json.dumps` escapes every C0 control itself.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0 controls (tab and newline included), DEL, C1 controls
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\u2028\u2029]"  # line and paragraph separators
)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` with every character that could drive the terminal shown as an escape."""
    return _UNSAFE.sub(_escaped, text)
