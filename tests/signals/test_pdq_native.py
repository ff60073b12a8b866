"""The native PDQ (``deepshield.signals._pdq_native``) against ``pdqhash`` 0.2.8, bit for bit.

The C extension promises the same hash bits AND quality as ``pdqhash.compute`` and
``pdqhash.compute_dihedral``, and the same 256 float32 DCT coefficients as
``pdqhash.compute_float`` (a stricter check: a coefficient one ulp off fails here even when it
leaves every bit alone). ``PLAN`` below is over 10,000 seeded pixel arrays: every pairing of the
sides where the blur's window, the decimation or the reference's special cases change (5, 6, 63-65,
127-129), flat, gradient, noise, low-contrast, striped, blocky and photo-like content,
511-513 and 1023-1025 sides (square and not, mixed with small ones), sides under 5 (the
all-zero hash), and a bulk of random small sizes. Real photos from the shared data are checked
too, whole and cropped to odd sizes.

Also here: the public functions use the extension in this development install (``make``'s
``pip install -e`` must build it), and fall back to ``pdqhash`` with the same results without it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from deepshield.signals import pdq
from factories import photo_like

try:
    from deepshield.signals import _pdq_native as native
except ImportError:  # reported by test_the_development_install_built_the_extension
    native = None

needs_native = pytest.mark.skipif(native is None, reason="the C extension is not built")

SEED = 17
EDGE_SIDES = (5, 6, 7, 63, 64, 65, 127, 128, 129)
LARGE_SIDES = (511, 512, 513)
HUGE_SIDES = (1023, 1024, 1025)
KINDS = ("flat", "gradient", "noise", "low_contrast", "stripes", "blocks", "photo")
MIN_ARRAYS = 10_000
PARTS = 16  # the plan is split so that pytest-xdist can share it among workers


@dataclass(frozen=True)
class Case:
    height: int
    width: int
    kind: str
    seed: int

    def __str__(self) -> str:
        return f"{self.height}x{self.width} {self.kind} seed={self.seed}"


def _ramp(length: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, length) if length > 1 else np.zeros(1)


def pixels_for(case: Case) -> np.ndarray:
    """The deterministic H×W×3 uint8 array of a case."""
    height, width = case.height, case.width
    rng = np.random.default_rng(case.seed)
    if case.kind == "flat":
        return np.broadcast_to(rng.integers(0, 256, 3, dtype=np.uint8), (height, width, 3)).copy()
    if case.kind == "gradient":
        # A linear ramp in a random direction per channel (horizontal, vertical or diagonal).
        yy, xx = _ramp(height)[:, None], _ramp(width)[None, :]
        image = np.empty((height, width, 3))
        for channel in range(3):
            a, b = rng.uniform(-1, 1, 2)
            image[..., channel] = rng.uniform(0, 255) + 255 * (a * xx + b * yy)
        return np.clip(image, 0, 255).astype(np.uint8)
    if case.kind == "noise":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if case.kind == "low_contrast":
        # Nearly flat: tiny sums, many equal DCT coefficients, ties for the median.
        base = int(rng.integers(2, 254))
        return (base + rng.integers(-2, 3, (height, width, 3))).astype(np.uint8)
    if case.kind == "stripes":
        period = int(rng.integers(1, 9))
        axis = int(rng.integers(0, 2))
        index = np.arange(height if axis == 0 else width) // period % 2
        line = np.where(index[:, None], rng.integers(0, 256, 3), rng.integers(0, 256, 3)).astype(np.uint8)
        return np.ascontiguousarray(
            np.broadcast_to(line[:, None, :] if axis == 0 else line[None, :, :], (height, width, 3))
        )
    if case.kind == "blocks":
        # Random constant blocks: sharp edges at every scale of the box filters.
        cells = rng.integers(0, 256, (int(rng.integers(1, 9)), int(rng.integers(1, 9)), 3), dtype=np.uint8)
        rows = np.arange(height) * cells.shape[0] // height
        cols = np.arange(width) * cells.shape[1] // width
        return np.ascontiguousarray(cells[rows][:, cols])
    if case.kind == "photo":
        return photo_like(height, width, seed=case.seed)
    raise AssertionError(case.kind)


def _plan() -> list[Case]:
    rng = np.random.default_rng(SEED)
    cases: list[Case] = []

    def add(height: int, width: int, kind: str) -> None:
        cases.append(Case(height, width, kind, int(rng.integers(2**31))))

    for height in EDGE_SIDES:  # every pairing of the edge sides, every kind
        for width in EDGE_SIDES:
            for kind in KINDS:
                add(height, width, kind)
    for height in LARGE_SIDES:
        for width in LARGE_SIDES:
            for kind in ("noise", "gradient", "photo"):
                add(height, width, kind)
    for side in LARGE_SIDES:  # mixed with small sides, both ways
        for other in (5, 64, 129):
            add(side, other, "noise")
            add(other, side, "photo")
    for index, (height, width) in enumerate((h, w) for h in HUGE_SIDES for w in HUGE_SIDES):
        add(height, width, ("photo", "noise", "gradient")[index % 3])
    for height, width in ((1024, 5), (5, 1025), (1025, 64), (128, 1023), (1023, 513)):
        add(height, width, "photo")
    for height in (1, 2, 3, 4, 5, 9):  # under 5: the all-zero hash, quality 0
        for width in (1, 2, 3, 4, 5, 9):
            add(height, width, "noise")
    while len(cases) < MIN_ARRAYS + 240:  # the bulk: random small sides, square or not
        pick = rng.random()
        if pick < 0.75:
            height, width = (int(side) for side in rng.integers(5, 97, 2))
        elif pick < 0.95:
            height, width = (int(side) for side in rng.integers(5, 261, 2))
        else:
            height, width = (int(side) for side in rng.integers(1, 12, 2))
        add(height, width, KINDS[int(rng.integers(len(KINDS)))])
    return cases


PLAN = _plan()


def _reference_hash(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


def mismatches(case: Case, pixels: np.ndarray) -> list[str]:
    """What differs between the extension and pdqhash on these pixels (empty: bit-identical)."""
    found = []
    bits, quality = pdqhash.compute(pixels)
    ours, our_quality = native.compute(pixels)
    if ours != _reference_hash(bits) or our_quality != int(quality):
        found.append(f"{case}: compute {ours.hex()}/{our_quality} != {_reference_hash(bits).hex()}/{quality}")
    hashes, quality = pdqhash.compute_dihedral(pixels)
    ours_all, our_quality = native.compute_dihedral(pixels)
    if ours_all != [_reference_hash(h) for h in hashes] or our_quality != int(quality):
        found.append(f"{case}: compute_dihedral differs (quality {our_quality} vs {quality})")
    coefficients, quality = pdqhash.compute_float(pixels)
    ours_float, our_quality = native.compute_float(pixels)
    theirs = np.asarray(coefficients[::-1], dtype=np.float32)  # float64 copies of float32: exact
    if not np.array_equal(np.frombuffer(ours_float, np.float32).view(np.uint32), theirs.view(np.uint32)):
        found.append(f"{case}: compute_float coefficients differ")
    if our_quality != int(quality):
        found.append(f"{case}: compute_float quality {our_quality} != {quality}")
    return found


def test_the_plan_covers_what_the_issue_asks():
    assert len(PLAN) >= MIN_ARRAYS
    sides = {case.height for case in PLAN} | {case.width for case in PLAN}
    assert {5, 63, 64, 65, 127, 128, 129, 511, 512, 513, 1023, 1024, 1025} <= sides
    kinds_by_size = {(case.height, case.width, case.kind) for case in PLAN}
    for height in (63, 64, 65, 127, 128, 129):
        for width in (5, 63, 64, 65, 127, 128, 129):
            assert all((height, width, kind) in kinds_by_size for kind in ("flat", "gradient", "noise"))
    assert sum(case.height > 1000 and case.width > 1000 for case in PLAN) == 9
    assert any(case.height != case.width for case in PLAN if min(case.height, case.width) > 500)


@needs_native
@pytest.mark.parametrize("part", range(PARTS))
def test_native_is_bit_identical_to_pdqhash(part):
    found: list[str] = []
    for case in PLAN[part::PARTS]:
        found.extend(mismatches(case, pixels_for(case)))
    assert not found, f"{len(found)} mismatches, first: {found[:5]}"


def _shared_photos(root: Path) -> list[Path]:
    photos = root / "photos"
    return sorted(photos.glob("kodak/*.png")) + sorted(photos.glob("pdq_threatexchange/bridge-mods/*.jpg"))


@needs_native
def test_native_is_bit_identical_on_real_photos(shared_data):
    paths = _shared_photos(shared_data)
    assert paths, f"no photos under {shared_data / 'photos'}"
    rng = np.random.default_rng(SEED)
    found: list[str] = []
    checked = 0
    for path in paths:
        with Image.open(path) as image:
            full = np.asarray(image.convert("RGB"))
        crops = [full]
        for _ in range(1):  # an odd-sized crop at a random place
            height = int(rng.integers(5, full.shape[0] + 1))
            width = int(rng.integers(5, full.shape[1] + 1))
            top = int(rng.integers(0, full.shape[0] - height + 1))
            left = int(rng.integers(0, full.shape[1] - width + 1))
            crops.append(np.ascontiguousarray(full[top : top + height, left : left + width]))
        for pixels in crops:
            case = Case(pixels.shape[0], pixels.shape[1], path.name, 0)
            found.extend(mismatches(case, pixels))
            checked += 1
    assert checked == 2 * len(paths)
    assert not found, f"{len(found)} mismatches, first: {found[:5]}"


@needs_native
def test_native_is_bit_identical_on_a_decoded_jpeg():
    buffer = io.BytesIO()
    Image.fromarray(photo_like(1080, 1920, seed=3)).save(buffer, "JPEG", quality=85)
    pixels = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    assert mismatches(Case(1080, 1920, "jpeg", 3), pixels) == []


def test_the_development_install_built_the_extension():
    # `make run` / `make test` install with `pip install -e '.[dev]'`, which compiles the extension
    # (setup.py). It is optional so that an install without a compiler still works; but on a
    # development or CI machine, a missing extension means PDQ silently runs several times slower.
    assert native is not None, (
        "deepshield.signals._pdq_native is not built: run `.venv/bin/pip install -e '.[dev]'` and "
        "look for the compiler's error (a C compiler and the Python headers are needed)"
    )
    assert pdq.PDQ_IMPLEMENTATION == "native"


PUBLIC: list[tuple[str, Callable[[np.ndarray], object], Callable[[np.ndarray], object]]] = [
    ("single", pdq.pdq_from_pixels, pdq._pdqhash_from_pixels),
    ("dihedral", pdq.pdq_dihedral_from_pixels, pdq._pdqhash_dihedral_from_pixels),
]


@pytest.mark.parametrize(("name", "public", "fallback"), PUBLIC, ids=[row[0] for row in PUBLIC])
def test_public_functions_match_the_pdqhash_path(name, public, fallback):
    for case in PLAN[:: len(PLAN) // 60]:
        pixels = pixels_for(case)
        assert public(pixels) == fallback(pixels), case


@pytest.mark.parametrize(("name", "public", "fallback"), PUBLIC, ids=[row[0] for row in PUBLIC])
def test_without_the_extension_pdqhash_hashes(monkeypatch, name, public, fallback):
    pixels = photo_like(200, 300, seed=5)
    expected = public(pixels)
    calls = []
    real = pdqhash.compute_dihedral if name == "dihedral" else pdqhash.compute
    spy_name = "compute_dihedral" if name == "dihedral" else "compute"
    monkeypatch.setattr(pdq, "_pdq_native", None)
    monkeypatch.setattr(pdq.pdqhash, spy_name, lambda rgb: calls.append(rgb.shape) or real(rgb))
    assert public(pixels) == expected
    assert calls == [(200, 300, 3)]


def test_non_contiguous_and_read_only_pixels_hash_as_their_copy():
    pixels = photo_like(130, 170, seed=8)
    view = pixels[::-1, ::2]  # negative and doubled strides
    assert pdq.pdq_from_pixels(view) == pdq._pdqhash_from_pixels(np.ascontiguousarray(view))
    frozen = pixels.copy()
    frozen.flags.writeable = False
    assert pdq.pdq_dihedral_from_pixels(frozen) == pdq._pdqhash_dihedral_from_pixels(pixels)


@pytest.mark.parametrize("shape", [(0, 5, 3), (5, 0, 3)])
def test_an_empty_image_fails_as_it_always_has(shape):
    # pdqhash raises IndexError on an empty array; the public functions keep doing so.
    with pytest.raises(IndexError):
        pdq.pdq_from_pixels(np.zeros(shape, np.uint8))
    with pytest.raises(IndexError):
        pdq.pdq_dihedral_from_pixels(np.zeros(shape, np.uint8))


@needs_native
@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((8, 8), np.uint8),
        np.zeros((8, 8, 4), np.uint8),
        np.zeros((8, 8, 3), np.float32),
        np.zeros((8, 8, 3), np.uint16),
        np.zeros((0, 8, 3), np.uint8),
        np.zeros((8, 8, 3), np.uint8)[:, ::2],  # not C-contiguous
        b"\0" * 192,
    ],
    ids=["2d", "rgba", "float32", "uint16", "empty", "strided", "bytes"],
)
def test_the_extension_refuses_what_is_not_a_contiguous_rgb_array(bad):
    for function in (native.compute, native.compute_dihedral, native.compute_float):
        with pytest.raises((ValueError, BufferError)):
            function(bad)
