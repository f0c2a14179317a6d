"""The RapidOCR engine (PyPI `rapidocr` 3.x), built from the models its wheel ships.

RapidOCR downloads a model when none is named; here every model is named by its path inside
the installed package, so it never does (a test runs OCR with sockets refused). The engine
runs on ONNX Runtime with one intra-op thread (OCR is background work on a shared laptop), the
direction classifier off (pages are read upright; slight skew is the detector's job), and the
detector limited to `DETECT_MAX_SIDE` pixels on the long side.

Images come in as RGB arrays (`indexer.ingest.ocr.images`); RapidOCR takes an array as BGR.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The detector's input, long side. Recognition costs most of a page (0.8 s detection, 3.5 s
# recognition of a 150 dpi A4 page on a loaded machine), and 960 saved only ~10% while shrinking
# a tall receipt's small print below what the detector finds.
DETECT_MAX_SIDE = 1280
# Lines recognised per call: RapidOCR's 6. 16 was ~10% faster on an idle moment but raised a page's
# peak RSS from ~590 to ~850 MB; 1 saved little (~530 MB, dominated by the detector).
REC_BATCH = 6
PREPASS_MAX_SIDE = 640  # the "no text" pre-pass for photos: the detector alone, at this size
MODEL_FILES = {  # the wheel's own models (PP-OCRv6 small: multilingual Latin, Chinese, Japanese)
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}


class EngineUnavailable(RuntimeError):
    """RapidOCR or its models are missing."""


@dataclass(frozen=True)
class Line:
    text: str
    box: tuple[float, ...]  # 8 numbers, the pixels of the array it was read from
    score: float


def model_dir() -> Path:
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


class OcrEngine:
    """One RapidOCR instance; `read(rgb)` gives the lines of text in an RGB array."""

    def __init__(self, threads: int = 1) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:
            raise EngineUnavailable(f"RapidOCR is not installed ({exc})") from exc
        models = model_dir()
        params: dict[str, object] = {
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "Det.limit_side_len": DETECT_MAX_SIDE,
            "Rec.rec_batch_num": REC_BATCH,
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        for section, name in MODEL_FILES.items():
            path = models / name
            if not path.is_file():
                raise EngineUnavailable(f"the RapidOCR wheel has no {name} (in {models})")
            params[f"{section}.model_path"] = str(path)
        self._engine = RapidOCR(params=params)
        logging.getLogger("RapidOCR").setLevel(logging.ERROR)
        self.calls = 0  # full reads, for tests and the benchmark

    def read(self, rgb: np.ndarray) -> list[Line]:
        self.calls += 1
        out = self._engine(_bgr(rgb), use_det=True, use_cls=False, use_rec=True)
        if getattr(out, "txts", None) is None or out.boxes is None:
            return []
        return [Line(str(text), tuple(float(v) for v in np.asarray(box).reshape(-1)[:8]), float(score))
                for text, box, score in zip(out.txts, out.boxes, out.scores)]

    def has_text(self, rgb: np.ndarray) -> bool:
        """The pre-pass: does the detector, alone and at low resolution, see any text?"""
        small = _shrunk(rgb, PREPASS_MAX_SIDE)
        out = self._engine(_bgr(small), use_det=True, use_cls=False, use_rec=False)
        boxes = getattr(out, "boxes", None)
        if boxes is None:
            return False
        height, width = small.shape[:2]
        return any(_line_like(np.asarray(box).reshape(-1, 2), width, height) for box in boxes)


def _line_like(points: np.ndarray, width: int, height: int) -> bool:
    """A box that could hold a line of text: not most of the picture (the detector takes a sky or
    a wall's gradient for one huge "line")."""
    box_w = float(points[:, 0].max() - points[:, 0].min())
    box_h = float(points[:, 1].max() - points[:, 1].min())
    return box_h <= 0.3 * height and box_w * box_h <= 0.2 * width * height


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _shrunk(rgb: np.ndarray, max_side: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    factor = max_side / max(height, width)
    if factor >= 1:
        return rgb
    from PIL import Image

    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
