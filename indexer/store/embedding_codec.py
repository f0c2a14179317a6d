"""How an embedding is stored in the catalog: float32 (the default), float16 or int8 (`embedding_storage`).

Blobs describe themselves, so a reader decodes any of them without knowing the catalog's setting:
- float32: the 4·d bytes of the vector (every catalog before schema 7; length a multiple of 4);
- float16: a tag byte 0x01, then 2·d bytes (odd length);
- int8: a tag byte 0x10 + p, a float32 scale, d signed bytes, then p padding bytes that make the
  length 1 more than a multiple of 4; the vector is codes × scale (scale = max |x| / 127).
A length that is not a multiple of 4 therefore always starts with a tag.
"""

from __future__ import annotations

import numpy as np

STORAGES = ("float32", "float16", "int8")
DEFAULT_STORAGE = "float32"
_FLOAT16 = 0x01
_INT8 = 0x10


def encode(vector: np.ndarray, storage: str = DEFAULT_STORAGE) -> bytes:
    vector = np.asarray(vector, dtype=np.float32)
    if storage == "float32":
        return vector.tobytes()
    if storage == "float16":
        return bytes([_FLOAT16]) + vector.astype("<f2").tobytes()
    if storage == "int8":
        peak = float(np.abs(vector).max(initial=0.0))
        scale = peak / 127 if peak > 0 else 1.0
        codes = np.clip(np.rint(vector / scale), -127, 127).astype(np.int8)
        pad = (1 - (5 + codes.size)) % 4
        return bytes([_INT8 + pad]) + np.float32(scale).tobytes() + codes.tobytes() + b"\0" * pad
    raise ValueError(f"Unknown embedding storage {storage!r}; use one of {', '.join(STORAGES)}.")


def decode(blob: bytes) -> np.ndarray:
    """The float32 vector a blob of any storage holds."""
    if len(blob) % 4 == 0:
        return np.frombuffer(blob, dtype=np.float32)
    tag = blob[0]
    if tag == _FLOAT16:
        return np.frombuffer(blob, dtype="<f2", offset=1).astype(np.float32)
    if _INT8 <= tag < _INT8 + 4:
        scale = np.frombuffer(blob, dtype=np.float32, count=1, offset=1)[0]
        codes = np.frombuffer(blob, dtype=np.int8, count=len(blob) - 5 - (tag - _INT8), offset=5)
        return codes.astype(np.float32) * scale
    raise ValueError(f"Not an embedding blob (length {len(blob)}, tag {tag:#x})")


def storage_of(blob: bytes) -> str:
    if len(blob) % 4 == 0:
        return "float32"
    return "float16" if blob[0] == _FLOAT16 else "int8"


def convert(blob: bytes | None, storage: str) -> bytes | None:
    """The blob in `storage` (unchanged when it already is); None stays None."""
    if blob is None or storage_of(blob) == storage:
        return blob
    return encode(decode(blob), storage)
