"""Benchmark: the watermark core against the geometry and removal attacks of issue 15.

Usage::

    .venv/bin/python bench/watermark_geometry.py IMAGES SIZE [ATTACKS]   # SIZE 512 or 1080

Marks IMAGES photos from ``../shared/data/photos`` (center-cropped to 512x512 or 1920x1080; a
fixed random pick, the same every run) with a fresh secret key, attacks each marked copy (aspect
changes, crops keeping 60 % and 50 % of each side at a seeded position, crop 75 % + JPEG or WebP
75, halving + WebP 75, a 2 degree rotation, fold-and-subtract at strengths 1 and 2), and reports
the exact-payload rate read with that key, the detect time (wall, so only comparable within one
run) and the PSNR of same-size attacks; plus the unmarked originals read (found must be 0). Two
worker processes (``PROCS`` to change). Without the photos it says so and stops.
"""

from __future__ import annotations

import glob
import os
import sys
import time
import zlib
from multiprocessing import Pool

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import watermark_attacks as attacks
from deepshield.watermark import detect, embed, new_key
from deepshield.watermark.analysis import luma, to_working

cv2.setNumThreads(1)
KEY = new_key()
PHOTOS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "photos")


def load(count: int, size: int) -> list[np.ndarray]:
    suffixes = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
    files = [f for f in sorted(glob.glob(os.path.join(PHOTOS, "**", "*.*"), recursive=True))
             if f.lower().endswith(suffixes)]
    if not files:
        raise SystemExit(f"no photos under {PHOTOS}: nothing to measure")
    picked = list(np.random.default_rng(7).permutation(files))[:count]
    images = []
    for path in picked:
        image = np.asarray(Image.open(path).convert("RGB"))
        height, width = image.shape[:2]
        target = 1.0 if size == 512 else 1920 / 1080
        if width / height > target:
            keep = int(height * target)
            image = image[:, (width - keep) // 2:(width - keep) // 2 + keep]
        else:
            keep = int(width / target)
            image = image[(height - keep) // 2:(height - keep) // 2 + keep]
        shape = (512, 512) if size == 512 else (1920, 1080)
        images.append(np.ascontiguousarray(cv2.resize(image, shape, interpolation=cv2.INTER_AREA)))
    return images


def aspect(factor_x: float, factor_y: float = 1.0) -> attacks.Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        height, width = rgb.shape[:2]
        shrinking = factor_x < 1 or factor_y < 1
        resample = Image.Resampling.LANCZOS if shrinking else Image.Resampling.BICUBIC
        size = (round(width * factor_x), round(height * factor_y))
        return attacks._arr(attacks._pil(rgb).resize(size, resample))
    return attack


def then(*steps: attacks.Attack) -> attacks.Attack:
    def attack(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in steps:
            rgb = step(rgb, rng)
        return rgb
    return attack


def fold_subtract(strength: float) -> attacks.Attack:
    """Average the 64 px tiles of the working plane's high-pass residual, upscale, subtract."""
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        height, width = rgb.shape[:2]
        work = to_working(luma(rgb))
        detail = work - cv2.GaussianBlur(work, (0, 0), 2.0)
        rows, cols = -(-detail.shape[0] // 64), -(-detail.shape[1] // 64)
        padded = np.full((rows * 64, cols * 64), np.nan, np.float32)
        padded[:detail.shape[0], :detail.shape[1]] = detail
        tile = np.nanmean(padded.reshape(rows, 64, cols, 64), axis=(0, 2))
        estimate = np.tile(tile, (rows, cols))[:detail.shape[0], :detail.shape[1]]
        full = cv2.resize(estimate, (width, height), interpolation=cv2.INTER_LINEAR)
        out = rgb.astype(np.float32) - strength * full[..., None]
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return attack


ATTACKS: dict[str, attacks.Attack] = {
    "none": attacks.identity,
    "jpeg50": attacks.jpeg(50),
    "aspect_w0.9": aspect(0.9), "aspect_w0.85": aspect(0.85), "aspect_w1.15": aspect(1.15),
    "aspect_h0.9": aspect(1.0, 0.9), "aspect_h1.15": aspect(1.0, 1.15),
    "crop0.6": attacks.crop(0.6), "crop0.5": attacks.crop(0.5),
    "crop0.75+jpeg75": then(attacks.crop(0.75), attacks.jpeg(75)),
    "crop0.75+webp75": then(attacks.crop(0.75), attacks.webp(75)),
    "resize0.5+webp75": then(attacks.resize(0.5), attacks.webp(75)),
    "rotate2": attacks.rotate(2),
    "fold1.0": fold_subtract(1.0), "fold2.0": fold_subtract(2.0),
    "fold1.0+jpeg75": then(fold_subtract(1.0), attacks.jpeg(75)),
}


def run_one(job: tuple[int, np.ndarray, list[str], int]) -> tuple[float, float, dict, bool, float]:
    index, image, names, size = job
    payload = (index * 0x9E3779B97F4A7C15 + 12345) & ((1 << 64) - 1)
    start = time.perf_counter()
    marked = embed(image, payload, key=KEY)
    embed_s = time.perf_counter() - start
    results = {}
    for name in names:
        rng = np.random.default_rng([size, index, zlib.crc32(name.encode())])
        attacked = ATTACKS[name](marked, rng)
        start = time.perf_counter()
        detection = detect(attacked, [KEY])
        psnr = cv2.PSNR(marked, attacked) if attacked.shape == marked.shape else None
        results[name] = (detection.payload == payload, time.perf_counter() - start, psnr)
    start = time.perf_counter()
    unmarked = detect(image, [KEY])
    return cv2.PSNR(image, marked), embed_s, results, unmarked.found, time.perf_counter() - start


def main() -> None:
    count, size = int(sys.argv[1]), int(sys.argv[2])
    names = sys.argv[3].split(",") if len(sys.argv) > 3 else list(ATTACKS)
    images = load(count, size)
    with Pool(int(os.environ.get("PROCS", "2"))) as pool:
        rows = pool.map(run_one, [(i, image, names, size) for i, image in enumerate(images)])
    print(f"size {size}, {len(images)} photos: PSNR {np.mean([r[0] for r in rows]):.2f} dB, embed "
          f"{np.median([r[1] for r in rows]) * 1000:.1f} ms, unmarked found {sum(r[3] for r in rows)}, "
          f"unmarked detect {np.median([r[4] for r in rows]) * 1000:.1f} ms")
    for name in names:
        exact = [r[2][name][0] for r in rows]
        seconds = [r[2][name][1] for r in rows]
        psnrs = [r[2][name][2] for r in rows if r[2][name][2] is not None]
        psnr = f"{np.mean(psnrs):.1f} dB" if psnrs else "-"
        print(f"{name:22s} exact {100 * np.mean(exact):5.1f} %  detect {np.median(seconds) * 1000:6.1f} ms  "
              f"PSNR {psnr}")


if __name__ == "__main__":
    main()
