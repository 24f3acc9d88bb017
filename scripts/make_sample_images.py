"""Draw the sample images shipped in ``dags/sample_images`` (deterministic, made here, free to use).

Run from the repository root: ``python scripts/make_sample_images.py``.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parents[1] / "dags" / "sample_images"


def sky(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / max(1, height - 1)
        draw.line(
            [(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    return img


def landscape(width: int = 1280, height: int = 720, seed: int = 1) -> Image.Image:
    rng = random.Random(seed)
    img = sky(width, height, (40, 90, 170), (250, 180, 120))
    draw = ImageDraw.Draw(img)
    draw.ellipse([width * 0.7, height * 0.15, width * 0.7 + 110, height * 0.15 + 110], fill=(255, 230, 150))
    for layer, color in enumerate([(70, 80, 110), (50, 90, 70), (30, 60, 40)]):
        base = height * (0.55 + 0.12 * layer)
        points = [(0, height)]
        for x in range(0, width + 40, 40):
            points.append((x, base - rng.uniform(20, 120) * (1 - 0.3 * layer)))
        points.append((width, height))
        draw.polygon(points, fill=color)
    return img.filter(ImageFilter.SMOOTH)


def cat(width: int = 1024, height: int = 1024) -> Image.Image:
    img = sky(width, height, (230, 220, 200), (200, 180, 160))
    draw = ImageDraw.Draw(img)
    cx, cy = width // 2, height // 2 + 80
    draw.ellipse([cx - 260, cy - 120, cx + 260, cy + 300], fill=(120, 110, 100))
    draw.ellipse([cx - 200, cy - 420, cx + 200, cy - 40], fill=(140, 130, 120))
    for side in (-1, 1):
        draw.polygon(
            [(cx + side * 190, cy - 330), (cx + side * 120, cy - 520), (cx + side * 40, cy - 390)],
            fill=(140, 130, 120),
        )
        draw.ellipse([cx + side * 90 - 35, cy - 290, cx + side * 90 + 35, cy - 220], fill=(90, 170, 90))
        draw.ellipse([cx + side * 90 - 10, cy - 285, cx + side * 90 + 10, cy - 225], fill=(20, 20, 20))
        for k in range(3):
            draw.line(
                [(cx + side * 40, cy - 170 + k * 15), (cx + side * 220, cy - 200 + k * 30)],
                fill=(240, 240, 240),
                width=3,
            )
    draw.polygon([(cx - 20, cy - 190), (cx + 20, cy - 190), (cx, cy - 165)], fill=(220, 120, 130))
    return img


def city_night(width: int = 1280, height: int = 720, seed: int = 3) -> Image.Image:
    rng = random.Random(seed)
    img = sky(width, height, (10, 15, 40), (60, 40, 90))
    draw = ImageDraw.Draw(img)
    for _ in range(80):
        x, y = rng.uniform(0, width), rng.uniform(0, height * 0.4)
        draw.point((x, y), fill=(255, 255, 220))
    x = 0
    while x < width:
        w = rng.randint(60, 140)
        h = rng.randint(int(height * 0.25), int(height * 0.7))
        draw.rectangle([x, height - h, x + w, height], fill=(25, 25, 35))
        for wy in range(height - h + 15, height - 10, 28):
            for wx in range(x + 10, x + w - 12, 22):
                if rng.random() < 0.45:
                    draw.rectangle([wx, wy, wx + 10, wy + 14], fill=(250, 210, 110))
        x += w + rng.randint(4, 18)
    return img


def portrait(width: int = 720, height: int = 1280) -> Image.Image:
    img = sky(width, height, (180, 210, 230), (90, 130, 170))
    draw = ImageDraw.Draw(img)
    cx = width // 2
    draw.ellipse([cx - 170, 300, cx + 170, 720], fill=(230, 190, 160))
    draw.rectangle([cx - 260, 780, cx + 260, height], fill=(40, 90, 160))
    draw.ellipse([cx - 260, 700, cx + 260, 900], fill=(40, 90, 160))
    for side in (-1, 1):
        draw.ellipse([cx + side * 70 - 22, 470, cx + side * 70 + 22, 505], fill=(40, 40, 40))
    draw.arc([cx - 70, 560, cx + 70, 650], start=20, end=160, fill=(150, 60, 60), width=6)
    draw.pieslice([cx - 190, 250, cx + 190, 520], start=180, end=360, fill=(80, 50, 30))
    return img


def flower(width: int = 800, height: int = 800, hue_shift: int = 0) -> Image.Image:
    img = Image.new("RGB", (width, height), (40 + hue_shift // 4, 110, 60))
    draw = ImageDraw.Draw(img)
    cx, cy = width // 2, height // 2
    for k in range(12):
        a = 2 * math.pi * k / 12
        px, py = cx + 180 * math.cos(a), cy + 180 * math.sin(a)
        draw.ellipse([px - 90, py - 90, px + 90, py + 90], fill=(230, (100 + hue_shift) % 256, 150))
    draw.ellipse([cx - 90, cy - 90, cx + 90, cy + 90], fill=(250, 200, 40))
    return img


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    images = {
        "landscape.png": landscape(),
        "cat.png": cat(),
        "city_night.png": city_night(),
        "portrait.png": portrait(),
        "flower_open.png": flower(),
        "flower_dusk.png": flower(hue_shift=90),
    }
    for name, img in images.items():
        img.save(OUT / name, optimize=True)
    mask = Image.new("L", (1280, 720), 0)
    ImageDraw.Draw(mask).ellipse([850, 90, 1040, 280], fill=255)
    mask.convert("RGB").save(OUT / "landscape_sun_mask.png", optimize=True)
    print(f"wrote {len(images) + 1} images to {OUT}")


if __name__ == "__main__":
    main()
