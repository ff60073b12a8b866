"""Issue 15 at the core: keyed marks, no self-revealing pattern, overwriting that does not erase."""

import cv2
import numpy as np
import pytest

from deepshield.watermark import PUBLIC_KEY, SlotsFull, WatermarkKey, detect, embed, key_from_secret, new_key
from deepshield.watermark.analysis import highpass, luma, to_working
from deepshield.watermark.detection import CRC_TRIALS_PER_KEY
from deepshield.watermark.keys import KEY_BYTES, key_id_of
from deepshield.watermark.layout import MODULATION_TILES, SLOTS, TILE_PX, layout_for
from factories import photo_pixels

PAYLOAD = 0x0123456789ABCDEF
OTHER = 0x0FEDCBA987654321


@pytest.fixture(scope="module")
def provider_key() -> WatermarkKey:
    return new_key()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return photo_pixels(41, 768, 512)


@pytest.fixture(scope="module")
def marked(photo, provider_key) -> np.ndarray:
    return embed(photo, PAYLOAD, key=provider_key)


def _fold_and_subtract(image: np.ndarray, strength: float) -> np.ndarray:
    """The attack on a periodic mark: average the image's own high-passed tiles on the working
    plane (the public design says where they are), upscale the average, subtract it."""
    height, width = image.shape[:2]
    working = to_working(luma(image))
    detail = working - cv2.GaussianBlur(working, (0, 0), 2.0)
    rows, cols = -(-detail.shape[0] // TILE_PX), -(-detail.shape[1] // TILE_PX)
    padded = np.full((rows * TILE_PX, cols * TILE_PX), np.nan, np.float32)
    padded[: detail.shape[0], : detail.shape[1]] = detail
    tile = np.nanmean(padded.reshape(rows, TILE_PX, cols, TILE_PX), axis=(0, 2))
    estimate = np.tile(tile, (rows, cols))[: detail.shape[0], : detail.shape[1]]
    full = cv2.resize(estimate, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(image.astype(np.float32) - strength * full[..., None]), 0, 255).astype(np.uint8)


def test_a_new_key_is_random_and_named_by_a_digest_of_its_secret():
    first, second = new_key(), new_key()
    assert first.secret != second.secret and len(first.secret) == KEY_BYTES
    assert first.key_id == key_id_of(first.secret) and len(first.key_id) == 16
    assert first.secret.hex() not in repr(first) and not first.is_public
    assert key_from_secret(first.secret) == first
    assert key_from_secret(PUBLIC_KEY.secret) is PUBLIC_KEY and PUBLIC_KEY.is_public


@pytest.mark.parametrize("key_id, secret, message", [
    ("0123456789abcdef", b"short", "32 bytes"),
    ("not hex", bytes(32), "16 lowercase hex"),
    ("public", bytes(32), "published key only"),
    ("0123456789abcdef", bytes(32), "does not belong"),
])
def test_malformed_keys_are_refused_with_a_reason(key_id, secret, message):
    with pytest.raises(ValueError, match=message):
        WatermarkKey(key_id, secret)


def test_a_mark_reads_with_its_own_key_and_with_no_other(marked, provider_key):
    mine = detect(marked, [provider_key])
    assert mine.found and mine.payload == PAYLOAD and mine.key_id == provider_key.key_id
    assert mine.marks[0].slot == 0
    assert not detect(marked).found  # the public key reads nothing
    assert not detect(marked, [new_key(), new_key()]).found  # nor does anyone else's key
    both = detect(marked, [PUBLIC_KEY, provider_key])
    assert [(m.payload, m.key_id) for m in both.marks] == [(PAYLOAD, provider_key.key_id)]


def test_keys_give_unrelated_layouts(provider_key):
    mine, public = layout_for(provider_key), layout_for(PUBLIC_KEY)
    assert not np.array_equal(mine.pilot_cells, public.pilot_cells)
    agreement = np.mean(mine.modulation == public.modulation)
    assert 0.45 < agreement < 0.55


def test_without_the_key_the_public_code_cannot_reproduce_the_mark(photo, marked, provider_key):
    """Oracle subtraction needs the key: re-embedding the payload with any other key and
    subtracting the difference leaves the provider's mark in place."""
    guess = embed(marked, PAYLOAD)  # the public key: all an attacker without the key has
    difference = guess.astype(np.int16) - marked.astype(np.int16)
    attacked = np.clip(marked.astype(np.int16) - difference, 0, 255).astype(np.uint8)
    assert detect(attacked, [provider_key]).payload == PAYLOAD
    # With the key the same attack does remove it: that is what the secret protects.
    same = embed(marked, PAYLOAD, key=provider_key, slot=0).astype(np.int16) - marked.astype(np.int16)
    stripped = np.clip(marked.astype(np.int16) - same, 0, 255).astype(np.uint8)
    assert not detect(stripped, [provider_key]).found
    assert cv2.PSNR(photo, stripped) > 40


def test_folding_the_tiles_reveals_only_the_sync_pilot_not_the_payload(marked, provider_key):
    """Averaging the tiles cancels the payload (its chips change sign from tile to tile), so
    subtracting the average at any strength removes at most the pilot; the payload is then
    read without it, at the untouched geometry."""
    for strength in (0.5, 1.0, 1.5, 2.0):
        attacked = _fold_and_subtract(marked, strength)
        assert cv2.PSNR(marked, attacked) > 30
        detection = detect(attacked, [provider_key])
        assert detection.payload == PAYLOAD, strength


def test_the_tile_average_of_a_mark_carries_almost_none_of_its_payload(photo, provider_key):
    layout = layout_for(provider_key)
    signs = np.where(np.arange(204) % 3, 1.0, -1.0)
    tiles = layout.tile_cells(0, signs, 5, 9)
    average = tiles.mean(axis=0)
    payload_cells = layout.cell_bit[0] >= 0
    # Per tile every payload chip has magnitude 1; over 45 tiles their average is ~1/sqrt(45).
    assert np.sqrt(np.mean(average[payload_cells] ** 2)) < 0.3
    assert np.allclose(np.abs(average[layout.pilot_cells]), 0)  # no pilot asked for here


def test_a_second_mark_with_the_same_key_goes_into_a_free_slot_and_both_read(marked, provider_key):
    again = embed(marked, OTHER, key=provider_key)
    detection = detect(again, [provider_key])
    assert [(m.payload, m.slot) for m in detection.marks] == [(PAYLOAD, 0), (OTHER, 1)]
    assert cv2.PSNR(marked, again) > 38
    with pytest.raises(SlotsFull, match=f"{SLOTS} marks of this key"):
        embed(again, 0x42, key=provider_key)


def test_overwriting_with_another_key_leaves_the_first_mark_readable(marked, provider_key):
    for other in (PUBLIC_KEY, new_key()):
        overwritten = embed(marked, OTHER, key=other)
        detection = detect(overwritten, [provider_key, other])
        assert {(m.payload, m.key_id) for m in detection.marks} == {
            (PAYLOAD, provider_key.key_id), (OTHER, other.key_id)}
        assert detection.payload == PAYLOAD  # the first key given comes first


def test_aspect_changes_and_deep_crops_are_read(provider_key):
    image = photo_pixels(43, 1280, 720)
    marked = embed(image, PAYLOAD, key=provider_key)
    height, width = marked.shape[:2]
    squeezed = cv2.resize(marked, (round(width * 0.88), height), interpolation=cv2.INTER_AREA)
    stretched = cv2.resize(marked, (width, round(height * 1.12)), interpolation=cv2.INTER_CUBIC)
    crop = marked[100:100 + round(height * 0.6), 200:200 + round(width * 0.6)]
    for attacked in (squeezed, stretched, np.ascontiguousarray(crop)):
        assert detect(attacked, [provider_key]).payload == PAYLOAD


def test_a_crop_starting_mid_grid_finds_its_place_in_the_keyed_tile_grid(marked, provider_key):
    # Cropping whole tiles off the top-left moves the first tile to another place of the keyed
    # modulation grid; the detector finds the shift.
    tile_px = round(TILE_PX * marked.shape[0] / 320)
    shifted = np.ascontiguousarray(marked[3 * tile_px // 2:, 5 * tile_px // 2:])
    assert MODULATION_TILES > 2
    assert detect(shifted, [provider_key]).payload == PAYLOAD


def test_the_false_payload_bound_holds_trial_by_trial(provider_key):
    rng = np.random.default_rng(9)
    images = [photo_pixels(seed, 512, 384) for seed in range(60, 66)]
    images.append(rng.integers(0, 256, (320, 480, 3), dtype=np.uint8))
    for image in images:
        detection = detect(image, [PUBLIC_KEY, provider_key])
        assert not detection.found and detection.marks == ()
        assert detection.crc_trials <= 2 * CRC_TRIALS_PER_KEY
    assert CRC_TRIALS_PER_KEY * 2.0**-32 < 2e-8


def test_reading_needs_at_least_one_key(marked):
    with pytest.raises(ValueError, match="at least one watermark key"):
        detect(marked, [])


def test_a_slot_out_of_range_is_refused(photo):
    with pytest.raises(ValueError, match="a slot is 0 to"):
        embed(photo, PAYLOAD, slot=SLOTS)


def test_the_mark_is_still_quiet(photo, marked):
    assert cv2.PSNR(photo, marked) >= 41.5
    assert highpass(to_working(luma(marked))).shape[0] == 320
