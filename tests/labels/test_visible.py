"""The visible AI label on real arrays: placement, size rules, contrast, validation, video timing."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from deepshield.labels import (
    CN_MIN_SIZE,
    MIN_SHORT_SIDE,
    VisibleLabelSpec,
    apply_visible_label,
    badge_box,
    label_frame_at,
)
from deepshield.labels.glyphs import CHENG, SHENG
from deepshield.labels.visible import _badge_masks, _render_strokes
from factories import photo_pixels

CORNERS = ["top-left", "top-right", "bottom-left", "bottom-right"]
STYLES = ["eu", "cn"]


def _luminance(pixels: np.ndarray) -> np.ndarray:
    """WCAG relative luminance (0..1) of uint8 sRGB pixels."""
    unit = pixels.astype(np.float64) / 255.0
    linear = np.where(unit <= 0.04045, unit / 12.92, ((unit + 0.055) / 1.055) ** 2.4)
    return linear @ np.array([0.2126, 0.7152, 0.0722])


def _contrast_ratio(lighter: np.ndarray | float, darker: np.ndarray | float) -> np.ndarray:
    return (np.asarray(lighter) + 0.05) / (np.asarray(darker) + 0.05)


def _uniform(height: int, width: int, value: int) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def _text_and_background(style: str, height: int, width: int, spec: VisibleLabelSpec
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Masks over the badge box: pure text pixels, and pure background pixels (no text, full badge).

    Found from the label drawn on black at full contrast: text is exactly white there, and
    pure background is exactly the badge's fill colour (its most common colour).
    """
    opaque = VisibleLabelSpec(style=style, corner=spec.corner, size=spec.size, margin=spec.margin)
    box = badge_box(height, width, opaque)
    on_black = apply_visible_label(_uniform(height, width, 0), opaque)[
        box.top:box.top + box.height, box.left:box.left + box.width]
    colours, counts = np.unique(on_black.reshape(-1, 3), axis=0, return_counts=True)
    fill = colours[np.argmax(counts)]
    text = np.all(on_black == 255, axis=-1)
    background = np.all(on_black == fill, axis=-1)
    return text, background


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("corner", CORNERS)
def test_badge_lands_in_the_requested_corner_and_nothing_outside_it_changes(style: str, corner: str) -> None:
    pixels = photo_pixels(11, 640, 480)
    spec = VisibleLabelSpec(style=style, corner=corner)  # type: ignore[arg-type]
    labelled = apply_visible_label(pixels, spec)
    box = badge_box(480, 640, spec)
    margin = round(0.02 * 480)

    changed = np.any(labelled != pixels, axis=-1)
    inside = np.zeros_like(changed)
    inside[box.top:box.top + box.height, box.left:box.left + box.width] = True
    assert not changed[~inside].any()
    assert changed[inside].mean() > 0.8  # the badge fills its box, bar the rounded corners
    assert box.left == margin if corner.endswith("left") else box.left + box.width == 640 - margin
    assert box.top == margin if corner.startswith("top") else box.top + box.height == 480 - margin
    rows, cols = np.nonzero(changed)
    assert (rows.min(), rows.max() + 1) == (box.top, box.top + box.height)
    assert (cols.min(), cols.max() + 1) == (box.left, box.left + box.width)


def test_the_input_array_is_not_modified_and_a_new_array_comes_back() -> None:
    pixels = photo_pixels(12, 320, 240)
    before = pixels.copy()
    labelled = apply_visible_label(pixels, VisibleLabelSpec())
    assert np.array_equal(pixels, before)
    assert labelled is not pixels and labelled.dtype == np.uint8 and labelled.shape == pixels.shape


@pytest.mark.parametrize("style", STYLES)
def test_badge_height_is_size_times_the_shorter_side(style: str) -> None:
    spec = VisibleLabelSpec(style=style, size=0.1)  # type: ignore[arg-type]
    small = badge_box(400, 600, spec)
    large = badge_box(1600, 800, spec)  # portrait: the shorter side is the width
    assert small.height == 40 and large.height == 80
    assert large.width == pytest.approx(2 * small.width, rel=0.05)
    assert badge_box(400, 600, VisibleLabelSpec(style=style, size=0.2)).height == 80  # type: ignore[arg-type]


