"""The attacks of bench/label_attack_suite.py (run by bench/label_attacks.py) run, and do what
they say, on small generated images: each family at its weakest and strongest setting, the
geometric steps, and the attacks' parts (oracle subtraction, folding, residual averaging,
overwriting, denoising, resizing) checked one by one against DeepShield's real watermark."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from deepshield.watermark import PUBLIC_KEY, detect, embed, new_key

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import label_attack_suite as las
import watermark_attacks as wa

SIDE = 320  # the working plane's size: fold and working plane coincide


def photo_like(seed: int, side: int = SIDE) -> np.ndarray:
    """Smooth colour gradients, blurred blobs and mild noise: enough texture to carry a mark."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float32)
    base = np.stack([rng.uniform(60, 190) + rng.uniform(-0.2, 0.2) * xs + rng.uniform(-0.2, 0.2) * ys
                     for _ in range(3)], axis=2)
    blobs = cv2.GaussianBlur(rng.normal(0, 60, (side, side, 3)).astype(np.float32), (0, 0), 4)
    return np.clip(np.rint(base + blobs + rng.normal(0, 3, base.shape)), 0, 255).astype(np.uint8)


def reads(image: np.ndarray, key: object, payload: int) -> bool:
    return any(mark.payload == payload for mark in detect(image, keys=[key]).marks)  # type: ignore[list-item]


@pytest.fixture(scope="module")
def labelled() -> tuple[np.ndarray, object, int]:
    key, payload = new_key(), 0x0123_4567_89AB_CDEF
    marked = embed(photo_like(1), payload, key=key)
    assert reads(marked, key, payload)
    return marked, key, payload


def test_every_family_runs_at_its_weakest_and_strongest_setting_and_keeps_the_image(labelled) -> None:
    marked, key, payload = labelled
    estimate = las.average_residuals([embed(photo_like(10 + k), k, key=key) for k in range(4)])
    tools = las.ours_tools(key, payload, estimate)
    for family in las.FAMILIES.values():
        for strength in {family.strengths[0], family.strengths[-1]}:
            attack = family.build(strength, tools)
            assert attack is not None, family.name
            out = attack(marked, np.random.default_rng(0))
            assert out.dtype == np.uint8 and out.shape == marked.shape, (family.name, strength)
            assert family.name == "none" or wa.psnr(marked, out) < 100, f"{family.name} changed nothing"
    # A scheme without a tool (an anchor has no other secret key): that attack does not apply.
    assert las.FAMILIES["overwrite-key"].build(1.0, las.AttackerTools()) is None


def test_the_geometric_steps_mirror_crop_70_percent_and_narrow_the_width() -> None:
    image = photo_like(2)
    rng = np.random.default_rng(0)
    assert np.array_equal(las.POST_STEPS["mirror"][1](image, rng), image[:, ::-1])
    cropped = las.POST_STEPS["crop70"][1](image, rng)
    assert cropped.shape == (224, 224, 3)
    assert las.POST_STEPS["aspect0.9"][1](image, rng).shape == (SIDE, 288, 3)
    base = las.FAMILIES["resize"].build(0.5, las.AttackerTools())
    assert base is not None
    assert las.with_post(base, "mirror")(image, rng).shape == image.shape
    assert las.with_post(base, "") is base


def test_oracle_subtraction_with_the_key_removes_the_mark_and_without_it_does_not(labelled) -> None:
    marked, key, payload = labelled
    tools = las.ours_tools(key, payload)
    with_key = las.oracle_subtraction(tools.remark_with_key, 1.0)(marked, np.random.default_rng(0))
    assert not reads(with_key, key, payload)
    assert wa.psnr(marked, with_key) > 35
    # Without the key: the public key reads nothing, so the attacker subtracts the public-key mark
    # of the label id it knows from the manifest: the wrong pattern, the label stays.
    assert not detect(marked, keys=[PUBLIC_KEY]).found
    without = las.oracle_subtraction(tools.remark_without_key, 1.0)(marked, np.random.default_rng(0))
    assert reads(without, key, payload)
    assert wa.psnr(marked, without) < 60  # it did subtract something
    # Nothing read and nothing known: nothing to subtract.
    unmarked = photo_like(3)
    assert np.array_equal(las.oracle_subtraction(lambda _image: None, 2.0)(unmarked, None), unmarked)


