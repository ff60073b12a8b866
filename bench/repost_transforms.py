"""The reposts of ``bench/reposts.py``: what platforms receive instead of the original.

Each transform is ``(rgb uint8 H×W×3, numpy Generator) -> rgb uint8``; the generator only
picks random parts (the off-centre crop's position, the border colour, the caption's words),
so a transform is deterministic given its seed. Choices, where the issue leaves freedom:

* JPEG 50 and resize ×0.5 / ×0.7 are the watermark benchmark's (``watermark_attacks``): Pillow
  JPEG with 4:2:0 chroma, Lanczos downscaling.
* Border 10 %: 10 % of the short side added on every side, black, or a random bright colour.
* Centre crop 5 % / 10 %: 5 % (10 %) of each side's length removed, half at each end, so
  95 % (90 %) of each side is kept. Off-centre crop: 10 % of each side's length removed, all
  of it at one end (a random corner is kept).
* Rotation 1° / 2°: bicubic, about the centre, same canvas, corners black.
* Flip: left-right mirror.
* Caption band: a white band of 22 % of the height added above the image, with two lines of
  black text (a meme caption).
* Repost chain: resize ×0.7 (Lanczos), JPEG 75, then a 10 % black border.

Overlaid captions (issue 17, ``OVERLAY_TRANSFORMS``): a meme caption drawn *over* the picture, which
keeps its size: a flat band (white with black text, or black with white text) replaces the top or
bottom rows, or both. The text is one line of seeded upper-case words in Pillow's own scalable font,
thickened with a stroke of its own colour (bold, Impact-like), as tall as 70 % of the band and
shrunk until it fits 94 % of the width, centred:

* top 10 % white, top 15 % black, bottom 12 % white;
* top and bottom: each band 10-15 % (seeded), both white or both black (seeded);
* mixed + JPEG 75: top, bottom or both (seeded), 10-15 %, white or black, then saved as JPEG 75
  (4:2:0), as most shared memes are.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from watermark_attacks import chain, jpeg, resize  # the watermark benchmark's, same settings

Transform = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _pil(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


def _arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def border(fraction: float, colour: str) -> Transform:
    def transform(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        pad = max(1, round(min(rgb.shape[:2]) * fraction))
        fill = (0, 0, 0) if colour == "black" else tuple(int(v) for v in rng.integers(96, 256, 3))
        return _arr(ImageOps.expand(_pil(rgb), border=pad, fill=fill))

    return transform


def centre_crop(removed: float) -> Transform:
    def transform(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        h, w = rgb.shape[:2]
        dy, dx = round(h * removed / 2), round(w * removed / 2)
        return rgb[dy:h - dy, dx:w - dx]

    return transform


def offcentre_crop(removed: float) -> Transform:
    def transform(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        h, w = rgb.shape[:2]
        dy, dx = round(h * removed), round(w * removed)
        top = dy if rng.random() < 0.5 else 0
        left = dx if rng.random() < 0.5 else 0
        return rgb[top:top + h - dy, left:left + w - dx]

    return transform


def rotate(degrees: float) -> Transform:
    def transform(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
        return _arr(_pil(rgb).rotate(degrees, resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0)))

    return transform


def flip(rgb: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
    return np.ascontiguousarray(rgb[:, ::-1])


_WORDS = ("when", "the", "you", "she", "lol", "weekend", "monday", "finally", "nobody", "me", "this",
          "is", "fine", "literally", "every", "time", "guess", "what", "happened", "again")


def caption(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = rgb.shape[:2]
    band = round(h * 0.22)
    canvas = Image.new("RGB", (w, h + band), (255, 255, 255))
    canvas.paste(_pil(rgb), (0, band))
    draw = ImageDraw.Draw(canvas)
    size = max(10, band // 3)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(size=size)
    except TypeError:  # Pillow without scalable default font
        font = ImageFont.load_default()
    for line in range(2):
        text = " ".join(rng.choice(_WORDS, 4)).upper()
        draw.text((w // 20, band // 8 + line * (band // 2)), text, fill=(0, 0, 0), font=font)
    return np.asarray(canvas)


def _bold_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without its scalable default font: the bitmap one, at one size
        return ImageFont.load_default()


def _draw_caption_band(canvas: Image.Image, top: int, height: int, dark: bool,
                       rng: np.random.Generator) -> None:
    """Paint a flat band over rows ``top .. top + height`` and write a line of bold text on it."""
    fill, ink = ((0, 0, 0), (255, 255, 255)) if dark else ((255, 255, 255), (0, 0, 0))
    width = canvas.size[0]
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, top, width - 1, top + height - 1), fill=fill)
    text = " ".join(rng.choice(_WORDS, int(rng.integers(2, 6)))).upper()
    size = max(8, round(height * 0.7))
    while True:
        font = _bold_font(size)
        stroke = max(1, size // 14)
        left, upper, right, lower = draw.textbbox((0, 0), text, font=font, stroke_width=stroke)
        if right - left <= 0.94 * width or size <= 8:
            break
        size = max(8, int(size * 0.9))
    x = (width - (right - left)) // 2 - left
    y = top + (height - (lower - upper)) // 2 - upper
    draw.text((x, y), text, fill=ink, font=font, stroke_width=stroke, stroke_fill=ink)


def overlay(where: str, share: float | None, colour: str | None) -> Transform:
    """A caption band over the picture at ``where`` ("top", "bottom", "both", or None: seeded), of
    ``share`` of the height each (None: seeded in 10-15 %), "white" or "black" (None: seeded)."""
    def transform(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        place = where or str(rng.choice(["top", "bottom", "both"]))
        dark = colour == "black" if colour else bool(rng.random() < 0.5)
        height = rgb.shape[0]
        canvas = _pil(rgb)
        if place in ("top", "both"):
            band = max(1, round(height * (share or rng.uniform(0.10, 0.15))))
            _draw_caption_band(canvas, 0, band, dark, rng)
        if place in ("bottom", "both"):
            band = max(1, round(height * (share or rng.uniform(0.10, 0.15))))
            _draw_caption_band(canvas, height - band, band, dark, rng)
        return _arr(canvas)

    return transform


#: Issue 17's held-out family: captions laid over the picture.
OVERLAY_TRANSFORMS: dict[str, tuple[str, Transform]] = {
    "overlay-top10": ("Overlay top 10 %, white", overlay("top", 0.10, "white")),
    "overlay-top15": ("Overlay top 15 %, black", overlay("top", 0.15, "black")),
    "overlay-bottom12": ("Overlay bottom 12 %, white", overlay("bottom", 0.12, "white")),
    "overlay-both": ("Overlay top + bottom, 10-15 % each", overlay("both", None, None)),
    "overlay-jpeg": ("Overlay mixed + JPEG 75", chain(overlay(None, None, None), jpeg(75))),
}

TRANSFORMS: dict[str, tuple[str, Transform]] = {
    "jpeg50": ("JPEG 50", jpeg(50)),
    "resize0.5": ("Resize ×0.5", resize(0.5)),
    "border-black": ("10 % border, black", border(0.10, "black")),
    "border-colour": ("10 % border, colour", border(0.10, "colour")),
    "crop-centre5": ("Centre crop 5 %", centre_crop(0.05)),
    "crop-centre10": ("Centre crop 10 %", centre_crop(0.10)),
    "crop-offcentre10": ("Off-centre crop 10 %", offcentre_crop(0.10)),
    "rotate1": ("Rotation 1°", rotate(1.0)),
    "rotate2": ("Rotation 2°", rotate(2.0)),
    "flip": ("Flip", flip),
    "caption": ("Caption band", caption),
    "chain": ("Repost chain (×0.7 + JPEG 75 + 10 % border)",
              chain(resize(0.7), jpeg(75), border(0.10, "black"))),
    **OVERLAY_TRANSFORMS,
}