@pytest.mark.parametrize(("height", "width"), [(64, 64), (120, 160), (480, 640), (1080, 1920), (3000, 1000)])
def test_cn_text_is_at_least_five_percent_of_the_shorter_side(height: int, width: int) -> None:
    spec = VisibleLabelSpec(style="cn", size=CN_MIN_SIZE)
    box = badge_box(height, width, spec)
    need = math.ceil(0.05 * min(height, width))
    assert box.text_height >= need
    # Measure the ink: rows of the 生成 half of the badge that hold text, drawn on black.
    labelled = apply_visible_label(_uniform(height, width, 0), spec)
    badge = labelled[box.top:box.top + box.height, box.left + box.width // 2:box.left + box.width]
    ink_rows = np.nonzero((_luminance(badge) > 0.5).any(axis=1))[0]
    assert ink_rows.max() - ink_rows.min() + 1 >= need


def test_cn_size_too_small_for_the_five_percent_rule_is_refused_with_the_minimum() -> None:
    with pytest.raises(ValueError, match=r"GB 45438-2025.*at least 0\.0758"):
        VisibleLabelSpec(style="cn", size=0.07)
    VisibleLabelSpec(style="eu", size=0.07)  # the EU style has no such floor
    VisibleLabelSpec(style="cn", size=0.0758)


def test_tiny_badges_are_raised_to_a_legible_minimum() -> None:
    box = badge_box(200, 200, VisibleLabelSpec(size=0.01))
    assert box.height == 18 and box.text_height == 12


@pytest.mark.parametrize("style", STYLES)
def test_text_has_strong_contrast_against_the_badge_at_default_settings(style: str) -> None:
    pixels = photo_pixels(13, 640, 480)
    spec = VisibleLabelSpec(style=style)  # type: ignore[arg-type]
    box = badge_box(480, 640, spec)
    badge = apply_visible_label(pixels, spec)[box.top:box.top + box.height, box.left:box.left + box.width]
    text, background = _text_and_background(style, 480, 640, spec)
    assert text.sum() > 0.05 * text.size and background.sum() > 0.3 * background.size
    text_luminance = _luminance(badge[text])
    background_luminance = _luminance(badge[background])
    assert text_luminance.min() - background_luminance.max() > 0.8
    assert _contrast_ratio(text_luminance.min(), background_luminance.max()) >= 7


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("base", ["white", "bright photo", "dark photo"])
def test_low_contrast_keeps_the_text_legible_on_any_background(style: str, base: str) -> None:
    pixels = {
        "white": _uniform(300, 400, 255),
        "bright photo": (255 - (255 - photo_pixels(14, 400, 300).astype(np.int16)) // 4).astype(np.uint8),
        "dark photo": (photo_pixels(15, 400, 300) // 4).astype(np.uint8),
    }[base]
    spec = VisibleLabelSpec(style=style, contrast=0.05, size=0.15)  # type: ignore[arg-type]
    box = badge_box(300, 400, spec)
    badge = apply_visible_label(pixels, spec)[box.top:box.top + box.height, box.left:box.left + box.width]
    text, background = _text_and_background(style, 300, 400, spec)
    assert np.all(badge[text] == 255)
    assert _contrast_ratio(1.0, _luminance(badge[background]).max()) >= 4.5


def test_lower_contrast_lets_more_of_the_image_show_through() -> None:
    pixels = (photo_pixels(16, 640, 480) // 2).astype(np.uint8)  # mid-dark: no legibility floor
    box = badge_box(480, 640, VisibleLabelSpec())
    _, background = _text_and_background("eu", 480, 640, VisibleLabelSpec())
    original = pixels[box.top:box.top + box.height, box.left:box.left + box.width].astype(np.int16)
    change = {}
    for contrast in (1.0, 0.6, 0.3):
        labelled = apply_visible_label(pixels, VisibleLabelSpec(contrast=contrast))
        region = labelled[box.top:box.top + box.height, box.left:box.left + box.width].astype(np.int16)
        change[contrast] = np.abs(region - original)[background].mean()
    assert change[1.0] > change[0.6] > change[0.3] > 0
    assert change[0.3] == pytest.approx(0.3 * change[1.0], rel=0.1)


def test_full_contrast_paints_the_badge_opaque() -> None:
    first = apply_visible_label(photo_pixels(17, 400, 300), VisibleLabelSpec(style="cn"))
    second = apply_visible_label(photo_pixels(18, 400, 300), VisibleLabelSpec(style="cn"))
    box = badge_box(300, 400, VisibleLabelSpec(style="cn"))
    _, background = _text_and_background("cn", 300, 400, VisibleLabelSpec(style="cn"))

    def crop(pixels: np.ndarray) -> np.ndarray:
        return pixels[box.top:box.top + box.height, box.left:box.left + box.width]

    assert np.array_equal(crop(first)[background], crop(second)[background])


@pytest.mark.parametrize(("fields", "message"), [
    ({"style": "us"}, "style must be one of eu, cn"),
    ({"corner": "middle"}, "corner must be one of top-left"),
    ({"size": 0}, "size must be above 0"),
    ({"size": -0.1}, "size must be above 0"),
    ({"size": 0.3}, "at most 0.25"),
    ({"size": float("nan")}, "size must be a number"),
    ({"size": True}, "size must be a number"),
    ({"size": "0.1"}, "size must be a number"),
    ({"contrast": 0}, "contrast must be above 0"),
    ({"contrast": 1.5}, "contrast must be above 0 and at most 1"),
    ({"contrast": float("inf")}, "contrast must be a number"),
    ({"margin": -0.01}, "margin must be at least 0"),
    ({"margin": 0.5}, "at most 0.2"),
])
def test_invalid_spec_fields_are_refused_with_a_message_naming_the_field(fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VisibleLabelSpec(**fields)


def test_spec_stores_numbers_as_floats_and_keeps_defaults() -> None:
    spec = VisibleLabelSpec(contrast=1, margin=0)
    assert VisibleLabelSpec(size=np.float32(0.1)).size == pytest.approx(0.1)
    assert spec == VisibleLabelSpec(style="eu", corner="bottom-right", size=0.08, contrast=1.0, margin=0.0)
    assert isinstance(spec.contrast, float) and isinstance(spec.margin, float)


@pytest.mark.parametrize(("height", "width"), [(63, 400), (400, 63), (10, 10)])
def test_images_under_64_pixels_on_the_shorter_side_are_refused(height: int, width: int) -> None:
    with pytest.raises(ValueError, match=f"at least {MIN_SHORT_SIDE} pixels"):
        apply_visible_label(_uniform(height, width, 128), VisibleLabelSpec())


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(("height", "width"), [(64, 64), (64, 1000), (1000, 64), (67, 91)])
def test_the_badge_stays_inside_small_and_narrow_images(style: str, height: int, width: int) -> None:
    spec = VisibleLabelSpec(style=style)  # type: ignore[arg-type]
    box = badge_box(height, width, spec)
    assert box.left >= 0 and box.left + box.width <= width
    assert box.top >= 0 and box.top + box.height <= height
    assert apply_visible_label(photo_pixels(19, width, height), spec).shape == (height, width, 3)


def test_a_badge_too_big_for_the_image_is_refused() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        apply_visible_label(_uniform(200, 200, 0), VisibleLabelSpec(style="cn", size=0.25, margin=0.2))


@pytest.mark.parametrize("pixels", [
    np.zeros((100, 100), dtype=np.uint8),
    np.zeros((100, 100, 4), dtype=np.uint8),
    np.zeros((100, 100, 3), dtype=np.float32),
    [[[0, 0, 0]]],
])
def test_anything_but_an_rgb_uint8_array_is_refused(pixels: object) -> None:
    with pytest.raises(ValueError, match="pixels must be"):
        apply_visible_label(pixels, VisibleLabelSpec())  # type: ignore[arg-type]


def test_same_input_gives_the_same_bytes_even_after_the_badge_cache_is_cleared() -> None:
    pixels = photo_pixels(20, 800, 600)
    for style in STYLES:
        spec = VisibleLabelSpec(style=style, contrast=0.4)  # type: ignore[arg-type]
        first = apply_visible_label(pixels, spec).tobytes()
        _badge_masks.cache_clear()
        assert apply_visible_label(pixels.copy(), spec).tobytes() == first


def test_non_contiguous_input_gives_the_same_result() -> None:
    pixels = photo_pixels(21, 640, 480)
    spec = VisibleLabelSpec()
    expected = apply_visible_label(pixels, spec)
    assert np.array_equal(apply_visible_label(np.asfortranarray(pixels), spec), expected)


@pytest.mark.parametrize("style", STYLES)
def test_video_frames_are_labelled_during_the_first_seconds_only(style: str) -> None:
    frame = photo_pixels(22, 320, 240)
    spec = VisibleLabelSpec(style=style)  # type: ignore[arg-type]
    labelled = apply_visible_label(frame, spec)
    for time_s in (0.0, 1.5, 2.999, -0.04, np.float32(1.0), 2):
        assert np.array_equal(label_frame_at(time_s, frame, spec), labelled)
    for time_s in (3.0, 3.04, 60.0):
        later = label_frame_at(time_s, frame, spec)
        assert np.array_equal(later, frame) and later is not frame


def test_video_label_duration_can_be_changed() -> None:
    frame = photo_pixels(23, 320, 240)
    spec = VisibleLabelSpec()
    assert not np.array_equal(label_frame_at(0.9, frame, spec, duration_s=1.0), frame)
    assert np.array_equal(label_frame_at(1.0, frame, spec, duration_s=1.0), frame)
    assert not np.array_equal(label_frame_at(9.0, frame, spec, duration_s=10), frame)


@pytest.mark.parametrize(("time_s", "duration_s", "message"), [
    (float("nan"), 3.0, "time_s"),
    (float("inf"), 3.0, "time_s"),
    (0.0, 0.0, "duration_s"),
    (0.0, -1.0, "duration_s"),
    (0.0, float("nan"), "duration_s"),
])
def test_video_timing_arguments_are_checked(time_s: float, duration_s: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        label_frame_at(time_s, photo_pixels(24, 160, 120), VisibleLabelSpec(), duration_s=duration_s)


def test_video_frames_that_cannot_take_the_label_fail_at_any_time() -> None:
    with pytest.raises(ValueError, match="at least 64"):
        label_frame_at(10.0, _uniform(48, 64, 0), VisibleLabelSpec())


@pytest.mark.parametrize("style", STYLES)
def test_example_renders_survive_a_png_round_trip(style: str, tmp_path) -> None:
    pixels = photo_pixels(25, 800, 600)
    spec = VisibleLabelSpec(style=style, corner="top-right")  # type: ignore[arg-type]
    path = tmp_path / f"label-{style}.png"
    Image.fromarray(apply_visible_label(pixels, spec)).save(path)
    with Image.open(path) as image:
        assert image.size == (800, 600) and image.mode == "RGB"
        reread = np.asarray(image)
    box = badge_box(600, 800, spec)
    assert np.array_equal(reread, apply_visible_label(pixels, spec))
    assert not np.array_equal(reread[box.top:box.top + box.height, box.left:box.left + box.width],
                              pixels[box.top:box.top + box.height, box.left:box.left + box.width])
    assert np.array_equal(reread[box.top + box.height:], pixels[box.top + box.height:])


def test_latin_fallback_without_freetype_draws_ai_from_strokes() -> None:
    with_font = _badge_masks("eu", 40, 26, True)[1]
    with_strokes = _badge_masks("eu", 40, 26, False)[1]
    for mask in (with_font, with_strokes):
        rows = np.nonzero((mask > 0.5).any(axis=1))[0]
        assert rows.max() - rows.min() + 1 == pytest.approx(26, abs=1)
    assert not np.array_equal(with_font, with_strokes)


def _horizontal_bands(ink: np.ndarray, fill: float) -> int:
    """How many separate bands of rows hold one unbroken run of ink at least ``fill`` of the width long."""
    def longest_run(row: np.ndarray) -> int:
        edges = np.diff(np.concatenate([[0], row.astype(np.int8), [0]]))
        return int((np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]).max(initial=0))

    wide = np.array([longest_run(row) >= fill * ink.shape[1] for row in ink > 127])
    return int(np.count_nonzero(wide[1:] & ~wide[:-1]) + wide[0])


def test_sheng_has_three_horizontals_and_cheng_one_long_top_stroke() -> None:
    sheng = np.asarray(_render_strokes([SHENG], 96, 0.0, grid=4))
    cheng = np.asarray(_render_strokes([CHENG], 96, 0.0, grid=4))
    assert _horizontal_bands(sheng, 0.6) == 3  # the three 一 of 生 (the bottom one longest)
    assert _horizontal_bands(sheng, 0.85) == 1
    assert _horizontal_bands(cheng, 0.6) == 1  # the top 一 of 成
