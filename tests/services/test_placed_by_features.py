"""A labelled output whose watermark was removed, then cropped anywhere: the repository's registered
local features place the crop, and the label's signed regions cut where it lies confirm it
(``verification._placed_by_features``). Other pictures, and collages, are never recovered so."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from deepshield.errors import InvalidRequest
from deepshield.services.access import Principal, Role
from deepshield.services.label import manifest_registry
from deepshield.services.label.labelling import label_media
from deepshield.services.verify.verification import verify_media
from deepshield.signals import keypoints as local_features
from deepshield.store import manifest_repository
from factories import crop_at, encode_image, photo_pixels

ACTOR = Principal("test:provider", Role.PROVIDER)


def _textured(seed: int, width: int = 640, height: int = 480) -> np.ndarray:
    """A photo-like picture with texture (as photos have: the local features and the regions'
    PDQ quality need some), distinct for each seed."""
    import cv2

    noise = np.random.default_rng(seed + 1000).normal(0, 40, (height, width, 1))
    texture = cv2.GaussianBlur(noise, (0, 0), 1.5)[..., None]
    return np.clip(photo_pixels(seed, width, height) + texture, 0, 255).astype(np.uint8)


def _labelled_then_unmarked(ctx, seed: int) -> tuple[np.ndarray, str]:
    """The pixels of a labelled output with its watermark perfectly removed (the source before
    marking, as the label saw it), and the label's manifest id."""
    source = encode_image(_textured(seed), "JPEG", quality=92)
    result = label_media(ctx, source, generator="ImageGen", model=None, principal=ACTOR, public_mark=True)
    return np.asarray(Image.open(io.BytesIO(source)).convert("RGB")), result.manifest_id


def test_labelling_registers_the_outputs_local_features(keyed):
    _pixels, manifest_id = _labelled_then_unmarked(keyed, 51)
    with keyed.store.transaction() as session:
        rows = manifest_repository.keypoints_after(session, 0)
    assert [row[1] for row in rows] == [manifest_id]
    found = local_features.from_bytes(rows[0][2])
    assert local_features.MIN_INLIERS <= len(found) <= local_features.STORED_KEYPOINTS
    assert found.size == (384, 512)


@pytest.mark.parametrize(("keep", "top", "left"), [(0.7, 0.35, 0.85), (0.65, 0.8, 0.3), (0.6, 0.2, 0.6)])
def test_a_crop_anywhere_of_an_output_whose_mark_was_removed_is_recovered(keyed, keep, top, left):
    pixels, manifest_id = _labelled_then_unmarked(keyed, 52)
    copy = verify_media(keyed, encode_image(crop_at(pixels, keep, top, left), "PNG"), principal=None)
    assert copy.verdict == "recovered", copy.reasons
    assert not copy.watermark["found"]
    assert copy.repository["recovered_manifest"]["manifest_id"] == manifest_id
    assert copy.repository["recovered_by"] == "fingerprint"
    consistency = copy.consistency
    assert consistency["attribution"] == "placed crop" and consistency["placed"]["by"] == "local features"
    assert consistency["keypoints"] >= local_features.MIN_INLIERS
    box = consistency["placed"]["box"]
    assert abs(box[2] - keep) < 0.01 and abs(box[3] - keep) < 0.01
    assert abs(box[0] - (1 - keep) * left) < 0.01 and abs(box[1] - (1 - keep) * top) < 0.01
    assert any("the file's local features place this file in the labelled output as a crop" in reason
               for reason in copy.reasons)
    assert any("watermark appears to have been removed" in reason for reason in copy.reasons)


def test_other_pictures_and_collages_are_not_recovered_by_local_features(keyed):
    pixels, _manifest_id = _labelled_then_unmarked(keyed, 53)
    other = _textured(54)
    unrelated = verify_media(keyed, encode_image(crop_at(other, 0.7, 0.4, 0.4), "PNG"), principal=None)
    assert unrelated.verdict == "unknown"
    # A collage: a crop of the labelled picture (its mark removed) beside another picture. The
    # features find the labelled part, but the file reaches beyond the output: not a crop of it.
    part = crop_at(pixels, 0.6, 0.3, 0.7)
    collage = np.concatenate([part, crop_at(other, 0.6, 0.5, 0.5)], axis=1)
    report = verify_media(keyed, encode_image(collage, "PNG"), principal=None)
    assert report.verdict != "recovered", report.reasons
    assert not any("local features" in reason for reason in report.reasons)


def test_a_registration_with_damaged_keypoints_is_refused_whole(keyed):
    _pixels, manifest_id = _labelled_then_unmarked(keyed, 55)
    record = manifest_registry.get_manifest(keyed, manifest_id, principal=None)
    good = local_features.to_bytes(local_features.keypoints(photo_pixels(55)))
    with pytest.raises(InvalidRequest, match="keypoints: a set of"):
        manifest_registry.register_manifest(keyed, manifest_id, record.manifest_store, [],
                                            principal=ACTOR, keypoints=good[:-3])
    # The same store again with a valid set: the first registered set stays.
    manifest_registry.register_manifest(keyed, manifest_id, record.manifest_store, [], principal=ACTOR,
                                        keypoints=good)
    with keyed.store.transaction() as session:
        rows = manifest_repository.keypoints_after(session, 0)
    assert len(rows) == 1 and rows[0][2] != good


def test_revision_0010_goes_down_and_up_again(settings):
    from alembic import command
    from sqlalchemy import inspect

    from deepshield.services.context import ServiceContext
    from deepshield.services.label.signing_keys import init_signing_keys
    from deepshield.store.database import Store, _alembic_config
    from principals import SETUP

    ctx = ServiceContext.open(settings)
    init_signing_keys(ctx, force=False, principal=SETUP)
    _pixels, manifest_id = _labelled_then_unmarked(ctx, 56)
    keyring = ctx.store.hash_keyring
    ctx.close()
    store = Store.open(settings.resolved_database_url, hash_keys=keyring)
    command.downgrade(_alembic_config(store.engine), "0009")
    assert "manifest_keypoints" not in inspect(store.engine).get_table_names()
    store.close()
    again = ServiceContext.open(settings)  # migrates to the head again: the manifests stay, without sets
    try:
        assert manifest_registry.get_manifest(again, manifest_id, principal=None).manifest_id == manifest_id
        with again.store.transaction() as session:
            assert manifest_repository.keypoints_after(session, 0) == []
    finally:
        again.close()


def test_a_mark_added_after_removal_does_not_hide_the_label_its_local_features_place(keyed):
    """The label's mark removed, another (public-key) mark added, then a crop taken anywhere: the
    added mark leads to no label, and the crop is still placed and recovered."""
    from deepshield.watermark import PUBLIC_KEY, embed

    pixels, manifest_id = _labelled_then_unmarked(keyed, 57)
    overwritten = embed(pixels, 0x0123456789ABCDEF, key=PUBLIC_KEY)
    report = verify_media(keyed, encode_image(crop_at(overwritten, 0.65, 0.3, 0.8), "PNG"), principal=None)
    assert report.watermark["found"]
    assert report.verdict == "recovered", report.reasons
    assert report.repository["recovered_manifest"]["manifest_id"] == manifest_id
    assert report.consistency["placed"]["by"] == "local features"
    assert any("no watermark leads to a label, but the file's local features place it" in reason
               for reason in report.reasons)
    assert any("none leads to a registered label of its key: added after labelling, or forged" in reason
               for reason in report.reasons)
