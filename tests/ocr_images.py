"""Pictures of text for the OCR tests, rendered with Pillow (fonts from Debian's packages)."""

from __future__ import annotations

from pathlib import Path

import pytest

LATIN_FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # fonts-dejavu-core
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")  # fonts-wqy-zenhei

needs_ocr = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("rapidocr") is None, reason="the ocr extra is not installed")
needs_latin_font = pytest.mark.skipif(not LATIN_FONT.exists(), reason="fonts-dejavu-core is not installed")
needs_cjk_font = pytest.mark.skipif(not CJK_FONT.exists(), reason="fonts-wqy-zenhei is not installed")


def text_image(lines: list[str], size: tuple[int, int] = (800, 360), font: Path = LATIN_FONT,
               px: int = 32):
    """A white picture with `lines` in black, `px` pixels high, one under the other."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    face = ImageFont.truetype(str(font), px)
    for row, line in enumerate(lines):
        draw.text((30, 30 + row * int(px * 2)), line, font=face, fill="black")
    return image


def scanned_pdf(path: Path, pages: list[list[str] | None], text_layer: dict[int, str] | None = None,
                invisible: bool = False) -> Path:
    """A PDF whose pages are pictures of `pages` (None: a blank page with no image), at 150 dpi
    on A5, with no text layer except the text of `text_layer` (page index → text), drawn
    invisibly (as an OCR layer) with `invisible`."""
    from fpdf import FPDF

    pdf = FPDF(format="A5")
    pdf.set_auto_page_break(False)
    for index, lines in enumerate(pages):
        pdf.add_page()
        if lines is not None:
            picture = path.with_name(f"{path.stem}-page{index}.png")
            text_image(lines, size=(874, 1240), px=40).save(picture)
            pdf.image(str(picture), x=0, y=0, w=148, h=210)
            picture.unlink()
        if text_layer and index in text_layer:
            pdf.set_font("helvetica", size=12)
            if invisible:
                pdf.text_mode = "INVISIBLE"
            pdf.set_xy(10, 180)
            pdf.multi_cell(120, 6, text_layer[index])
    pdf.output(str(path))
    return path
