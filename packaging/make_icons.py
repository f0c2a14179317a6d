"""Render the app icon (desktop/icons/findling.svg) to the PNG sizes desktops ask for.

    QT_QPA_PLATFORM=offscreen python packaging/make_icons.py

Writes desktop/icons/findling-<size>.png (loaded by the app, copied into the hicolor theme by
packaging/build.sh). Run it after changing the SVG and commit the PNGs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICONS = Path(__file__).resolve().parent.parent / "desktop" / "icons"


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    app = QGuiApplication(sys.argv[:1])  # noqa: F841 - needed for painting
    renderer = QSvgRenderer(str(ICONS / "findling.svg"))
    if not renderer.isValid():
        print("findling.svg could not be read", file=sys.stderr)
        return 1
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        target = ICONS / f"findling-{size}.png"
        image.save(str(target))
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
