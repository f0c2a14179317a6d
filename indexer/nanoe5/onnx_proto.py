"""Write ONNX models without the `onnx` package: a minimal protobuf encoder for the messages a graph needs.

Only what `graph` uses: ModelProto, GraphProto, NodeProto, AttributeProto (int, float, ints, string),
TensorProto (raw data inline, or external data in a side file), ValueInfoProto with symbolic
dimensions. Field numbers are onnx.proto3's, which ONNX never renumbers. Weights go to one external
data file, each tensor aligned to 4 KiB so onnxruntime can map them; the .onnx file stays small.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

IR_VERSION = 8  # onnxruntime ≥ 1.14 reads it; opset 18 needs IR ≥ 8
DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int8): 3, np.dtype(np.int32): 6,
          np.dtype(np.int64): 7, np.dtype(np.float16): 10}
ALIGN = 4096
_INT, _FLOAT, _STRING, _INTS = 2, 1, 3, 7  # AttributeProto.AttributeType


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int64s as two's complement
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes(number: int, payload: bytes | str) -> bytes:
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return _key(number, 2) + _varint(len(data)) + data


def _int(number: int, value: int) -> bytes:
    return _key(number, 0) + _varint(int(value))


def _float(number: int, value: float) -> bytes:
    return _key(number, 5) + struct.pack("<f", value)


def _attribute(name: str, value: int | float | str | Sequence[int]) -> bytes:
    if isinstance(value, bool | int | np.integer):
        return _bytes(1, name) + _int(3, int(value)) + _int(20, _INT)
    if isinstance(value, float):
        return _bytes(1, name) + _float(2, value) + _int(20, _FLOAT)
    if isinstance(value, str):
        return _bytes(1, name) + _bytes(4, value) + _int(20, _STRING)
    return _bytes(1, name) + b"".join(_int(8, v) for v in value) + _int(20, _INTS)


def _value_info(name: str, elem_type: int, shape: Sequence[int | str]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d) if isinstance(d, int) else _bytes(2, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


@dataclass
class Graph:
    """Nodes, inputs, outputs and initializers, written as one ONNX model plus its weights file."""

    name: str = "graph"
    nodes: list[bytes] = field(default_factory=list)
    inputs: list[bytes] = field(default_factory=list)
    outputs: list[bytes] = field(default_factory=list)
    initializers: dict[str, np.ndarray] = field(default_factory=dict)
    inline_limit: int = 64  # tensors up to this many bytes stay inside the .onnx file
    _count: int = 0

    def input(self, name: str, dtype: type, shape: Sequence[int | str]) -> str:
        self.inputs.append(_value_info(name, DTYPES[np.dtype(dtype)], shape))
        return name

    def output(self, name: str, dtype: type, shape: Sequence[int | str]) -> None:
        self.outputs.append(_value_info(name, DTYPES[np.dtype(dtype)], shape))

    def constant(self, name: str, array: np.ndarray) -> str:
        """An initializer (a weight or a constant); returns its name."""
        if name in self.initializers:
            raise ValueError(f"duplicate initializer {name}")
        self.initializers[name] = np.ascontiguousarray(array)
        return name

    def node(self, op: str, inputs: Sequence[str], outputs: int | Sequence[str] = 1, domain: str = "",
             **attributes: int | float | str | Sequence[int]) -> str | list[str]:
        """Add a node; `outputs` is a count (names are generated) or names. Returns the output name(s)."""
        self._count += 1
        names = [f"{op.lower()}_{self._count}_{i}" for i in range(outputs)] if isinstance(outputs, int) \
            else list(outputs)
        body = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in names)
        body += _bytes(3, f"{op}_{self._count}") + _bytes(4, op)
        body += b"".join(_bytes(5, _attribute(k, v)) for k, v in attributes.items())
        if domain:
            body += _bytes(7, domain)
        self.nodes.append(body)
        return names[0] if len(names) == 1 else names

    def _tensors(self, weights: BinaryIO | None, location: str) -> list[bytes]:
        written = 0
        protos = []
        for name, array in self.initializers.items():
            proto = b"".join(_int(1, d) for d in array.shape) + _int(2, DTYPES[array.dtype]) + _bytes(8, name)
            data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            if weights is None or len(data) <= self.inline_limit:
                proto += _bytes(9, data)
            else:
                pad = -written % ALIGN
                weights.write(bytes(pad))
                written += pad
                entries = (("location", location), ("offset", str(written)), ("length", str(len(data))))
                proto += b"".join(_bytes(13, _bytes(1, k) + _bytes(2, v)) for k, v in entries) + _int(14, 1)
                weights.write(data)
                written += len(data)
            protos.append(proto)
        return protos

    def serialize(self, opsets: dict[str, int], weights: BinaryIO | None = None,
                  location: str = "", producer: str = "findling") -> bytes:
        """The ModelProto bytes; with `weights`, large initializers are written there (as `location`)."""
        graph = b"".join(_bytes(1, n) for n in self.nodes) + _bytes(2, self.name)
        graph += b"".join(_bytes(5, t) for t in self._tensors(weights, location))
        graph += b"".join(_bytes(11, i) for i in self.inputs) + b"".join(_bytes(12, o) for o in self.outputs)
        model = _int(1, IR_VERSION) + _bytes(2, producer)
        model += b"".join(_bytes(8, (_bytes(1, domain) if domain else b"") + _int(2, version))
                          for domain, version in opsets.items())
        return model + _bytes(7, graph)
