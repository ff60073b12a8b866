"""A labelled output cropped anywhere, its watermark read: the mark places the crop in the output,
and the label's signed regions that lie inside it confirm the label (``placed_attribution``).
The same mark on other content is still refused."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image

from deepshield.provenance.reading import read_manifest_store
from deepshield.services.access import Principal, Role
from deepshield.services.label import manifest_registry
from deepshield.services.label.labelling import label_media
from deepshield.services.label.watermark_keys import provider_key
from deepshield.services.verify.verification import (
    PLACED_MATCH_MAX_DISTANCE,
    PLACED_MAX_REGIONS,
    placed_attribution,
    verify_media,
)
from deepshield.signals.placed_regions import PLACED_REGION_COUNT, is_placed_region, placed_queries
from deepshield.watermark import PUBLIC_KEY, detect, embed
from factories import crop_at, encode_image, photo_pixels

ACTOR = Principal("test:provider", Role.PROVIDER)


def _labelled(ctx, seed: int, *, public_mark: bool = True) -> tuple[np.ndarray, object]:
    """A labelled output and its pixels. Marked with the public key unless said: a provider's key
    is new in every test, and the mark (a change of about 2 levels) moves the regions' PDQ hashes
    by a few bits; one fixed key keeps the distances below, and so the verdicts, the same."""
    source = encode_image(photo_pixels(seed, 640, 480), "JPEG", quality=92)
    result = label_media(ctx, source, generator="ImageGen", model=None, principal=ACTOR,
                         public_mark=public_mark)
    return np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB")), result


def test_the_label_signs_the_output_size_and_the_placed_regions_without_registering_them(keyed):
    _pixels, result = _labelled(keyed, 31)
    report = verify_media(keyed, result.data, principal=ACTOR)
    manifest = report.manifest
    assert (manifest["labelled_width"], manifest["labelled_height"]) == (640, 480)
    placed = [b for b in manifest["soft_bindings"] if is_placed_region(b.get("region"))]
    assert len(placed) == PLACED_REGION_COUNT == 49
    assert all(abs(b["region"][2] - 0.4) < 0.01 and abs(b["region"][3] - 0.4) < 0.01 for b in placed)
    registered = manifest_registry.get_manifest(keyed, result.manifest_id, principal=None).bindings
    assert len(registered) == len(manifest["soft_bindings"]) - PLACED_REGION_COUNT
    assert not {b["value"] for b in placed} & {value for _, value in registered}


@pytest.mark.parametrize(("keep", "top", "left", "attribution"), [
    (0.7, 0.6, 0.1, "crop"),  # the fingerprint rules meet this one already
    (0.7, 0.35, 0.85, "placed crop"), (0.65, 0.8, 0.3, "placed crop"), (0.62, 0.2, 0.6, "placed crop")])
def test_a_crop_anywhere_whose_mark_is_read_is_recovered_by_its_placed_regions(keyed, keep, top, left,
                                                                               attribution):
    pixels, _result = _labelled(keyed, 36)
    cropped = crop_at(pixels, keep, top, left)
    copy = verify_media(keyed, encode_image(cropped, "PNG"), principal=ACTOR)
    assert copy.verdict == "recovered", copy.reasons
    assert copy.watermark["found"]
    assert copy.consistency["consistent"] is True and copy.consistency["attribution"] == attribution
    if attribution == "placed crop":
        assert any("the watermark places this file in the labelled output as a crop" in reason
                   for reason in copy.reasons)


def test_placed_attribution_measures_where_the_mark_places_the_crop(keyed):
    pixels, result = _labelled(keyed, 36)
    store = manifest_registry.get_manifest(keyed, result.manifest_id, principal=None).manifest_store
    report = read_manifest_store(store, trust_anchors_pem=None)
    cropped = crop_at(pixels, 0.7, 0.4, 0.9)
    detection = detect(cropped, [PUBLIC_KEY], place=True)
    placement = detection.marks[0].placement
    assert placement is not None
    (box,) = placement.boxes_in(480, 640)
    expected = (round((640 - 448) * 0.9) / 640, round((480 - 336) * 0.4) / 480, 0.7, 0.7)
    assert np.allclose(box, expected, atol=0.01)
    view = placed_attribution(report, placement, cropped)
    assert view is not None and view["consistent"] is True and view["attribution"] == "placed crop"
    assert view["placed"]["regions"] >= 2 and view["distance"] <= PLACED_MATCH_MAX_DISTANCE
    # The same place in a different picture: the regions are far.
    other = crop_at(photo_pixels(99, 640, 480), 0.7, 0.4, 0.9)
    far = placed_attribution(report, placement, other)
    assert far is not None and far["consistent"] is None and far["distance"] > 2 * PLACED_MATCH_MAX_DISTANCE


def test_a_cropped_blend_the_mark_places_reads_unknown_not_a_copied_label(keyed):
    """70 % the labelled picture, 30 % another, cropped off-centre: the fingerprint rules call it
    different content, which with a mark read would say "a label copied onto another image". Its
    placed parts are 30 bits from the label's regions: too near for that, too far to attribute."""
    pixels, _ = _labelled(keyed, 36)
    other = photo_pixels(99, 640, 480).astype(np.float32)
    blend = np.clip(np.rint(0.7 * pixels.astype(np.float32) + 0.3 * other), 0, 255).astype(np.uint8)
    copy = verify_media(keyed, encode_image(crop_at(blend, 0.7, 0.35, 0.85), "PNG"), principal=ACTOR)
    assert copy.watermark["found"] and copy.verdict == "unknown"
    consistency = copy.consistency
    assert consistency["attribution"] == "inconclusive"
    assert consistency["without_placement"] == "different content"
    assert PLACED_MATCH_MAX_DISTANCE < consistency["distance"] <= 76
    assert any("too far to attribute" in reason for reason in copy.reasons)


