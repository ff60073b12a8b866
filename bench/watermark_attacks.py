"""Attacks and image-quality metrics for ``bench/watermark.py``.

Every attack is a function ``(rgb uint8 HxWx3, numpy Generator) -> rgb uint8``; the generator is
only used by attacks with a random element (crop position, noise), so an attack is deterministic
given the seed of its generator. ``bench/watermark.py`` seeds it from (image size, image index,
attack name), so every method sees the very same crop window and noise on the same image.

Choices, where the issue leaves some freedom:

* JPEG: Pillow, ``subsampling=2`` (4:2:0), no ``optimize``; WebP: Pillow ``quality=75``, default
  method. Both decoded back with Pillow.
* Resize: downscales with Lanczos, upscales with bicubic (Pillow), sizes rounded to whole pixels.
  The detector gets the resized image as it is (nobody scales it back for it).
* Crop: keeps ``frac`` of each side (rounded) at a uniformly random position.
* Rotation: Pillow bicubic rotation by +2 degrees (counter-clockwise) about the centre, same
  canvas size, corners filled black (no crop of the valid centre).
* Gaussian blur: exact separable Gaussian (radius ceil(3 sigma)), edges mirrored.
* Gaussian noise: i.i.d. N(0, sigma^2) per pixel and channel, rounded and clipped.
* Brightness / contrast: Pillow ``ImageEnhance`` (contrast blends towards the mean grey level).
* Screenshot: resize x0.8 (Lanczos) then JPEG 80 (4:2:0).
* PNG: lossless re-save (a control: must be identical to ``none``).
* Pairs: a geometric attack, then a compression attack.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageEnhance

Attack = Callable[[np.ndarray, np.random.Generator], np.ndarray]

try:  # OpenCV is only a speed-up for SSIM; the numpy path gives the same figures.
    import cv2
except ImportError:  # pragma: no cover - depends on the bench-only extras
    cv2 = None


# ---------------------------------------------------------------------------- attacks


def _pil(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def _arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def identity(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
    return rgb


def jpeg(quality: int) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        out = io.BytesIO()
        _pil(rgb).save(out, format="JPEG", quality=quality, subsampling=2)
        return _arr(Image.open(io.BytesIO(out.getvalue())))

    return attack


def webp(quality: int) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        out = io.BytesIO()
        _pil(rgb).save(out, format="WEBP", quality=quality)
        return _arr(Image.open(io.BytesIO(out.getvalue())))

    return attack


def png(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
    out = io.BytesIO()
    _pil(rgb).save(out, format="PNG")
    return _arr(Image.open(io.BytesIO(out.getvalue())))


def resize(factor: float) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        h, w = rgb.shape[:2]
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        resample = Image.Resampling.LANCZOS if factor < 1 else Image.Resampling.BICUBIC
        return _arr(_pil(rgb).resize(size, resample))

    return attack


def crop(frac: float) -> Attack:
    def attack(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = rgb.shape[:2]
        cw, ch = max(1, round(w * frac)), max(1, round(h * frac))
        x = int(rng.integers(0, w - cw + 1))
        y = int(rng.integers(0, h - ch + 1))
        return np.ascontiguousarray(rgb[y : y + ch, x : x + cw])

    return attack


def rotate(degrees: float) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        image = _pil(rgb).rotate(
            degrees, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(0, 0, 0)
        )
        return _arr(image)

    return attack


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _filter_valid(x: np.ndarray, k: np.ndarray, axis: int) -> np.ndarray:
    """Correlate ``x`` with the 1-D kernel ``k`` along ``axis``, 'valid' part only."""
    n = x.shape[axis] - len(k) + 1
    out = np.zeros((*x.shape[:axis], n, *x.shape[axis + 1 :]), np.float32)
    for i, weight in enumerate(k):
        out += weight * np.take(x, np.arange(i, i + n), axis=axis)
    return out


def gaussian_blur(sigma: float) -> Attack:
    k = _gaussian_kernel(sigma)
    r = len(k) // 2

    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        x = np.pad(rgb.astype(np.float32), ((r, r), (r, r), (0, 0)), mode="symmetric")
        x = _filter_valid(_filter_valid(x, k, 0), k, 1)
        return np.clip(np.rint(x), 0, 255).astype(np.uint8)

    return attack


def gaussian_noise(sigma: float) -> Attack:
    def attack(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noisy = rgb.astype(np.float32) + rng.normal(0.0, sigma, rgb.shape).astype(np.float32)
        return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)

    return attack


def brightness(factor: float) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        return _arr(ImageEnhance.Brightness(_pil(rgb)).enhance(factor))

    return attack


def contrast(factor: float) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        return _arr(ImageEnhance.Contrast(_pil(rgb)).enhance(factor))

    return attack


def chain(*attacks: Attack) -> Attack:
    def attack(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for step in attacks:
            rgb = step(rgb, rng)
        return rgb

    return attack


# name -> (label, attack). "none" first; singles in a fixed order.
SINGLE: dict[str, tuple[str, Attack]] = {
    "none": ("None", identity),
    "png": ("PNG re-save", png),
    "jpeg90": ("JPEG 90", jpeg(90)),
    "jpeg75": ("JPEG 75", jpeg(75)),
    "jpeg50": ("JPEG 50", jpeg(50)),
    "webp75": ("WebP 75", webp(75)),
    "resize0.5": ("Resize x0.5", resize(0.5)),
    "resize0.75": ("Resize x0.75", resize(0.75)),
    "resize1.5": ("Resize x1.5", resize(1.5)),
    "crop90": ("Crop 90%", crop(0.90)),
    "crop75": ("Crop 75%", crop(0.75)),
    "rotate2": ("Rotate 2°", rotate(2.0)),
    "blur1": ("Blur σ=1", gaussian_blur(1.0)),
    "noise5": ("Noise σ=5", gaussian_noise(5.0)),
    "bright1.2": ("Brightness x1.2", brightness(1.2)),
    "contrast0.8": ("Contrast x0.8", contrast(0.8)),
    "screenshot": ("Screenshot (x0.8+JPEG 80)", chain(resize(0.8), jpeg(80))),
}
GEOMETRIC = ("resize0.5", "resize0.75", "resize1.5", "crop90", "crop75", "rotate2")
COMPRESSION = ("jpeg90", "jpeg75", "jpeg50", "webp75")
PAIRS: dict[str, tuple[str, Attack]] = {
    f"{g}+{c}": (f"{SINGLE[g][0]} + {SINGLE[c][0]}", chain(SINGLE[g][1], SINGLE[c][1]))
    for g in GEOMETRIC
    for c in COMPRESSION
}
ATTACKS: dict[str, tuple[str, Attack]] = {**SINGLE, **PAIRS}
# --quick: a small, representative set (one of each family, and one pair).
QUICK = ("none", "jpeg50", "webp75", "resize0.75", "crop90", "rotate2", "screenshot", "crop90+jpeg75")


def is_pair(name: str) -> bool:
    return name in PAIRS


# ---------------------------------------------------------------------------- metrics


def psnr(a: np.ndarray, b: np.ndarray, cap: float = 100.0) -> float:
    """PSNR in dB over all RGB samples (peak 255); identical images give ``cap``."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return cap if mse == 0 else min(cap, 10.0 * math.log10(255.0**2 / mse))


_SSIM_KERNEL = _gaussian_kernel(1.5)  # 11 taps (radius 5), as in Wang et al. 2004
_SSIM_RADIUS = len(_SSIM_KERNEL) // 2


def _blur_valid(x: np.ndarray) -> np.ndarray:
    if cv2 is not None:
        r = _SSIM_RADIUS
        full = cv2.sepFilter2D(x, cv2.CV_32F, _SSIM_KERNEL, _SSIM_KERNEL, borderType=cv2.BORDER_REFLECT)
        return full[r:-r, r:-r]
    return _filter_valid(_filter_valid(x, _SSIM_KERNEL, 0), _SSIM_KERNEL, 1)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over the three RGB channels: Gaussian window sigma=1.5 (11 taps), K1=0.01,
    K2=0.03, data range 255, borders (radius 5) left out -- the settings of Wang et al. and of
    ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, channel_axis=2, data_range=255)``."""
    x = a.astype(np.float32)
    y = b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _blur_valid(x), _blur_valid(y)
    sxx = _blur_valid(x * x) - mx * mx
    syy = _blur_valid(y * y) - my * my
    sxy = _blur_valid(x * y) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den, dtype=np.float64))
