"""Captions laid over the picture (issue 17 part 5): the overlay cuts of the query side meet the
hash set's version-2 cuts; the query side's cheaper derivations still find what they found."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from deepshield.signals import repost
from deepshield.signals.pdq import pdq_distance, pdq_from_pixels
from factories import photo_pixels

THRESHOLD = 31


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return photo_pixels(31, 640, 480)


def overlaid(pixels: np.ndarray, top: float = 0.0, bottom: float = 0.0, dark: bool = False,
             text: str = "WHEN MONDAY IS FINALLY OVER") -> np.ndarray:
    """``pixels`` with a meme caption painted over its top and/or bottom share of rows: a flat band
    and a line of bold text, the picture keeping its size."""
    fill, ink = ((0, 0, 0), (255, 255, 255)) if dark else ((255, 255, 255), (0, 0, 0))
    canvas = Image.fromarray(pixels)
    draw = ImageDraw.Draw(canvas)
    height, width = pixels.shape[:2]
    for share, at_top in ((top, True), (bottom, False)):
        if not share:
            continue
        band = round(height * share)
        y0 = 0 if at_top else height - band
        draw.rectangle((0, y0, width - 1, y0 + band - 1), fill=fill)
        font = ImageFont.load_default(size=round(band * 0.6))
        draw.text((width // 2, y0 + band // 2), text, fill=ink, font=font, anchor="mm",
                  stroke_width=2, stroke_fill=ink)
    return np.asarray(canvas)


def nearest(queries: list[tuple[str, object]], banked: list[str]) -> tuple[int, str]:
    """The smallest distance from any query to any banked hash, and the query's name."""
    return min((pdq_distance(h.hex, b), name) for name, h in queries for b in banked)  # type: ignore[attr-defined]


def banked(pixels: np.ndarray) -> list[str]:
    return [pdq_from_pixels(pixels).hex] + [h.hex for _, h in repost.hash_set(pixels)]


@pytest.mark.parametrize(("top", "bottom", "dark", "query", "member"), [
    (0.10, 0.0, False, "overlay-top", "cut-top20"),
    (0.15, 0.0, True, "overlay-top", "cut-top20"),
    (0.0, 0.12, False, "overlay-bottom", "cut-bottom20"),
    (0.12, 0.14, True, "overlay-both", "cut-both20"),
])
def test_an_overlaid_caption_is_found_through_the_overlay_cut(photo, top, bottom, dark, query, member):
    copy = overlaid(photo, top, bottom, dark)
    assert copy.shape == photo.shape
    bank = banked(photo)
    assert min(pdq_distance(pdq_from_pixels(copy).hex, b) for b in bank) > THRESHOLD  # plain PDQ misses it
    queries = dict(repost.derived_queries(copy))
    assert query in queries
    # The cut drops the band with the same rows of the picture on both sides: a few bits apart.
    assert pdq_distance(queries[query].hex, dict(repost.hash_set(photo))[member].hex) <= 8
    assert nearest(list(queries.items()), bank)[0] <= THRESHOLD


def test_an_overlaid_caption_is_found_after_jpeg_and_a_resize(photo):
    copy = Image.fromarray(overlaid(photo, top=0.13, dark=True)).resize((480, 360), Image.Resampling.LANCZOS)
    encoded = io.BytesIO()
    copy.save(encoded, format="JPEG", quality=75)
    received = np.asarray(Image.open(io.BytesIO(encoded.getvalue())).convert("RGB"))
    distance, name = nearest(repost.derived_queries(received), banked(photo))
    assert distance <= THRESHOLD and name == "overlay-top"


def test_an_unrelated_picture_with_a_caption_is_not_matched(photo):
    bank = banked(photo)
    for seed in (5, 17, 40):
        other = overlaid(photo_pixels(seed, 640, 480), top=0.12, bottom=0.12)
        queries = [("plain", pdq_from_pixels(other)), *repost.derived_queries(other)]
        assert nearest(queries, bank)[0] > THRESHOLD


def test_the_caption_and_overlay_derivations_need_a_flat_edge_row(photo):
    names = [name for name, _ in repost.derived_queries(photo)]
    assert not [name for name in names if name.startswith(("overlay-", "caption"))]
    assert {"mirrored", "rotate-2", "rotate-1", "rotate+1", "rotate+2"} <= set(names)
    top_only = [name for name, _ in repost.derived_queries(overlaid(photo, top=0.12))]
    assert "overlay-top" in top_only and "caption15" in top_only
    assert "overlay-bottom" not in top_only and "overlay-both" not in top_only
    both = {name for name, _ in repost.derived_queries(overlaid(photo, top=0.12, bottom=0.1))}
    assert {"overlay-top", "overlay-bottom", "overlay-both"} <= both


def test_the_hash_set_cuts_drop_the_overlay_share_of_rows(photo):
    height = photo.shape[0]
    cut = round(height * repost.OVERLAY_CUT)
    assert np.array_equal(repost.cut_rows(photo, repost.OVERLAY_CUT, 0), photo[cut:])
    assert np.array_equal(repost.cut_rows(photo, 0, repost.OVERLAY_CUT), photo[:height - cut])
    both = repost.cut_rows(photo, repost.OVERLAY_CUT, repost.OVERLAY_CUT)
    assert np.array_equal(both, photo[cut:height - cut])
    assert repost.starts_flat(overlaid(photo, top=0.1)[0]) and not repost.starts_flat(photo[0])


def test_the_query_shrink_lands_where_the_bank_shrink_does():
    big = np.asarray(
        Image.fromarray(photo_pixels(7, 960, 540)).resize((1920, 1080), Image.Resampling.BICUBIC))
    fast, reference = repost.query_shrink(big), repost.shrink(big)
    assert fast.shape == reference.shape == (288, 512, 3)
    difference = np.abs(fast.astype(int) - reference)
    assert difference.max() <= 6 and difference.mean() < 0.1  # a rounding, at sharp edges
    assert pdq_distance(pdq_from_pixels(fast).hex, pdq_from_pixels(reference).hex) <= 4
    small = photo_pixels(7)  # under twice the size: the bank's own shrink, pixel for pixel
    assert np.array_equal(repost.query_shrink(small), repost.shrink(small))
    odd = big[:1079, :1919]  # odd sides are not halved (a row or column would be lost)
    assert np.array_equal(repost.query_shrink(odd), repost.shrink(odd))
    for thin in (big[:1, :1024], big[:1024, :2], np.zeros((4000, 1, 3), np.uint8)):
        assert min(repost.query_shrink(thin).shape[:2]) >= 1


def test_the_linear_rotation_is_the_whole_rotation_cropped(photo):
    import cv2

    height, width = photo.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 2.0, 1.0)
    whole = cv2.warpAffine(photo, matrix, (width, height), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    fast = repost.rotate_crop(photo, 2.0, linear=True)
    expected = repost.crop(whole, 0.9)
    assert fast.shape == expected.shape
    assert np.abs(fast.astype(int) - expected).max() <= 1


def test_a_caption_band_on_a_wide_upload_is_still_cut_on_the_very_row():
    wide = np.asarray(Image.fromarray(photo_pixels(12, 800, 450)).resize((1920, 1080)))
    band = Image.new("RGB", (1920, 200), (255, 255, 255))
    ImageDraw.Draw(band).text((80, 60), "NOBODY: ME, EVERY MONDAY", fill=(0, 0, 0), font_size=80)
    captioned = np.concatenate([np.asarray(band), wide])
    assert np.array_equal(repost.cut_caption_band(captioned), wide)
