"""Removal attacks on labelled images, for ``bench/label_attacks.py`` (issue 15).

Every attack is a function ``(rgb uint8 HxWx3, numpy Generator) -> rgb uint8``, as in
``bench/watermark_attacks.py`` (whose JPEG, resize and crop helpers, PSNR and SSIM are reused here);
the generator only feeds the attacks with a random element (a crop window, an overwriting
payload), so an attack is deterministic given its seed.

Some attacks need more than the pixels: what the attacker holds against one scheme and one image
(``AttackerTools``). The families, each swept over a strength (``FAMILIES``):

* **Oracle subtraction** (``oracle_subtraction``): read the mark, mark the image once more with the
  payload read (same key, same slot), and subtract ``factor`` times the difference. *With the key*
  it needs the key that made the mark. *Without it* the attacker has the public code, the public
  key and the labelled file: ``PUBLIC_KEY`` reads nothing in a secret-key mark, so what is left is
  the label id the signed manifest names (it is public) and the public key's layout. The attack
  then subtracts the public-key mark of that label id, a guess that the mark was made with the
  public key (``ours_tools``); the other blind options are the rows below.
* **Fold and subtract** (``fold_subtract``): luma to the 320 px working plane, high-pass, average
  the 64 px tiles into one, tile it back, upscale and subtract: removes whatever repeats from tile
  to tile (the pilot), not a payload whose chips change sign from tile to tile.
* **Overwrite** (``overwrite``): another payload marked over the label, with the public key (in
  the slot the attacker reads a public mark in, if any) or with another (the attacker's) secret
  key; the strength multiplies the embedder's default.
* **Residual averaging** (``average_residuals`` / ``subtract_estimate``): the high-pass residuals
  (per RGB channel) of many different images marked with the same key are averaged, which keeps
  what the marks share and cancels the hosts; ``factor`` times that estimate is subtracted.
* **Denoisers** followed by JPEG 75: OpenCV non-local means (``h``), a median (kernel size) and a
  bilateral filter (colour sigma).
* **Resize down and up** (``resize_down_up``): the factor, Lanczos down, bicubic back.

Each base attack can be followed by a geometric step (``POST_STEPS``): a mirror, a crop keeping 70 %
of each side (random position), or an aspect change (width x0.9).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

import watermark_attacks as wa
from deepshield.watermark import (
    DEFAULT_STRENGTH,
    PUBLIC_KEY,
    SlotsFull,
    WatermarkKey,
    detect,
    embed,
    key_from_secret,
)
from deepshield.watermark.layout import TILE_PX, WORKING_SHORT_SIDE

Attack = wa.Attack
#: The image with its own mark added once more (the payload read, same key and slot), or None
#: when the attacker reads nothing to re-mark.
Remark = Callable[[np.ndarray], np.ndarray | None]
#: The image with another payload marked over it, at a strength relative to the scheme's default.
Overwrite = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

#: The high-pass of the working plane (DeepShield's own: ``analysis.HIGHPASS_SIGMA``).
HIGHPASS_SIGMA = 2.0


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _subtract_luma(rgb: np.ndarray, pattern: np.ndarray, factor: float) -> np.ndarray:
    """``rgb`` minus ``factor`` times a luma pattern, the same amount from R, G and B."""
    return _to_uint8(rgb.astype(np.float32) - factor * pattern[:, :, None])


# ---------------------------------------------------------------------------- oracle and overwrite


def oracle_subtraction(remark: Remark, factor: float) -> Attack:
    """Subtract ``factor`` times (the image re-marked with its own payload - the image)."""

    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        again = remark(rgb)
        if again is None:  # nothing read: nothing to subtract
            return rgb.copy()
        difference = again.astype(np.float32) - rgb.astype(np.float32)
        return _to_uint8(rgb.astype(np.float32) - factor * difference)

    return attack


def overwrite(mark_other: Overwrite, strength: float) -> Attack:
    """Another payload marked over the image at ``strength`` times the scheme's default."""

    def attack(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return mark_other(rgb, strength, rng)

    return attack


def scaled_mark(rgb: np.ndarray, marked: np.ndarray, strength: float) -> np.ndarray:
    """``rgb`` plus ``strength`` times the change a scheme's embedder made (``marked - rgb``): the
    strength knob for schemes whose embedder has none."""
    return _to_uint8(rgb.astype(np.float32) + strength * (marked.astype(np.float32) - rgb))


# ---------------------------------------------------------------------------- fold and subtract


def fold_estimate(rgb: np.ndarray) -> np.ndarray:
    """What repeats from tile to tile, as a full-size luma pattern: the luma on the working plane
    (short side ``WORKING_SHORT_SIDE``), high-passed, its ``TILE_PX`` tiles averaged (partial tiles
    counted where they have pixels), tiled back and upscaled."""
    height, width = rgb.shape[:2]
    scale = WORKING_SHORT_SIDE / min(height, width)
    wh, ww = max(1, round(height * scale)), max(1, round(width * scale))
    shrink = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    working = cv2.resize(_luma(rgb), (ww, wh), interpolation=shrink)
    detail = working - cv2.GaussianBlur(working, (0, 0), HIGHPASS_SIGMA)
    rows, cols = -(-wh // TILE_PX), -(-ww // TILE_PX)
    padded = np.zeros((rows * TILE_PX, cols * TILE_PX), np.float32)
    count = np.zeros_like(padded)
    padded[:wh, :ww] = detail
    count[:wh, :ww] = 1
    shape = (rows, TILE_PX, cols, TILE_PX)
    folded = padded.reshape(shape).sum(axis=(0, 2)) / np.maximum(count.reshape(shape).sum(axis=(0, 2)), 1)
    tiled = np.tile(folded, (rows, cols))[:wh, :ww]
    return cv2.resize(tiled, (width, height), interpolation=cv2.INTER_LINEAR)


def fold_subtract(factor: float) -> Attack:
    """Subtract ``factor`` times ``fold_estimate`` of the image itself."""

    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        return _subtract_luma(rgb, fold_estimate(rgb), factor)

    return attack


# ---------------------------------------------------------------------------- residual averaging


def highpass_residual(rgb: np.ndarray) -> np.ndarray:
    """Each RGB channel minus its Gaussian blur (float32 HxWx3); the blur's sigma is
    ``HIGHPASS_SIGMA`` on the working plane, scaled to the image."""
    sigma = HIGHPASS_SIGMA * min(rgb.shape[:2]) / WORKING_SHORT_SIDE
    values = rgb.astype(np.float32)
    return values - cv2.GaussianBlur(values, (0, 0), sigma)


class ResidualAverage:
    """The running mean of ``highpass_residual`` over images of one size (add, then ``mean``)."""

    def __init__(self) -> None:
        self.total: np.ndarray | None = None
        self.count = 0

    def add(self, rgb: np.ndarray) -> None:
        residual = highpass_residual(rgb).astype(np.float64)
        if self.total is None:
            self.total = residual
        elif self.total.shape != residual.shape:
            raise ValueError(f"residual averaging needs images of one size: {self.total.shape[:2]} "
                             f"and {residual.shape[:2]}")
        else:
            self.total += residual
        self.count += 1

    def merge(self, other: ResidualAverage) -> None:
        if other.total is None:
            return
        if self.total is None:
            self.total = other.total.copy()
        else:
            self.total += other.total
        self.count += other.count

    def mean(self) -> np.ndarray:
        if self.total is None or not self.count:
            raise ValueError("no residual was added")
        return (self.total / self.count).astype(np.float32)


def average_residuals(images: list[np.ndarray]) -> np.ndarray:
    """The mean high-pass residual of ``images`` (all of one size)."""
    average = ResidualAverage()
    for rgb in images:
        average.add(rgb)
    return average.mean()


def subtract_estimate(estimate: np.ndarray, factor: float) -> Attack:
    """Subtract ``factor`` times a residual estimate (HxWx3, the image's size)."""

    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        if estimate.shape != rgb.shape:
            raise ValueError(f"the estimate is {estimate.shape[:2]}, the image {rgb.shape[:2]}")
        return _to_uint8(rgb.astype(np.float32) - factor * estimate)

    return attack


# ---------------------------------------------------------------------------- denoisers, resizing


def non_local_means(h: float) -> Attack:
    """OpenCV's coloured non-local means (luma and colour strength ``h``, 7 px template, 21 px search)."""

    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        return cv2.fastNlMeansDenoisingColored(np.ascontiguousarray(rgb), None, h, h, 7, 21)

    return attack


def median(size: float) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        return cv2.medianBlur(np.ascontiguousarray(rgb), int(size))

    return attack


def bilateral(sigma_color: float, diameter: int = 9, sigma_space: float = 5.0) -> Attack:
    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        return cv2.bilateralFilter(np.ascontiguousarray(rgb), diameter, sigma_color, sigma_space)

    return attack


def resize_down_up(factor: float) -> Attack:
    """Shrink by ``factor`` (Lanczos), then back to the very same size (bicubic)."""

    def attack(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = rgb.shape[:2]
        small = wa.resize(factor)(rgb, rng)
        return np.asarray(Image.fromarray(small).resize((width, height), Image.Resampling.BICUBIC))

    return attack


# ---------------------------------------------------------------------------- geometric steps


def mirror(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


def aspect(width_factor: float) -> Attack:
    """The width times ``width_factor`` (Lanczos), the height kept."""

    def attack(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        height, width = rgb.shape[:2]
        size = (max(1, round(width * width_factor)), height)
        return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))

    return attack


#: name -> (label, step): what follows a base attack. "" is the base attack alone.
POST_STEPS: dict[str, tuple[str, Attack]] = {
    "": ("", wa.identity),
    "mirror": ("+ mirror", mirror),
    "crop70": ("+ crop 70 %", wa.crop(0.70)),
    "aspect0.9": ("+ width x0.9", aspect(0.9)),
}


# ---------------------------------------------------------------------------- families


@dataclass(frozen=True)
class AttackerTools:
    """What an attacker holds against one marked image of one scheme (None: not available)."""

    remark_with_key: Remark | None = None
    remark_without_key: Remark | None = None
    overwrite_public: Overwrite | None = None
    overwrite_other_key: Overwrite | None = None
    residual_estimate: np.ndarray | None = None


Build = Callable[[float, AttackerTools], Attack | None]


@dataclass(frozen=True)
class Family:
    """One attack, swept over ``strengths``; ``build`` gives the attack at one strength for one
    image's ``AttackerTools`` (None: the attack does not apply to that scheme)."""

    name: str
    label: str
    unit: str  # what the strength means
    strengths: tuple[float, ...]
    build: Build


def _needs(tool: str, make: Callable[[Any, float], Attack]) -> Build:
    def build(strength: float, tools: AttackerTools) -> Attack | None:
        held = getattr(tools, tool)
        return None if held is None else make(held, strength)

    return build


def _plain(make: Callable[[float], Attack]) -> Build:
    return lambda strength, _tools: make(strength)


def _then_jpeg75(make: Callable[[float], Attack]) -> Build:
    return lambda strength, _tools: wa.chain(make(strength), wa.jpeg(75))


FAMILIES: dict[str, Family] = {family.name: family for family in (
    Family("none", "No attack (metadata stripped)", "-", (0.0,), _plain(lambda _s: wa.identity)),
    Family("oracle-key", "Oracle subtraction, with the key", "x difference", (0.5, 1.0, 1.5, 2.0, 3.0),
           _needs("remark_with_key", lambda remark, s: oracle_subtraction(remark, s))),
    Family("oracle-nokey", "Oracle subtraction, without the key", "x difference", (1.0, 2.0, 4.0, 8.0),
           _needs("remark_without_key", lambda remark, s: oracle_subtraction(remark, s))),
    Family("fold", "Fold and subtract (64 px tiles)", "x folded tile", (1.0, 2.0, 4.0, 8.0, 16.0),
           _plain(fold_subtract)),
    Family("overwrite-public", "Overwrite, public key", "x default strength", (1.0, 2.0, 4.0, 8.0),
           _needs("overwrite_public", lambda mark, s: overwrite(mark, s))),
    Family("overwrite-key", "Overwrite, another secret key", "x default strength", (1.0, 2.0, 4.0, 8.0),
           _needs("overwrite_other_key", lambda mark, s: overwrite(mark, s))),
    Family("average", "Residual averaging, subtracted", "x mean residual", (1.0, 2.0, 4.0, 8.0, 16.0),
           _needs("residual_estimate", lambda estimate, s: subtract_estimate(estimate, s))),
    Family("nlm", "Non-local means + JPEG 75", "h", (3.0, 6.0, 10.0, 15.0), _then_jpeg75(non_local_means)),
    Family("median", "Median + JPEG 75", "kernel px", (3.0, 5.0), _then_jpeg75(median)),
    Family("bilateral", "Bilateral + JPEG 75", "sigma colour", (10.0, 25.0, 50.0, 100.0),
           _then_jpeg75(bilateral)),
    Family("resize", "Resize down and up", "x size", (0.75, 0.5, 0.35, 0.25), _plain(resize_down_up)),
)}


def with_post(base: Attack, post: str) -> Attack:
    """``base`` followed by the geometric step ``post`` (a ``POST_STEPS`` name)."""
    step = POST_STEPS[post][1]
    return base if post == "" else wa.chain(base, step)


# ---------------------------------------------------------------------------- DeepShield's tools


#: The attacker's own secret key, for overwriting (fixed, so runs repeat).
ATTACKER_KEY = key_from_secret(bytes(range(32)))


def _read_slot(rgb: np.ndarray, key: WatermarkKey) -> tuple[int, int] | None:
    """(payload, slot) of the first mark ``key`` reads in ``rgb``, or None."""
    marks = [mark for mark in detect(rgb, keys=[key]).marks if mark.key_id == key.key_id]
    return (marks[0].payload, marks[0].slot) if marks else None


def _remark(key: WatermarkKey, fallback_payload: int | None = None) -> Remark:
    """Re-mark with what ``key`` reads; when it reads nothing, ``fallback_payload`` (if any) in
    slot 0."""

    def remark(rgb: np.ndarray) -> np.ndarray | None:
        read = _read_slot(rgb, key)
        if read is None:
            if fallback_payload is None:
                return None
            read = (fallback_payload, 0)
        return embed(rgb, read[0], key=key, slot=read[1])

    return remark


def _overwrite_with(key: WatermarkKey) -> Overwrite:
    """Another random payload with ``key``, in the slot of the mark ``key`` reads (the attacker
    aims at it), else the first free slot (the first slot when both look used)."""

    def mark_other(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
        payload = int.from_bytes(rng.bytes(8), "big")
        read = _read_slot(rgb, key)
        try:
            return embed(rgb, payload, key=key, slot=None if read is None else read[1],
                         strength=strength * DEFAULT_STRENGTH)
        except SlotsFull:
            return embed(rgb, payload, key=key, slot=0, strength=strength * DEFAULT_STRENGTH)

    return mark_other


def ours_tools(key: WatermarkKey, public_payload: int, residual_estimate: np.ndarray | None = None
               ) -> AttackerTools:
    """DeepShield's marks made with ``key``, attacked by someone holding the public code, the
    public key, the labelled file (so its manifest's label id, ``public_payload``) and, for the
    "with the key" attack, ``key`` itself."""
    return AttackerTools(
        remark_with_key=_remark(key),
        remark_without_key=_remark(PUBLIC_KEY, public_payload),
        overwrite_public=_overwrite_with(PUBLIC_KEY),
        overwrite_other_key=_overwrite_with(ATTACKER_KEY if key != ATTACKER_KEY else PUBLIC_KEY),
        residual_estimate=residual_estimate,
    )


# ---------------------------------------------------------------------------- files


def png_bytes(rgb: np.ndarray) -> bytes:
    """Pixels saved as PNG: what a victim finds once the metadata is gone (lossless)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, "JPEG", quality=quality, subsampling=2)
    return buffer.getvalue()