def test_overwrite_marks_another_payload_with_the_public_key_or_the_attackers_key(labelled) -> None:
    marked, key, payload = labelled
    tools = las.ours_tools(key, payload)
    public = las.overwrite(tools.overwrite_public, 1.0)(marked, np.random.default_rng(5))
    found = detect(public, keys=[PUBLIC_KEY])
    assert found.found and found.payload != payload
    other = las.overwrite(tools.overwrite_other_key, 1.0)(marked, np.random.default_rng(5))
    assert detect(other, keys=[las.ATTACKER_KEY]).found
    assert las.ATTACKER_KEY.key_id != key.key_id


def test_fold_estimate_recovers_what_repeats_every_tile_and_fold_subtract_removes_it() -> None:
    rng = np.random.default_rng(4)
    tile = cv2.GaussianBlur(rng.normal(0, 1, (64, 64)).astype(np.float32), (0, 0), 0.7)
    pattern = np.tile(tile, (SIDE // 64, SIDE // 64))
    pattern *= 4 / pattern.std()
    host = np.full((SIDE, SIDE, 3), 128, np.float32)
    image = np.clip(np.rint(host + pattern[:, :, None]), 0, 255).astype(np.uint8)
    estimate = las.fold_estimate(image)
    assert np.corrcoef(estimate.ravel(), pattern.ravel())[0, 1] > 0.9
    cleaned = las.fold_subtract(1.0)(image, None)
    left = las.fold_estimate(cleaned)
    assert left.std() < 0.3 * estimate.std()
    # What does not repeat from tile to tile folds to (almost) nothing.
    noise = np.clip(np.rint(host + rng.normal(0, 4, host.shape)), 0, 255).astype(np.uint8)
    assert las.fold_estimate(noise).std() < 0.25 * estimate.std()


def test_residual_averaging_keeps_what_the_images_share_and_subtracting_it_removes_it() -> None:
    rng = np.random.default_rng(6)
    shared = rng.normal(0, 3, (SIDE, SIDE)).astype(np.float32)
    images = [np.clip(np.rint(photo_like(20 + k).astype(np.float32) + shared[:, :, None]), 0, 255
                      ).astype(np.uint8) for k in range(12)]
    estimate = las.average_residuals(images)
    shared_detail = las.highpass_residual(np.repeat(shared[:, :, None], 3, axis=2) + 128)
    assert np.corrcoef(estimate.ravel(), shared_detail.ravel())[0, 1] > 0.8
    cleaned = las.subtract_estimate(estimate, 1.0)(images[0], None)
    before = np.corrcoef(las.highpass_residual(images[0]).ravel(), shared_detail.ravel())[0, 1]
    after = np.corrcoef(las.highpass_residual(cleaned).ravel(), shared_detail.ravel())[0, 1]
    assert after < before / 2
    with pytest.raises(ValueError, match="one size"):
        las.average_residuals([images[0], photo_like(1, side=288)])


def test_denoisers_remove_noise_and_resizing_removes_fine_detail() -> None:
    clean = photo_like(7)
    rng = np.random.default_rng(7)
    noisy = np.clip(np.rint(clean + rng.normal(0, 8, clean.shape)), 0, 255).astype(np.uint8)
    for attack in (las.non_local_means(10), las.median(3), las.bilateral(50)):
        assert wa.psnr(clean, attack(noisy, rng)) > wa.psnr(clean, noisy) + 1
    speckled = clean.copy()
    speckled[::7, ::5] = 255
    assert wa.psnr(clean, las.median(3)(speckled, rng)) > wa.psnr(clean, speckled) + 10
    out = las.resize_down_up(0.5)(noisy, rng)
    assert out.shape == noisy.shape
    detail = las.highpass_residual
    assert np.abs(detail(out)).mean() < 0.6 * np.abs(detail(noisy)).mean()


def test_scaled_mark_and_the_victims_files() -> None:
    image = np.full((8, 8, 3), 100, np.uint8)
    marked = image + np.uint8(2)
    assert np.array_equal(las.scaled_mark(image, marked, 3.0), np.full((8, 8, 3), 106, np.uint8))
    pixels = photo_like(8, side=64)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(las.png_bytes(pixels)))), pixels)
    assert Image.open(io.BytesIO(las.jpeg_bytes(pixels))).format == "JPEG"
