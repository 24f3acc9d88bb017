"""Real test images, drawn with Pillow."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def make_image(width: int = 640, height: int = 360, fmt: str = "PNG", color: str = "steelblue") -> bytes:
    """A real encoded image with some structure (a gradient band and a circle)."""
    img = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(img)
    for x in range(0, width, max(1, width // 32)):
        draw.line([(x, 0), (x, height // 4)], fill=(x * 255 // max(1, width), 80, 160), width=2)
    r = min(width, height) // 4
    draw.ellipse([width // 2 - r, height // 2 - r, width // 2 + r, height // 2 + r], fill="orange")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()
