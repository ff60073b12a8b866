"""Hand-designed stroke glyphs for the visible label: 生 and 成, plus a Latin A and I fallback.

No CJK font is installed where DeepShield runs and none may be downloaded, so the two
Chinese characters of "AI生成" are drawn from centre lines designed here, stroke by stroke,
in the traditional stroke order. Nothing is taken from a font file.

Coordinates are in a unit box, x to the right and y downwards. A glyph's strokes are
polylines of stroke *centre* points; the renderer maps the box so that, with round caps of
the stroke width, the ink fills the box exactly (a point at y = 0 puts ink on the box's top
edge). Curved strokes are sampled quadratic Bézier curves.

The Latin A and I are used only when Pillow has no FreeType (so that its built-in font
cannot scale); normally "AI" comes from ``ImageFont.load_default(size=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass

Point = tuple[float, float]
Stroke = tuple[Point, ...]

_CURVE_STEPS = 12


def _curve(start: Point, control: Point, end: Point) -> tuple[Point, ...]:
    """Points along the quadratic Bézier curve from ``start`` to ``end``, both included."""
    points = []
    for step in range(_CURVE_STEPS + 1):
        t = step / _CURVE_STEPS
        u = 1.0 - t
        points.append((u * u * start[0] + 2 * u * t * control[0] + t * t * end[0],
                       u * u * start[1] + 2 * u * t * control[1] + t * t * end[1]))
    return tuple(points)


@dataclass(frozen=True)
class StrokeGlyph:
    """One character as strokes in a unit box; ``advance`` is its width in box heights."""

    char: str
    strokes: tuple[Stroke, ...]
    advance: float = 1.0


# 生 (shēng, "to produce"): 丿, then three horizontals crossed by one vertical; the bottom
# horizontal is the longest and the upper one starts at the left-falling stroke.
SHENG = StrokeGlyph("生", (
    _curve((0.30, 0.00), (0.24, 0.24), (0.06, 0.44)),   # 丿 left-falling
    ((0.20, 0.30), (0.86, 0.30)),                        # 一 upper horizontal
    ((0.51, 0.03), (0.51, 1.00)),                        # 丨 vertical
    ((0.16, 0.64), (0.84, 0.64)),                        # 一 middle horizontal
    ((0.03, 1.00), (0.97, 1.00)),                        # 一 bottom horizontal
))

# 成 (chéng, "to become"): 横, 撇, 横折钩, 斜钩, 撇, 点 (six strokes in writing order).
CHENG = StrokeGlyph("成", (
    ((0.14, 0.27), (0.92, 0.27)),                                         # 一 top horizontal
    _curve((0.15, 0.27), (0.17, 0.82), (0.03, 0.97)),                     # 丿 left, long
    ((0.16, 0.53), (0.38, 0.53), (0.38, 0.84), (0.29, 0.78)),             # 𠃌 turn with hook
    (*_curve((0.50, 0.00), (0.52, 0.66), (0.90, 0.98)), (0.95, 0.74)),    # ㇂ slanted hook
    _curve((0.88, 0.42), (0.78, 0.70), (0.56, 0.90)),                     # 丿 crossing
    ((0.68, 0.05), (0.79, 0.15)),                                         # 丶 dot
))

# Latin fallbacks, drawn to the same height as the CJK glyphs (cap height = box height).
LATIN_A = StrokeGlyph("A", (
    ((0.00, 1.00), (0.34, 0.00), (0.68, 1.00)),
    ((0.13, 0.64), (0.55, 0.64)),
), advance=0.68)

LATIN_I = StrokeGlyph("I", (
    ((0.00, 0.00), (0.00, 1.00)),
), advance=0.0)

STROKE_GLYPHS: dict[str, StrokeGlyph] = {glyph.char: glyph for glyph in (SHENG, CHENG, LATIN_A, LATIN_I)}
