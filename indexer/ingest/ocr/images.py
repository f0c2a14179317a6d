"""Decode an image file with Pillow into RGB arrays for OCR, within a pixel cap.

Never by path in OpenCV (its `imread` has no decompression-bomb guard): Pillow reads the header
first, so the pixel count is known before any pixel is decoded. A JPEG over the cap is decoded
downscaled (draft mode, by 1/2, 1/4 or 1/8); any other format over it is refused. EXIF
orientation is applied; palette, CMYK, 16-bit, float and alpha images become 8-bit RGB (alpha
over white). Animated GIF, WebP and PNG give their first frame; a TIFF gives each of its pages
(up to `MAX_PAGES`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from indexer.ingest.budget import ensure_fits
from indexer.ingest.extract.opening import open_regular

MAX_PIXELS = 40_000_000  # per frame, after a JPEG's draft downscale
MAX_PAGES = 50  # pages of a TIFF
MULTI_PAGE_FORMATS = {"TIFF"}  # an MPO (a camera's JPEG with previews) is read by its first picture
PHOTO_PIXELS = 2_000_000  # a JPEG this large counts as a photo even without a camera's EXIF


class ImageError(Exception):
    """The image cannot be read; ``str(exc)`` is the reason to record."""


@dataclass(frozen=True)
class Frame:
    """One picture to read: its page (TIFF pages; None for a single image), its RGB pixels, and
    the factor from those pixels back to the oriented original's (draft mode shrinks a JPEG)."""

    page: int | None
    rgb: np.ndarray
    scale: float
    camera: bool  # EXIF says a camera took it (a photo: the "no text" pre-pass applies)
    full_size: tuple[int, int] | None = None  # (width, height) of the oriented original, for a glance


HEIF_SUFFIXES = (".heic", ".heif")


def _heif_decoder(path: Path) -> None:
    """Register pillow-heif's decoder for HEIC/HEIF when it is installed; else say how to get it."""
    if path.suffix.lower() not in HEIF_SUFFIXES:
        return
    try:
        import pillow_heif
    except ImportError as exc:
        raise ImageError("HEIC/HEIF photos need a decoder: pip install pillow-heif") from exc
    pillow_heif.register_heif_opener()


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header alone."""
    _heif_decoder(path)
    with open_regular(path) as fh, _opened(fh) as image:
        return image.size


def glance(path: Path, max_side: int) -> Frame | None:
    """A small picture of a camera photo for the "no text" pre-pass (None when `path` is not one):
    a JPEG decoded in draft mode at 1/2 to 1/8 scale costs a fraction of a full decode."""
    with open_regular(path) as fh, _opened(fh) as image:
        camera = _taken_by_camera(image)
        if image.format != "JPEG" or not (camera or image.size[0] * image.size[1] >= PHOTO_PIXELS):
            return None
        width, height = image.size
        reduce = next((r for r in (8, 4, 2) if max(width, height) // r >= max_side), 1)
        image.draft("RGB", (width // reduce, height // reduce))
        ensure_fits(image.size[0] * image.size[1] * 12, f"a {width}×{height} image")
        try:
            image.load()
            oriented = ImageOps.exif_transpose(image) or image
            turned = (oriented.size[0] > oriented.size[1]) != (width > height)  # EXIF turned it a quarter
            full = (height, width) if turned else (width, height)
            oriented.thumbnail((max_side, max_side))
            return Frame(None, np.ascontiguousarray(_to_rgb(oriented)), full[0] / oriented.size[0], camera,
                         full)
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"corrupt or truncated image: {exc}") from exc


def frames(path: Path, max_pixels: int = MAX_PIXELS) -> Iterator[Frame]:
    """The frames of `path` to read, decoded one at a time."""
    with open_regular(path) as fh, _opened(fh) as image:
        camera = _taken_by_camera(image)
        multi = image.format in MULTI_PAGE_FORMATS and getattr(image, "n_frames", 1) > 1
        sequence = ImageSequence.Iterator(image) if multi else [image]
        for number, frame in enumerate(sequence, 1):
            if number > MAX_PAGES:
                break
            rgb, scale = _decode(frame, max_pixels)
            yield Frame(number if multi else None, rgb, scale, camera)


class _opened:
    """`Image.open`, its errors as `ImageError`. Pillow's own bomb warning is silenced (our cap,
    with a JPEG's draft mode, decides); its bomb error (over twice its limit) is "too large"."""

    def __init__(self, fh) -> None:
        self.fh = fh

    def __enter__(self) -> Image.Image:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                self.image = Image.open(self.fh)
        except Image.DecompressionBombError as exc:
            raise ImageError(f"image too large: {exc}") from exc
        except UnidentifiedImageError as exc:
            raise ImageError("not an image Pillow can read (unknown or corrupt format)") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageError(f"corrupt image: {exc}") from exc
        return self.image

    def __exit__(self, *exc: object) -> None:
        self.image.close()


def _taken_by_camera(image: Image.Image) -> bool:
    try:
        exif = image.getexif()
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to fail the image
        return False
    return bool(exif.get(0x010F) or exif.get(0x0110))  # Make, Model


def _decode(frame: Image.Image, max_pixels: int) -> tuple[np.ndarray, float]:
    width, height = frame.size
    scale = 1.0
    if width * height > max_pixels:
        if frame.format != "JPEG":
            raise ImageError(f"image too large: {width}×{height} pixels, over the "
                             f"{max_pixels / 1e6:g} MP cap")
        reduce = next((r for r in (2, 4, 8) if (width // r) * (height // r) <= max_pixels), None)
        if reduce is None:
            raise ImageError(f"image too large: {width}×{height} pixels, over the "
                             f"{max_pixels / 1e6:g} MP cap even at 1/8 scale")
        frame.draft("RGB", (width // reduce, height // reduce))
        scale = width / frame.size[0]
    ensure_fits(frame.size[0] * frame.size[1] * 12, f"a {width}×{height} image")  # RGB + working copies
    try:
        frame.load()
        oriented = ImageOps.exif_transpose(frame) or frame
        return np.ascontiguousarray(_to_rgb(oriented)), scale
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"corrupt or truncated image: {exc}") from exc


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        pixels = np.asarray(image, dtype=np.float32)
        low, high = float(pixels.min()), float(pixels.max())
        grey = ((pixels - low) * (255.0 / (high - low or 1.0))).astype(np.uint8)
        return np.stack([grey] * 3, axis=-1)
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or image.mode == "RGBA":
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"))
