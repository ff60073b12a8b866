"""The visible AI label: a badge drawn into a corner of an image or of a video's first seconds.

Two styles:

- ``"eu"``: a rounded badge reading "AI", for the EU AI Act Art. 50(4) (deployers show a
  visible label at first exposure; on video, at the start).
- ``"cn"``: a badge reading "AI生成" ("AI-generated"), for China's GB 45438-2025 explicit
  label, with the text at least 5 % of the image's shorter side tall.

Everything works on H×W×3 uint8 RGB arrays and returns new arrays; nothing is read or
written. The output is a pure function of the input pixels and the spec.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

import numpy as np
from PIL import Image, ImageDraw, ImageFont, features

from deepshield.labels.glyphs import LATIN_A, LATIN_I, STROKE_GLYPHS, StrokeGlyph

Style = Literal["eu", "cn"]
Corner = Literal["top-left", "top-right", "bottom-left", "bottom-right"]

STYLES: tuple[str, ...] = get_args(Style)
CORNERS: tuple[str, ...] = get_args(Corner)

MIN_SHORT_SIDE = 64
"""Images whose shorter side is below this many pixels are refused: a label there is unreadable."""
MIN_BADGE_HEIGHT = 18
"""The badge is never drawn less than this many pixels high, whatever ``size`` asks for: below
that the text would be under 12 pixels, too few for the strokes of 成 to stay apart."""
MAX_SIZE = 0.25
MAX_MARGIN = 0.2
TEXT_FRACTION = 0.66
"""The text's height (cap height of "AI", full height of 生 and 成) as a fraction of the badge's."""
CN_MIN_TEXT_HEIGHT = 0.05
"""GB 45438-2025: the text is at least 5 % of the image's shorter side tall."""
CN_MIN_SIZE = CN_MIN_TEXT_HEIGHT / TEXT_FRACTION
MIN_CONTRAST_RATIO = 4.5
"""WCAG 2 contrast ratio (AA, normal text) kept between the white text and every background pixel."""

_FILL_RGB: dict[str, tuple[int, int, int]] = {"eu": (0, 51, 153), "cn": (24, 24, 24)}  # EU blue; near black
_TEXT_RGB = (255, 255, 255)
_SUPERSAMPLE = 4
_CJK_STROKE = 0.115  # stroke width of 生 and 成, as a fraction of the text height
_LATIN_EMBOLDEN = 0.022  # extra outline around Pillow's regular-weight "AI", per pixel of font size
_PAD_X = 0.26  # left and right padding, as a fraction of the badge height
_RADIUS = 0.22  # corner radius, as a fraction of the badge height
_GAP_AFTER_LATIN = 0.24  # between "AI" and 生, as a fraction of the text height
_GAP_CJK = 0.10  # between 生 and 成
# Aim a little past the WCAG ratio so that rounding to uint8 never lands just under it.
_TARGET_RATIO = MIN_CONTRAST_RATIO * 1.02


def _check_fraction(name: str, value: object, low: float, high: float, *, low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, not {value!r}")
    number = float(value)
    if number > high or number < low or (low_open and number == low):
        opening = "above" if low_open else "at least"
        raise ValueError(f"{name} must be {opening} {low:g} and at most {high:g}, not {number:g}")
    return number


@dataclass(frozen=True)
class VisibleLabelSpec:
    """How the visible label looks and where it goes. Every field is checked on construction.

    - ``style``: ``"eu"`` (a badge reading "AI") or ``"cn"`` (a badge reading "AI生成").
    - ``corner``: which corner of the image the badge sits in.
    - ``size``: the badge's height as a fraction of the image's shorter side, 0 < size ≤ 0.25
      (never fewer than ``MIN_BADGE_HEIGHT`` pixels). The text is ``TEXT_FRACTION`` of the
      badge height, so ``"cn"`` needs size ≥ ``CN_MIN_SIZE`` (≈ 0.0758) for text ≥ 5 %.
    - ``contrast``: 0 < contrast ≤ 1, the opacity of the badge's dark background over the
      image; the text is always opaque white. 1 is an opaque badge. Lower values let the
      image show through, but the opacity used is raised, where needed, to the smallest
      value that keeps a WCAG contrast ratio of at least 4.5:1 between the white text and
      every background pixel of the badge. So on a dark image a low contrast gives a faint
      badge, and on a bright one the badge darkens just enough for the text to stay legible.
    - ``margin``: the gap between the badge and the image's edges, as a fraction of the
      shorter side, 0 ≤ margin ≤ 0.2.

    Invalid values raise ``ValueError`` with a message meant for the user.
    """

    style: Style = "eu"
    corner: Corner = "bottom-right"
    size: float = 0.08
    contrast: float = 1.0
    margin: float = 0.02

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {self.style!r}")
        if self.corner not in CORNERS:
            raise ValueError(f"corner must be one of {', '.join(CORNERS)}, not {self.corner!r}")
        size = _check_fraction("size", self.size, 0.0, MAX_SIZE, low_open=True)
        if self.style == "cn" and size < CN_MIN_SIZE:
            needed = math.ceil(CN_MIN_SIZE * 10_000) / 10_000
            raise ValueError(
                f"size {size:g} is too small for style 'cn': GB 45438-2025 needs text at least 5 % of "
                f"the image's shorter side tall, which takes a size of at least {needed:g}")
        contrast = _check_fraction("contrast", self.contrast, 0.0, 1.0, low_open=True)
        margin = _check_fraction("margin", self.margin, 0.0, MAX_MARGIN, low_open=False)
        # Frozen: store the checked values as floats (an int such as 1 is accepted for 1.0).
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "contrast", contrast)
        object.__setattr__(self, "margin", margin)


