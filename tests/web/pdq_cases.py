"""Inputs for checking the in-browser PDQ (``static/hashing/pdq.js``) against the server's.

- ``pixel_cases()``: 600+ deterministic RGB arrays (seeded): the sizes where PDQ's filter windows
  and decimation change (5, 63–65, 127–129, 511–513, 1023–1025, squares and mixes), sides under 5,
  and flat, gradient (horizontal, vertical, diagonal, radial), noise, photo-like (blurred noise),
  stripes, shapes and near-flat content. ``write_pixel_cases`` packs them into one binary file that
  one Node process or one page reads (format in its docstring).
- ``write_image_files(folder)``: image FILES of every format the portal accepts and Chromium decodes
  (JPEG 4:2:0, 4:2:2, 4:4:4 and progressive, PNG opaque and with transparency whose transparent
  pixels keep distinct colours, WebP lossy and lossless, GIF, BMP, AVIF) and JPEGs with EXIF
  orientations 1–8, plus a short MP4 video.
- ``self_test_pixels()`` and ``dct_matrix_hex()``: what pdq.js's self-test and cosine table are
  built from, so a test can check the constants written in pdq.js.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: Magic and version of the binary file ``write_pixel_cases`` writes.
CASES_MAGIC = b"PDQCASE1"
EXIF_ORIENTATION_TAG = 0x0112


@dataclass(frozen=True)
class PixelCase:
    name: str
    pixels: np.ndarray  # H×W×3 uint8 RGB


def _flat(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    colour = rng.integers(0, 256, 3, dtype=np.uint8)
    return np.broadcast_to(colour, (height, width, 3)).copy()


def _ramp(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-channel affine maps of ``values`` (0..1), so the three channels differ."""
    scale = rng.uniform(60, 255, 3)
    offset = rng.uniform(0, 255 - scale)
    return np.clip(values[..., None] * scale + offset, 0, 255).astype(np.uint8)


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    return xs / max(1, width - 1), ys / max(1, height - 1)


