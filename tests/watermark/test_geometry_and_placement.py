"""Finding the tile geometry where the autocorrelation has little to go on (aspect changes of a
square image), and saying where a read crop lies in the marked image (``Mark.placement``)."""

import cv2
import numpy as np
import pytest

from deepshield.watermark import Placement, detect, embed, key_from_secret
from deepshield.watermark.detection import PLACEMENT_PERIOD, _resized_aspect, analysis_plane
from deepshield.watermark.layout import TILE_PX
from factories import photo_pixels

KEY = key_from_secret(bytes(range(32)))
PAYLOAD = 0x5EEDFACE12345678


@pytest.fixture(scope="module")
def marked() -> np.ndarray:
    return embed(photo_pixels(23, 512, 512), PAYLOAD, key=KEY)


def test_a_stretched_square_image_is_read(marked):
    """A square image has 25 tiles for the autocorrelation; the aspect searches (the best
    candidates' own axes, the axes' strongest periods paired, the aspect sharpened widely) find
    the stretched lattice."""
    for size in ((461, 512), (512, 589), (435, 512)):  # width × 0.9, height × 1.15, width × 0.85
        stretched = cv2.resize(marked, size, interpolation=cv2.INTER_LANCZOS4)
        assert detect(stretched, [KEY]).payload == PAYLOAD, size
    unmarked = cv2.resize(photo_pixels(24, 512, 512), (461, 512), interpolation=cv2.INTER_LANCZOS4)
    assert not detect(unmarked, [KEY]).found


@pytest.mark.parametrize(("size", "aspect"), [((461, 512), 512 / 461), ((589, 512), 512 / 589),
                                              ((512, 589), 589 / 512)])
def test_a_resized_image_keeps_its_short_sides_period_and_the_scan_finds_the_other(marked, size, aspect):
    stretched = cv2.resize(marked, size, interpolation=cv2.INTER_LANCZOS4)
    (found,) = _resized_aspect(analysis_plane(stretched), KEY)
    assert found.aspect == pytest.approx(aspect, rel=0.006) and found.angle == 0.0
    assert min(found.period, found.period_y) == TILE_PX
    unmarked = cv2.resize(photo_pixels(24, 512, 512), size, interpolation=cv2.INTER_LANCZOS4)
    assert _resized_aspect(analysis_plane(unmarked), KEY) == []


@pytest.mark.parametrize(("top", "left"), [(0, 0), (100, 40), (153, 150)])
def test_a_crop_is_placed_where_it_was_cut_to_a_pixel_of_the_working_image(marked, top, left):
    cropped = np.ascontiguousarray(marked[top:top + 358, left:left + 358])  # 70 % of each side
    (mark,) = detect(cropped, [KEY], place=True).marks
    assert mark.payload == PAYLOAD and mark.placement is not None
    assert detect(cropped, [KEY]).marks[0].placement is None  # not worked out unless asked
    (box,) = mark.placement.boxes_in(512, 512)
    assert np.allclose(box, (left / 512, top / 512, 0.7, 0.7), atol=2 / 320)


def test_placement_boxes_resolve_the_period_and_refuse_what_cannot_fit():
    near_zero = Placement(PLACEMENT_PERIOD - 0.8, 10.0, 224.0, 224.0, 0.0)  # just above the top
    assert near_zero.boxes_in(512, 512) == [(10.0 / 320, 0.0, 0.7, 0.7)]
    wide = Placement(0.0, 100.0, 320.0, 200.0, 0.0)  # a 3:1 output: two places modulo the period
    assert [round(box[0] * 960) for box in wide.boxes_in(512, 1536)] == [100, 100 + PLACEMENT_PERIOD]
    assert Placement(0.0, 0.0, 400.0, 200.0, 0.0).boxes_in(512, 512) == []  # taller than the output
    assert Placement(0.0, 0.0, 200.0, 200.0, 2.0).boxes_in(512, 512) == []  # read rotated
