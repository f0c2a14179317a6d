"""The OCR seam: RapidOCR from the wheel's own models, images decoded safely by Pillow."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from ocr_images import CJK_FONT, needs_cjk_font, needs_latin_font, needs_ocr, text_image

pytest.importorskip("PIL")


@needs_ocr
@needs_latin_font
def test_reads_accented_latin_with_sockets_refused(tmp_path: Path, monkeypatch) -> None:
    """The shipped model reads French accents, and building and running it opens no socket."""
    from indexer.ingest.ocr.task import ocr_file

    def refuse(*args, **kwargs):
        raise AssertionError("OCR tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    path = tmp_path / "Screenshot from 2024-03-07 15-09-51.png"
    text_image(["Paramètres de l'installation", "Veuillez sélectionner le disque"]).save(path)
    result = ocr_file(str(path), "image", 48)
    assert result.status == "text"
    text = result.units()[0].text
    assert "Paramètres de l'installation" in text and "sélectionner" in text
    first = result.pages[0].lines[0]
    assert text[first.start:first.end] == first.text
    x0, y0, x1, y1, x2, y2, x3, y3 = first.box  # the line's box, in the image's pixels
    assert 20 <= x0 <= 40 and 20 <= y0 <= 40 and x2 > 300 and 50 < y2 < 80


@needs_ocr
@needs_cjk_font
def test_reads_chinese(tmp_path: Path) -> None:
    from indexer.ingest.ocr.task import ocr_file

    path = tmp_path / "receipt.png"
    text_image(["发票金额三百元", "北京市朝阳区"], font=CJK_FONT, px=36).save(path)
    result = ocr_file(str(path), "image", 48)
    assert result.status == "text"
    text = result.units()[0].text
    assert "发票金额" in text and "北京市" in text


@needs_ocr
@needs_latin_font
def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    """A phone photo stored sideways with EXIF orientation 6 (rotate 90° clockwise to view)."""
    from PIL import Image

    from indexer.ingest.ocr.task import ocr_file

    upright = text_image(["Quittance de loyer"], size=(700, 200))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what the sensor wrote
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "photo.jpg"
    stored.save(path, exif=exif, quality=95)
    result = ocr_file(str(path), "image", 48)
    assert "Quittance de loyer" in result.units()[0].text
    assert (result.pages[0].width, result.pages[0].height) == (700, 200)


def test_modes_become_rgb(tmp_path: Path) -> None:
    """CMYK, 16-bit grey, alpha (over white) and palette images all come out as 8-bit RGB."""
    from PIL import Image

    from indexer.ingest.ocr.images import frames

    Image.new("CMYK", (64, 32), (0, 0, 0, 255)).save(tmp_path / "cmyk.jpg")
    Image.fromarray(np.full((32, 64), 65535, dtype=np.uint16)).save(tmp_path / "grey16.png")
    Image.new("RGBA", (64, 32), (0, 0, 0, 0)).save(tmp_path / "clear.png")
    Image.new("P", (64, 32), 3).save(tmp_path / "palette.gif")
    for name, expected in [("cmyk.jpg", 0), ("grey16.png", 0), ("clear.png", 255), ("palette.gif", None)]:
        (frame,) = list(frames(tmp_path / name))
        assert frame.rgb.dtype == np.uint8 and frame.rgb.shape == (32, 64, 3), name
        if expected is not None:
            assert abs(int(frame.rgb.mean()) - expected) <= 2, name


def test_first_frame_of_an_animation_and_each_tiff_page(tmp_path: Path) -> None:
    from PIL import Image

    from indexer.ingest.ocr.images import frames

    red, blue = Image.new("RGB", (40, 40), "red"), Image.new("RGB", (40, 40), "blue")
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue, blue])
    red.save(tmp_path / "pages.tif", save_all=True, append_images=[blue])
    (only,) = list(frames(tmp_path / "anim.gif"))
    assert only.page is None and only.rgb[0, 0, 0] > 200
    pages = list(frames(tmp_path / "pages.tif"))
    assert [p.page for p in pages] == [1, 2] and pages[1].rgb[0, 0, 2] > 200


def test_decompression_bomb_and_truncated_jpeg_are_refused(tmp_path: Path) -> None:
    from PIL import Image

    from indexer.ingest.ocr.images import ImageError, frames
    from indexer.ingest.ocr.task import ocr_file

    Image.new("1", (10_000, 10_000)).save(tmp_path / "bomb.png")  # 100 MP in a few kB
    with pytest.raises(ImageError, match="image too large: 10000×10000"):
        list(frames(tmp_path / "bomb.png"))
    assert ocr_file(str(tmp_path / "bomb.png"), "image", 48).reason.startswith("image too large")
    photo = tmp_path / "cut.jpg"
    Image.effect_noise((400, 300), 60).convert("RGB").save(photo, quality=90)
    photo.write_bytes(photo.read_bytes()[:3000])
    result = ocr_file(str(photo), "image", 48)
    assert result.status == "error" and "truncated" in result.reason


def test_a_huge_jpeg_is_decoded_downscaled(tmp_path: Path) -> None:
    """Over the pixel cap, a JPEG is decoded in draft mode at a fraction of its size."""
    from PIL import Image

    from indexer.ingest.ocr.images import frames

    Image.new("RGB", (4000, 3000), "white").save(tmp_path / "big.jpg")
    (frame,) = list(frames(tmp_path / "big.jpg", max_pixels=4_000_000))
    assert frame.rgb.shape[:2] == (1500, 2000) and frame.scale == 2.0


def test_too_small_to_hold_text(tmp_path: Path) -> None:
    from PIL import Image

    from indexer.ingest.ocr.task import ocr_file

    Image.new("RGB", (32, 32), "white").save(tmp_path / "icon.png")
    result = ocr_file(str(tmp_path / "icon.png"), "image", 48)
    assert (result.status, result.reason) == ("no_text", "too small to hold text (32×32 px)")


@needs_ocr
@needs_latin_font
def test_camera_photos_get_a_cheap_look_first(tmp_path: Path) -> None:
    """A camera photo without text is judged by the detector alone on a small draft decode (no full
    read); one with text (a whiteboard) still is read in full."""
    from PIL import Image

    from indexer.ingest.ocr.task import engine, ocr_file

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Findling", "Test Camera"
    rng = np.random.default_rng(3)
    field = Image.fromarray(rng.integers(0, 255, (4, 6, 3), dtype=np.uint8)).resize((2400, 1600))
    field.save(tmp_path / "IMG_0001.jpg", exif=exif)
    board = text_image(["Réunion lundi 9h"], size=(2400, 1600), px=140)
    board.save(tmp_path / "IMG_0002.jpg", exif=exif)
    before = engine().calls
    nothing = ocr_file(str(tmp_path / "IMG_0001.jpg"), "image", 48)
    assert (nothing.status, engine().calls) == ("no_text", before)
    assert (nothing.pages[0].width, nothing.pages[0].height) == (2400, 1600)
    read = ocr_file(str(tmp_path / "IMG_0002.jpg"), "image", 48)
    assert engine().calls == before + 1 and "Réunion lundi" in read.units()[0].text


@needs_latin_font
def test_which_pdf_pages_need_ocr(tmp_path: Path) -> None:
    """Per page: a picture without a text layer is read; a picture carrying an invisible OCR layer,
    a typed page and a blank page are not."""
    pytest.importorskip("fpdf")
    from ocr_images import scanned_pdf

    from indexer.ingest.ocr.pdf_pages import OCR_DPI, pages_to_read

    layer = "Contrat de location, page deux, avec sa couche de texte invisible."
    scanned_pdf(tmp_path / "mixed.pdf", [["Page un"], ["Page deux"], None, None],
                text_layer={1: layer, 3: "A page typed in a word processor, no picture on it at all."})
    scanned_pdf(tmp_path / "ocrd.pdf", [["Page un"]], text_layer={0: layer}, invisible=True)
    read = list(pages_to_read(tmp_path / "mixed.pdf"))
    assert [number for number, _ in read] == [1]
    assert abs(read[0][1].shape[1] - 148 / 25.4 * OCR_DPI) < 1.5  # A5 at 150 dpi: 874 px wide
    assert list(pages_to_read(tmp_path / "ocrd.pdf")) == []