def test_the_mark_copied_onto_other_content_and_cropped_is_still_not_attributed(keyed):
    """The strongest copy attack: the same label's mark, with the provider's key, made on another
    picture (as if the pattern were lifted perfectly), then cropped off-centre."""
    _pixels, result = _labelled(keyed, 34, public_mark=False)
    key = provider_key(keyed, ACTOR)
    forged = embed(photo_pixels(77, 640, 480), int(result.label_id, 16), key=key)
    copy = verify_media(keyed, encode_image(crop_at(forged, 0.7, 0.3, 0.8), "PNG"), principal=ACTOR)
    assert copy.watermark["found"] and copy.watermark["label_id"] == result.label_id
    assert copy.verdict == "invalid"  # its placed parts are far: 116-142 bits on real photos
    assert copy.consistency.get("attribution") == "different content"


def test_a_hostile_manifest_cannot_make_placement_costly(keyed):
    """A manifest is the registrant's: an absurd output size, or thousands of regions, bound the
    work (``PLACED_MAX_REGIONS``, ``PLACED_MAX_BOXES``, the detector's aspect limit)."""
    pixels, result = _labelled(keyed, 36)
    store = manifest_registry.get_manifest(keyed, result.manifest_id, principal=None).manifest_store
    report = read_manifest_store(store, trust_anchors_pem=None)
    cropped = crop_at(pixels, 0.7, 0.35, 0.85)
    placement = detect(cropped, [PUBLIC_KEY], place=True).marks[0].placement
    thin = dataclasses.replace(report, labelled_width=1 << 20, labelled_height=1)
    assert placed_attribution(thin, placement, cropped) is None
    many = dataclasses.replace(report, soft_bindings=[
        {"alg": "org.deepshield.pdq.1", "value": "0" * 64, "region": [0.3, 0.3, 0.4, 0.4]}
        for _ in range(5000)])
    view = placed_attribution(many, placement, cropped)
    assert view is not None and view["placed"]["regions"] == PLACED_MAX_REGIONS
    assert view["consistent"] is None  # zero hashes are nowhere near the file's parts


def test_placed_queries_cut_only_the_regions_inside_the_box():
    pixels = photo_pixels(5, 448, 336)  # a 70 % crop of a 640 × 480 output, at (0.1, 0.2)
    regions = [(0.2, 0.25, 0.4, 0.4), (0.0, 0.0, 0.4, 0.4), (0.45, 0.6, 0.4, 0.4)]
    cuts = placed_queries(pixels, (0.1, 0.2, 0.7, 0.7), (480, 640), regions)
    assert [index for index, _ in cuts] == [0]
    assert placed_queries(pixels, (0.1, 0.2, 0.0, 0.7), (480, 640), regions) == []