@dataclass(frozen=True)
class BadgeBox:
    """Where the badge goes in an image, in pixels: the rectangle ``[top:top+height, left:left+width]``.

    Pixels outside this rectangle are never changed. ``text_height`` is the height of the
    text inside it (the cap height of "AI"; the full height of 生 and 成).
    """

    left: int
    top: int
    width: int
    height: int
    text_height: int


def badge_box(image_height: int, image_width: int, spec: VisibleLabelSpec) -> BadgeBox:
    """The badge's rectangle for an image of this size, or ``ValueError`` if it cannot be labelled.

    Raises when the shorter side is under ``MIN_SHORT_SIDE`` pixels, or when the badge and
    its margin would not fit inside the image (a large size or margin on a narrow image).
    """
    short_side = min(image_height, image_width)
    if short_side < MIN_SHORT_SIDE:
        raise ValueError(f"the image is {image_width}×{image_height}; a visible label needs a shorter "
                         f"side of at least {MIN_SHORT_SIDE} pixels")
    height = max(MIN_BADGE_HEIGHT, round(spec.size * short_side))
    text_height = round(height * TEXT_FRACTION)
    if spec.style == "cn":
        text_height = max(text_height, math.ceil(CN_MIN_TEXT_HEIGHT * short_side))
    width = _badge_masks(spec.style, height, text_height, _have_scalable_font())[0].shape[1]
    margin = round(spec.margin * short_side)
    if width + 2 * margin > image_width or height + 2 * margin > image_height:
        raise ValueError(f"a {width}×{height} badge with a {margin}-pixel margin does not fit in the "
                         f"{image_width}×{image_height} image; use a smaller size or margin")
    left = margin if spec.corner.endswith("left") else image_width - margin - width
    top = margin if spec.corner.startswith("top") else image_height - margin - height
    return BadgeBox(left=left, top=top, width=width, height=height, text_height=text_height)


def apply_visible_label(pixels: np.ndarray, spec: VisibleLabelSpec) -> np.ndarray:
    """A copy of ``pixels`` (H×W×3 uint8 RGB) with the visible label drawn in ``spec.corner``.

    Only the pixels inside ``badge_box(H, W, spec)`` change; the input is never modified,
    and the same input always gives the same bytes. Raises ``ValueError`` for anything but
    an H×W×3 uint8 array, for a shorter side under 64 pixels, or when the badge does not fit.
    """
    _check_pixels(pixels)
    box = badge_box(pixels.shape[0], pixels.shape[1], spec)
    shape_mask, text_mask = _badge_masks(spec.style, box.height, box.text_height, _have_scalable_font())
    labelled = np.array(pixels, dtype=np.uint8, order="C", copy=True)
    rows = slice(box.top, box.top + box.height)
    cols = slice(box.left, box.left + box.width)
    original = labelled[rows, cols]
    region = original.astype(np.float32)
    fill = np.array(_FILL_RGB[spec.style], dtype=np.float32)
    opacity = _background_opacity(original, fill, spec.contrast)
    background = region + (fill - region) * (opacity * shape_mask)[..., None]
    text = np.array(_TEXT_RGB, dtype=np.float32)
    composed = background + (text - background) * text_mask[..., None]
    labelled[rows, cols] = np.clip(np.rint(composed), 0, 255).astype(np.uint8)
    return labelled


