"""Make the walkthrough's pictures: a "photo" standing in for the victim's image, a copy of it
as a platform would hold it (smaller and recompressed), and an unrelated upload.

Synthetic on purpose: a demonstration must never need a real intimate image.
Usage: python examples/make_demo_images.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def photo(seed: int, width: int = 800, height: int = 600) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([
        127 + 100 * np.sin(x / width * rng.uniform(1, 6) + rng.uniform(0, 6)),
        127 + 100 * np.cos(y / height * rng.uniform(1, 6) + rng.uniform(0, 6)),
        127 + 100 * np.sin((x + y) / (width + height) * rng.uniform(1, 6)),
    ], axis=-1)
    image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        size = int(rng.integers(width // 16, width // 3))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x0 + size, y0 + size), fill=colour)
    return image.filter(ImageFilter.GaussianBlur(2))


def main() -> int:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "demo")
    (out / "platform").mkdir(parents=True, exist_ok=True)
    victims_photo = photo(1)
    victims_photo.save(out / "photo.jpg", quality=92)
    # The platform holds a reposted copy (resized, recompressed) and something unrelated.
    victims_photo.resize((640, 480)).save(out / "platform" / "post-1001.jpg", quality=70)
    photo(2).save(out / "platform" / "post-1002.jpg", quality=85)
    victims_photo.resize((560, 420)).save(out / "reupload.jpg", quality=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
