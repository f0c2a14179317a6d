"""Build a SentencePiece "precompiled charsmap" (what `tokenizers.normalizers.Precompiled` reads).

The blob is: u32 trie size in bytes, a darts-clone double-array trie (u32 units) mapping the UTF-8 bytes
of an input to the byte offset of its replacement, then the replacements, each NUL-terminated. A
unit holds a label (low 8 bits), a has-leaf flag (bit 8) and the XOR offset to its children (bits 10+);
a leaf unit holds a value with bit 31 set. Children of a node whose block starts at `base` sit at
`base ^ byte`; its leaf at `base ^ 0`. Bases are unique and the array is a whole number of 256-unit
blocks, so a lookup never leaves the array.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

_LEAF = 1 << 31
_MAX_OFFSET = 1 << 21  # offsets above this need darts' extension encoding, never reached here
_SCAN = 512  # free positions tried per node before a fresh block is used


def _trie(keys: list[bytes]) -> dict:
    root: dict = {}
    for key in keys:
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[0] = key  # the leaf marker (a real key never contains NUL)
    return root


def build_charsmap(mapping: Mapping[str, str]) -> bytes:
    """The precompiled charsmap replacing each key of `mapping` by its value ("" deletes it)."""
    keys = sorted(k.encode("utf-8") for k in mapping)
    if any(not k or 0 in k for k in keys):
        raise ValueError("charsmap keys must be non-empty and contain no NUL")
    strings = bytearray()
    value_of: dict[bytes, int] = {}
    seen: dict[str, int] = {}
    for key in keys:
        replacement = mapping[key.decode("utf-8")]
        if replacement not in seen:
            seen[replacement] = len(strings)
            strings += replacement.encode("utf-8") + b"\0"
        value_of[key] = seen[replacement]

    units: list[int] = [0] * 256
    used = bytearray(256)
    used[0] = 1  # the root
    bases: set[int] = set()
    cursor = 1

    def grow(limit: int) -> None:
        while len(units) <= limit:
            units.extend([0] * 256)
            used.extend(bytes(256))

    def place(labels: list[int]) -> int:
        """The first free base near the front whose children all fit, else a fresh block at the end."""
        nonlocal cursor
        cursor = used.find(0, cursor)
        if cursor < 0:
            cursor = len(used)
        position = cursor
        for _ in range(_SCAN):
            position = used.find(0, position)
            if position < 0:
                break
            base = position ^ labels[0]
            if base not in bases and all(base ^ label < len(used) and not used[base ^ label]
                                         for label in labels):
                return base
            position += 1
        base = len(units)
        grow(base + 255)
        return base

    queue: list[tuple[int, dict]] = [(0, _trie(keys))]
    while queue:
        position, node = queue.pop()
        labels = sorted(node)
        base = place(labels)
        bases.add(base)
        offset = position ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("charsmap too large for the simple offset encoding")
        units[position] |= offset << 10 | (256 if 0 in node else 0)
        for label in labels:
            used[base ^ label] = 1
            if label == 0:
                units[base] = _LEAF | value_of[node[0]]
            else:
                units[base ^ label] = label
                queue.append((base ^ label, node[label]))
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(strings)


def read_charsmap(blob: bytes) -> dict[bytes, bytes]:
    """Every (input bytes, replacement bytes) entry of a precompiled charsmap (for tests and checks)."""
    (size,) = struct.unpack_from("<I", blob, 0)
    units = struct.unpack_from(f"<{size // 4}I", blob, 4)
    strings = blob[4 + size:]

    def offset(unit: int) -> int:
        return (unit >> 10) << ((unit & (1 << 9)) >> 6)

    found: dict[bytes, bytes] = {}
    stack = [(0, b"")]
    while stack:
        position, key = stack.pop()
        base = position ^ offset(units[position])
        for label in range(1, 256):
            child = base ^ label
            if child < len(units) and units[child] & (_LEAF | 0xFF) == label:
                grown = key + bytes([label])
                leaf = child ^ offset(units[child])
                if units[child] >> 8 & 1:
                    start = units[leaf] & (_LEAF - 1)
                    found[grown] = strings[start:strings.index(b"\0", start)]
                stack.append((child, grown))
    return found