def label_frame_at(time_s: float, pixels: np.ndarray, spec: VisibleLabelSpec, *,
                   duration_s: float = 3.0) -> np.ndarray:
    """One video frame, labelled while ``time_s < duration_s`` (the EU's "first exposure").

    Returns a new array in either case: the labelled frame (as ``apply_visible_label``) for
    frames shown before ``duration_s`` seconds, including any with a negative timestamp,
    and an unchanged copy from ``duration_s`` on. Frames are checked the same way at every
    time, so a video that cannot take the label fails on any frame, not only the first.
    Raises ``ValueError`` for a non-finite ``time_s`` or a ``duration_s`` that is not a
    positive finite number.
    """
    if isinstance(time_s, bool) or not isinstance(time_s, numbers.Real) or not math.isfinite(time_s):
        raise ValueError(f"time_s must be a finite number of seconds, not {time_s!r}")
    if (isinstance(duration_s, bool) or not isinstance(duration_s, numbers.Real)
            or not math.isfinite(duration_s) or duration_s <= 0):
        raise ValueError(f"duration_s must be a positive number of seconds, not {duration_s!r}")
    if time_s < duration_s:
        return apply_visible_label(pixels, spec)
    _check_pixels(pixels)
    badge_box(pixels.shape[0], pixels.shape[1], spec)
    return np.array(pixels, dtype=np.uint8, order="C", copy=True)


def _check_pixels(pixels: np.ndarray) -> None:
    if not isinstance(pixels, np.ndarray):
        raise ValueError(f"pixels must be a numpy array, not {type(pixels).__name__}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"pixels must be an H×W×3 uint8 RGB array, not {pixels.dtype} with shape "
                         f"{pixels.shape}")