def _horizontal(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    xs, _ = _grid(width, height)
    return _ramp(xs, rng)


def _vertical(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    _, ys = _grid(width, height)
    return _ramp(ys, rng)


def _diagonal(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    xs, ys = _grid(width, height)
    return _ramp((xs + ys) / 2, rng)


def _radial(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    xs, ys = _grid(width, height)
    cx, cy = rng.uniform(0.2, 0.8, 2)
    return _ramp(np.clip(np.hypot(xs - cx, ys - cy) / 0.8, 0, 1), rng)


def _noise(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def _photo_like(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Blurred noise over a gradient, with a little grain: smooth regions and soft edges, like a photo."""
    noise = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    blurred = np.asarray(noise.filter(ImageFilter.GaussianBlur(max(1.0, min(width, height) / 24))),
                         dtype=np.float64)
    # Blurring flattens noise towards grey: stretch it back out.
    blurred = (blurred - blurred.mean()) * 4 + 128
    xs, ys = _grid(width, height)
    light = (xs * rng.uniform(-60, 60) + ys * rng.uniform(-60, 60))[..., None]
    grain = rng.normal(0, 3, (height, width, 3))
    return np.clip(blurred + light + grain, 0, 255).astype(np.uint8)


def _stripes(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    xs, ys = np.mgrid[0:height, 0:width]
    period = int(rng.integers(2, 17))
    angle = rng.integers(0, 3)
    index = {0: ys, 1: xs, 2: xs + ys}[int(angle)] // period
    return _ramp((index % 2).astype(np.float64), rng)


def _shapes(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    image = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(8):
        x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
        y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return np.asarray(image, dtype=np.uint8).copy()


def _near_flat(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Levels 126–129 only: many DCT coefficients tie or nearly tie, which tests the median."""
    base = rng.integers(126, 130, (height, width, 1), dtype=np.uint8)
    return np.repeat(base, 3, axis=2)


PATTERNS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "flat": _flat,
    "horizontal": _horizontal,
    "vertical": _vertical,
    "diagonal": _diagonal,
    "radial": _radial,
    "noise": _noise,
    "photo": _photo_like,
    "stripes": _stripes,
    "shapes": _shapes,
    "near_flat": _near_flat,
}

#: Sides under 5: the reference gives the zero hash and quality 0.
TINY_SIZES = [(1, 1), (2, 3), (4, 4), (4, 9), (9, 4), (3, 300), (300, 2), (4, 1025)]
#: Small and middle sizes, every pattern: around PDQ's windows (1 up to 128 px, 2 up to 256 px...).
SMALL_SIZES = [
    (5, 5), (5, 6), (6, 5), (5, 63), (63, 5), (5, 64), (64, 5), (5, 65), (7, 7), (8, 8), (16, 16), (31, 33),
    *((w, h) for w in (63, 64, 65) for h in (63, 64, 65)),
    *((w, h) for w in (127, 128, 129) for h in (127, 128, 129)),
    (63, 127), (127, 63), (64, 128), (128, 64), (65, 129), (129, 65),
    (100, 100), (200, 150), (150, 200), (255, 257), (256, 256), (257, 255), (300, 200), (97, 211), (211, 97),
    (320, 240), (33, 190), (384, 383),
    # Where a window grows by one: 128 → 129 px (1 → 2), 256 → 257 (2 → 3), 384 → 385 (3 → 4).
    (5, 7), (9, 11), (12, 5), (40, 24), (70, 90), (191, 193), (385, 384), (258, 130),
]
#: Large sizes, two patterns each (cycling through all of them): the bytes add up fast.
LARGE_SIZES = [
    *((w, h) for w in (511, 512, 513) for h in (511, 512, 513)),
    *((w, w) for w in (1023, 1024, 1025)),
    (1023, 1025), (1025, 1023), (1024, 1023),
    (511, 1025), (1025, 511), (513, 1023), (1023, 513), (512, 1024), (1024, 64), (64, 1024),
    (5, 1025), (1025, 5), (129, 1023), (1023, 129), (640, 480), (480, 640),
]
LARGE_PATTERNS_EACH = 2


def pixel_cases(seed: int = 14) -> list[PixelCase]:
    """The arrays, always the same for a seed: ``name`` is ``pattern-WxH``."""
    cases: list[PixelCase] = []
    names = list(PATTERNS)

    def add(pattern: str, width: int, height: int) -> None:
        rng = np.random.default_rng([seed, len(cases)])
        pixels = PATTERNS[pattern](width, height, rng)
        assert pixels.shape == (height, width, 3) and pixels.dtype == np.uint8
        cases.append(PixelCase(f"{pattern}-{width}x{height}", np.ascontiguousarray(pixels)))

    for index, (width, height) in enumerate(TINY_SIZES):
        for pattern in (names[index % len(names)], "noise"):
            add(pattern, width, height)
    for width, height in SMALL_SIZES:
        for pattern in names:
            add(pattern, width, height)
    turn = 0
    for width, height in LARGE_SIZES:
        for _ in range(LARGE_PATTERNS_EACH):
            add(names[turn % len(names)], width, height)
            turn += 1
    return cases


def write_pixel_cases(cases: list[PixelCase], path: Path) -> None:
    """One binary file: ``CASES_MAGIC``, uint32 count, then per case uint32 width, uint32 height
    (little-endian) and width×height×3 RGB bytes, row-major. The reader adds the alpha channel."""
    with path.open("wb") as out:
        out.write(CASES_MAGIC + struct.pack("<I", len(cases)))
        for case in cases:
            height, width = case.pixels.shape[:2]
            out.write(struct.pack("<II", width, height))
            out.write(case.pixels.tobytes())


# ---------------------------------------------------------------- constants of pdq.js

SELF_TEST_WIDTH = 301
SELF_TEST_HEIGHT = 203


def self_test_pixels() -> np.ndarray:
    """The H×W×4 RGBA image pdq.js's ``selfTestPixels()`` makes (the same arithmetic, in the same
    order: JS numbers are IEEE doubles, like Python floats)."""
    width, height = SELF_TEST_WIDTH, SELF_TEST_HEIGHT
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    state = 12345
    for y in range(height):
        for x in range(width):
            state = (state * 1103515245 + 12345) & 0xFFFFFFFF
            noise = state >> 24
            dx, dy = x - 150, y - 90
            disc = 80 if dx * dx + dy * dy < 60 * 60 else 0
            rgba[y, x, 0] = int(x * 128 / (width - 1) + disc + (noise >> 3)) & 255
            rgba[y, x, 1] = int(y * 128 / (height - 1) + (noise >> 3)) & 255
            rgba[y, x, 2] = (((x + y) >> 2) + (noise >> 3)) & 255
            rgba[y, x, 3] = (noise * 7) & 255
    return rgba


def dct_matrix_hex() -> str:
    """The reference's 16×64 DCT matrix as float32 bit patterns (8 hex digits each, row-major):
    ``float32(float32(sqrt(2/64)) * cos((pi/2/64) * (i+1) * (2j+1)))``, cos in double, as the C++
    ``dct_matrix_64`` builds it."""
    scale = float(np.float32(math.sqrt(2.0 / 64.0)))
    values = np.array([np.float32(scale * math.cos((math.pi / 2 / 64.0) * (i + 1) * (2 * j + 1)))
                       for i in range(16) for j in range(64)], dtype=np.float32)
    return "".join(f"{bits:08x}" for bits in values.view(np.uint32))


# ---------------------------------------------------------------- image files


@dataclass(frozen=True)
class ImageFile:
    name: str
    path: Path
    note: str  # what the file exercises


def _photo(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng([seed, width, height])
    pixels = _photo_like(width, height, rng)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    # Hard edges too: they are where decoders and chroma upsampling would differ.
    draw.rectangle((width // 8, height // 6, width // 3, height // 2), fill=(220, 40, 30))
    draw.ellipse((width // 2, height // 3, width - width // 6, height - height // 8), fill=(20, 60, 200))
    return image


def _exif_with_orientation(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[EXIF_ORIENTATION_TAG] = orientation
    return exif.tobytes()


def _transparent_rgba(width: int, height: int, seed: int, *, partial: bool) -> Image.Image:
    """A photo whose alpha holds fully transparent areas (and, with ``partial``, semi-transparent
    ones); the colours under alpha 0 stay distinct, as the server keeps them."""
    rgb = np.asarray(_photo(width, height, seed), dtype=np.uint8)
    xs = np.arange(width)[None, :]
    ys = np.arange(height)[:, None]
    alpha = np.full((height, width), 255, dtype=np.uint8)
    alpha[(xs // 16 + ys // 16) % 3 == 0] = 0
    if partial:
        band = (ys * 4 // height) == 2
        alpha = np.where(band & (alpha == 255), (xs * 255 // max(1, width - 1)).astype(np.uint8), alpha)
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")


def _transparent_gif(image: Image.Image) -> tuple[Image.Image, dict[str, object]]:
    """A palette image whose index 255 (a green no other pixel uses) marks a transparent lattice."""
    palette_image = image.quantize(255)
    indices = np.asarray(palette_image).copy()
    ys, xs = np.mgrid[0:image.height, 0:image.width]
    indices[(xs // 12 + ys // 12) % 4 == 0] = 255
    gif = Image.fromarray(indices, "P")
    gif.putpalette([*palette_image.getpalette()[:255 * 3], 10, 200, 30])
    return gif, {"format": "GIF", "transparency": 255}


def write_image_files(folder: Path, seed: int = 14) -> list[ImageFile]:
    """Write the end-to-end image files into ``folder`` and return them (all deterministic)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[ImageFile] = []

    def save(name: str, note: str, image: Image.Image, options: dict[str, object] | None = None,
             **more_options: object) -> None:
        options = {**(options or {}), **more_options}
        buffer = io.BytesIO()
        image.save(buffer, **options)
        path = folder / name
        path.write_bytes(buffer.getvalue())
        files.append(ImageFile(name, path, note))

    photo = _photo(640, 480, seed)
    odd = _photo(517, 389, seed + 1)
    save("jpeg-420.jpg", "JPEG 4:2:0", photo, format="JPEG", quality=90, subsampling="4:2:0")
    save("jpeg-422.jpg", "JPEG 4:2:2", photo, format="JPEG", quality=90, subsampling="4:2:2")
    save("jpeg-444.jpg", "JPEG 4:4:4", photo, format="JPEG", quality=95, subsampling="4:4:4")
    save("jpeg-progressive.jpg", "JPEG progressive", odd, format="JPEG", quality=85, progressive=True)
    save("jpeg-odd-420.jpg", "JPEG 4:2:0, odd sides", odd, format="JPEG", quality=75, subsampling="4:2:0")
    save("jpeg-grey.jpg", "JPEG greyscale", odd.convert("L"), format="JPEG", quality=90)
    save("png-rgb.png", "PNG, opaque", odd, format="PNG")
    save("png-transparent.png", "PNG with transparent areas keeping distinct colours",
         _transparent_rgba(400, 300, seed, partial=False), format="PNG")
    save("png-semi-transparent.png", "PNG with transparent and semi-transparent areas",
         _transparent_rgba(333, 251, seed + 2, partial=True), format="PNG")
    save("png-palette.png", "PNG, palette", odd.quantize(200), format="PNG")
    save("png-grey-alpha.png", "PNG, greyscale with alpha",
         _transparent_rgba(301, 199, seed + 3, partial=True).convert("LA"), format="PNG")
    grey16 = np.asarray(odd.convert("L"), dtype=np.uint16) * 257 + np.arange(odd.width, dtype=np.uint16) % 13
    save("png-grey16.png", "PNG, 16-bit greyscale", Image.fromarray(grey16), format="PNG")
    save("jpeg-cmyk.jpg", "JPEG, CMYK", odd.convert("CMYK"), format="JPEG", quality=90)
    save("webp-lossy.webp", "WebP lossy", photo, format="WEBP", quality=80)
    save("webp-lossless.webp", "WebP lossless", odd, format="WEBP", lossless=True)
    save("gif.gif", "GIF", odd.quantize(256), format="GIF")
    save("gif-transparent.gif", "GIF with a transparent index of a distinct colour", *_transparent_gif(odd))
    save("bmp.bmp", "BMP", odd, format="BMP")
    save("avif.avif", "AVIF", photo, format="AVIF", quality=80)
    save("webp-transparent.webp", "WebP lossless with transparent areas",
         _transparent_rgba(320, 240, seed + 4, partial=True), format="WEBP", lossless=True, exact=True)
    save("avif-transparent.avif", "AVIF with transparent areas",
         _transparent_rgba(320, 240, seed + 5, partial=True), format="AVIF", quality=80)
    for orientation in range(1, 9):
        save(f"jpeg-orientation-{orientation}.jpg", f"JPEG with EXIF orientation {orientation}", odd,
             format="JPEG", quality=90, exif=_exif_with_orientation(orientation))
    return files


def write_video_file(path: Path) -> Path:
    """A 12-frame H.264 MP4 (PyAV), for the digests-only path."""
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for index in range(12):
            frame = np.asarray(_photo(160, 120, index), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
