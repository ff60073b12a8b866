"""Issue 15, item 4: a labelled output whose watermark was removed is still found by its fingerprint.

The perfect remover is simulated as in ``bench/fingerprint_recovery.py``: a photo is labelled for
real, and then copies of its *unlabelled pixels* are verified. They carry no watermark and no
manifest, so only the registered fingerprints (the whole image's and its signed regions') can find
the label: mirrored, cropped to 60 % of each side, rotated 3°, captioned and stretched copies read
``recovered``, in plain words; a blend and an unrelated photo do not."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from deepshield.errors import InvalidRequest
from deepshield.services.access import Principal, Role
from deepshield.services.label import manifest_registry
from deepshield.services.label.labelling import label_media
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.spread.hashing import hash_media
from deepshield.services.verify.verification import verify_media
from factories import encode_image, photo_pixels
from principals import SETUP

PROVIDER = Principal("test:provider", Role.PROVIDER)
REMOVED = "the watermark appears to have been removed from a labelled output"


@pytest.fixture
def labelled(ctx):
    """A labelled output (a photo-like 640×480 PNG): the context, the unlabelled pixels, the result."""
    init_signing_keys(ctx, force=False, principal=SETUP)
    original = photo_pixels(1501, 640, 480)
    result = label_media(ctx, encode_image(original, "PNG"), generator="ImageGen", model="v3",
                         principal=PROVIDER)
    return ctx, original, result


def _crop(pixels: np.ndarray, keep: float, anchor_y: float, anchor_x: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    kept_h, kept_w = round(height * keep), round(width * keep)
    top, left = round((height - kept_h) * anchor_y), round((width - kept_w) * anchor_x)
    return np.ascontiguousarray(pixels[top:top + kept_h, left:left + kept_w])


def _captioned(pixels: np.ndarray) -> np.ndarray:
    """A white band of a fifth of the height above the picture, with a line of black text."""
    band = np.full((pixels.shape[0] // 5, pixels.shape[1], 3), 255, np.uint8)
    image = Image.fromarray(band)
    ImageDraw.Draw(image).text((20, band.shape[0] // 3), "WHEN THE WEEKEND FINALLY ARRIVES", fill=(0, 0, 0),
                               font_size=28)
    return np.concatenate([np.asarray(image), pixels])


def _copies(original: np.ndarray) -> dict[str, bytes]:
    rotated = np.asarray(Image.fromarray(original).rotate(3, resample=Image.Resampling.BICUBIC))
    wider = (round(original.shape[1] * 1.15), original.shape[0])
    stretched = np.asarray(Image.fromarray(original).resize(wider, Image.Resampling.LANCZOS))
    return {
        "mirrored": encode_image(np.ascontiguousarray(original[:, ::-1]), "PNG"),
        "centre 60 %": encode_image(_crop(original, 0.6, 0.5, 0.5), "PNG"),
        "corner 60 %, JPEG 85": encode_image(_crop(original, 0.6, 1.0, 0.0), "JPEG", quality=85),
        "rotated 3°": encode_image(rotated, "PNG"),
        "caption band": encode_image(_captioned(original), "PNG"),
        "aspect +15 %": encode_image(stretched, "PNG"),
    }


def test_copies_without_the_watermark_are_recovered_by_the_fingerprint_in_plain_words(labelled):
    ctx, original, result = labelled
    for name, data in _copies(original).items():
        report = verify_media(ctx, data, principal=None)
        assert report.watermark["checked"] and not report.watermark["found"], name
        assert report.verdict == "recovered", (name, report.reasons)
        assert report.repository["recovered_manifest"]["manifest_id"] == result.manifest_id, name
        assert report.repository["by_fingerprint"][0]["manifest_id"] == result.manifest_id, name
        assert report.made_by["generator"] == "ImageGen" and report.made_by["model"] == "v3"
        assert report.summary == ("AI label recovered from the fingerprint: the file matches a labelled AI "
                                  "output whose watermark appears to have been removed, along with its "
                                  "metadata"), name
        assert any(reason.startswith(REMOVED) for reason in report.reasons), (name, report.reasons)
        assert any("weaker evidence than a watermark" in reason for reason in report.reasons)
        words = " ".join([report.summary, *report.reasons]).lower()
        assert "fake" not in words and " real" not in words and "authentic" not in words


def test_a_blend_and_an_unrelated_photo_are_not_recovered(labelled):
    ctx, original, _ = labelled
    other = photo_pixels(2602, 640, 480)
    half = np.clip(np.rint(0.5 * original.astype(np.float32) + 0.5 * other.astype(np.float32)), 0,
                   255).astype(np.uint8)
    for name, pixels in (("half blend", half), ("unrelated", other), ("unrelated, mirrored", other[:, ::-1]),
                         ("unrelated, centre 60 %", _crop(other, 0.6, 0.5, 0.5))):
        report = verify_media(ctx, encode_image(np.ascontiguousarray(pixels), "PNG"), principal=None)
        assert report.verdict == "unknown", (name, report.reasons)
        assert report.repository["recovered_manifest"] is None, name
        assert not any(reason.startswith(REMOVED) for reason in report.reasons), name
        assert "does not mean the content is authentic" in report.summary


def test_by_content_finds_the_manifest_of_a_mirrored_or_cropped_copy(labelled):
    ctx, original, result = labelled
    mirrored = encode_image(np.ascontiguousarray(original[:, ::-1]), "PNG")
    cropped = encode_image(_crop(original, 0.7, 0.0, 1.0), "JPEG", quality=85)
    for data in (mirrored, cropped):
        plain = hash_media(data, ctx.settings.limits).pdq
        assert plain is not None
        # The copy's own hash alone, as the lookup was before, finds nothing.
        assert manifest_registry.matches_by_binding(ctx, manifest_registry.PDQ_ALG, plain.hex, 10, None) == []
        for alg in (None, manifest_registry.PDQ_ALG):
            found = manifest_registry.matches_by_content(ctx, data, 10, None, alg)
            assert [match.manifest_id for match in found] == [result.manifest_id]
            assert found[0].alg == manifest_registry.PDQ_ALG and found[0].similarity_score > 0
    unrelated = encode_image(photo_pixels(2603, 640, 480), "PNG")
    assert manifest_registry.matches_by_content(ctx, unrelated, 10, None) == []


def test_a_fingerprint_lookup_takes_a_bounded_set_of_hashes(labelled):
    ctx, original, result = labelled
    media = hash_media(encode_image(original[:, ::-1].copy(), "PNG"), ctx.settings.limits,
                       derived_queries=True, region_queries=True)
    queries = manifest_registry.fingerprint_queries(media, ctx.settings.match.pdq_min_quality)
    assert queries[0] == media.pdq.hex and len(set(queries)) == len(queries)
    assert len(queries) <= manifest_registry.MAX_FINGERPRINT_QUERIES
    found = manifest_registry.matches_by_fingerprints(ctx, queries, 5, None)
    assert [match.manifest_id for match in found] == [result.manifest_id]
    with pytest.raises(InvalidRequest, match="at most"):
        manifest_registry.matches_by_fingerprints(
            ctx, [f"{n:064x}" for n in range(manifest_registry.MAX_FINGERPRINT_QUERIES + 1)], 5, None)
    with pytest.raises(InvalidRequest, match="at least one"):
        manifest_registry.matches_by_fingerprints(ctx, [], 5, None)