def _relative_luminance(srgb: np.ndarray) -> np.ndarray:
    """WCAG relative luminance of sRGB values in 0..255 (last axis: R, G, B)."""
    unit = srgb / 255.0
    linear = np.where(unit <= 0.04045, unit / 12.92, ((unit + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def _background_opacity(region: np.ndarray, fill: np.ndarray, contrast: float) -> float:
    """``contrast``, or the smallest opacity above it that keeps the white text legible everywhere.

    ``region`` is the badge rectangle's uint8 pixels, all of which are checked. Each pixel's
    luminance after blending towards the fill is convex in the opacity (the sRGB curve is
    convex), and at opacity 1 (the fill itself) it is within bounds, so the opacities that
    work form an interval ending at 1; bisection finds its start.
    """
    max_luminance = (_relative_luminance(np.array(_TEXT_RGB, dtype=np.float64)) + 0.05) / _TARGET_RATIO - 0.05
    # The badge's distinct colours (packed into one integer each: a 1-D unique is fast).
    packed = region.reshape(-1, 3).astype(np.int32) @ np.array([65536, 256, 1], dtype=np.int32)
    codes = np.unique(packed)
    colours = np.stack([codes >> 16, (codes >> 8) & 255, codes & 255], axis=-1).astype(np.float64)

    def legible(opacity: float) -> bool:
        blended = colours + (fill - colours) * opacity
        return bool(_relative_luminance(blended).max() <= max_luminance)

    if legible(contrast):
        return contrast
    low, high = contrast, 1.0
    for _ in range(20):
        middle = (low + high) / 2
        if legible(middle):
            high = middle
        else:
            low = middle
    return high


def _have_scalable_font() -> bool:
    # Without FreeType, ImageFont.load_default ignores the size; draw "AI" from strokes instead.
    return bool(features.check("freetype2"))


@lru_cache(maxsize=64)
def _badge_masks(style: str, height: int, text_height: int, use_font: bool) -> tuple[np.ndarray, np.ndarray]:
    """The badge's shape and text coverage (float32 in 0..1, read-only), ``height`` rows high.

    Drawn at four times the size and box-averaged down, so edges are anti-aliased and the
    result is the same on every run. The text's top is aligned to a whole output pixel so
    that its height in the output is ``text_height`` pixels.
    """
    scale = _SUPERSAMPLE
    big_text = text_height * scale
    text_image = _render_text("AI生成" if style == "cn" else "AI", big_text, use_font)
    pad_x = round(_PAD_X * height)
    text_width = math.ceil(text_image.width / scale)
    width = text_width + 2 * pad_x
    shape = Image.new("L", (width * scale, height * scale), 0)
    ImageDraw.Draw(shape).rounded_rectangle(
        (0, 0, width * scale - 1, height * scale - 1), radius=round(_RADIUS * height * scale), fill=255)
    text = Image.new("L", shape.size, 0)
    text_left = (pad_x + (text_width * scale - text_image.width) // 2 // scale) * scale
    text_top = (height - text_height) // 2 * scale
    text.paste(text_image, (text_left, text_top))
    shape_mask = np.asarray(shape.reduce(scale), dtype=np.float32) / 255.0
    text_mask = np.asarray(text.reduce(scale), dtype=np.float32) / 255.0
    shape_mask.flags.writeable = False
    text_mask.flags.writeable = False
    return shape_mask, text_mask


def _render_text(text: str, text_height: int, use_font: bool) -> Image.Image:
    """The text in white on black: ``text_height`` high, as wide as it needs.

    Pieces and gaps start on multiples of ``_SUPERSAMPLE`` (whole output pixels), so that the
    stroke glyphs' pixel snapping holds once the badge is reduced.
    """
    grid = _SUPERSAMPLE
    pieces: list[Image.Image] = []
    gaps: list[float] = []
    latin = "".join(char for char in text if char.isascii())
    if latin:
        pieces.append(_render_latin(latin, text_height) if use_font
                      else _render_strokes([LATIN_A, LATIN_I], text_height, gap=0.16, grid=grid))
        gaps.append(_GAP_AFTER_LATIN)
    cjk = [STROKE_GLYPHS[char] for char in text if not char.isascii()]
    if cjk:
        pieces.append(_render_strokes(cjk, text_height, gap=_GAP_CJK, grid=grid))
    gap_pixels = [_to_grid(gap * text_height, grid) for gap in gaps[: len(pieces) - 1]] + [0]
    lefts = []
    left = 0
    for piece, gap in zip(pieces, gap_pixels, strict=True):
        lefts.append(left)
        left += math.ceil(piece.width / grid) * grid + gap
    canvas = Image.new("L", (lefts[-1] + pieces[-1].width, text_height), 0)
    for piece, piece_left in zip(pieces, lefts, strict=True):
        canvas.paste(piece, (piece_left, 0))
    return canvas


def _to_grid(length: float, grid: int) -> int:
    return round(length / grid) * grid


def _render_latin(text: str, text_height: int) -> Image.Image:
    """Latin capitals in Pillow's built-in scalable font, emboldened, cap height ``text_height``."""
    reference = 1000
    left, top, right, bottom = ImageFont.load_default(size=reference).getbbox(
        text, stroke_width=round(_LATIN_EMBOLDEN * reference))
    font_size = max(1, round(reference * text_height / (bottom - top)))
    font = ImageFont.load_default(size=font_size)
    stroke = max(1, round(_LATIN_EMBOLDEN * font_size))
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    image = Image.new("L", (right - left, text_height), 0)
    # Centre the ink vertically; it is within a pixel or two of text_height at this scale.
    offset_y = (text_height - (bottom - top)) // 2
    ImageDraw.Draw(image).text((-left, offset_y - top), text, font=font, fill=255,
                               stroke_width=stroke, stroke_fill=255)
    return image


def _render_strokes(glyphs: list[StrokeGlyph], text_height: int, gap: float, grid: int) -> Image.Image:
    """Stroke glyphs side by side, ``text_height`` high, with ``gap`` text heights between them.

    ``grid`` is the size of one output pixel here (the supersampling factor). The stroke
    width is a whole number of output pixels, and the ends of horizontal and vertical
    segments move (by under half a pixel) so that those strokes' edges fall on pixel
    boundaries: they stay crisp at small sizes instead of smearing over two rows. Curves
    are left where they are, so they stay smooth.
    """
    stroke = max(grid, round(_CJK_STROKE * text_height / grid) * grid)
    span = text_height - stroke  # the centre lines' extent; round caps add half a stroke each side
    widths = [_to_grid(glyph.advance * span, grid) + stroke for glyph in glyphs]
    gap_pixels = _to_grid(gap * text_height, grid)
    image = Image.new("L", (sum(widths) + gap_pixels * (len(glyphs) - 1), text_height), 0)
    draw = ImageDraw.Draw(image)
    radius = stroke / 2
    origin_x = 0.0
    for glyph, width in zip(glyphs, widths, strict=True):
        for line in glyph.strokes:
            points = [(origin_x + radius + x * span, radius + y * span) for x, y in line]
            points = _snap_straight(points, radius, grid)
            draw.line(points, fill=255, width=stroke, joint="curve")
            for x, y in (points[0], points[-1]):
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
        origin_x += width + gap_pixels
    return image


def _snap_straight(points: list[tuple[float, float]], radius: float, grid: int) -> list[tuple[float, float]]:
    """``points`` with the y of horizontal segments' ends and the x of vertical ones' snapped."""
    snapped = []
    for index, (x, y) in enumerate(points):
        neighbours = points[max(0, index - 1):index] + points[index + 1:index + 2]
        if any(abs(other_y - y) < 1e-9 for _, other_y in neighbours):
            y = _snap(y, radius, grid)
        if any(abs(other_x - x) < 1e-9 for other_x, _ in neighbours):
            x = _snap(x, radius, grid)
        snapped.append((x, y))
    return snapped


def _snap(centre: float, radius: float, grid: int) -> float:
    """``centre`` moved to the nearest position where ``centre - radius`` is a multiple of ``grid``."""
    return round((centre - radius) / grid) * grid + radius
