"""PDQ, Meta's perceptual image hash, bit-identical to the ``pdqhash`` binding of the C++ reference.

Hashing runs in ``deepshield.signals._pdq_native`` when that C extension was built at install
(setup.py; it is optional): the same float operations as ``pdqhash`` 0.2.8 in the same order per
value, streamed and vectorised, several times faster. Where it is missing (no compiler at install)
``pdqhash`` itself hashes. Either way callers get the same hash and quality, bit for bit
(tests/signals/test_pdq_native.py compares them on over 10,000 pixel arrays);
``PDQ_IMPLEMENTATION`` says which one is in use.

Hex encoding follows python-threatexchange and HMA: the 256 bits that ``pdqhash``
returns are read most-significant first, so a hash computed here can be compared
directly with hashes from HMA, StopNCII exports and Meta's reference tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pdqhash

from deepshield.errors import LowQualityHash
from deepshield.signals.types import SignalType, normalize_hex_signal

try:
    from deepshield.signals import _pdq_native
except ImportError:  # installed without a C compiler: setup.py makes the extension optional
    _pdq_native = None

#: The engine behind ``pdq_from_pixels`` and ``pdq_dihedral_from_pixels``: ``"native"`` (the C
#: extension) or ``"pdqhash"`` (the fallback). Both give identical hashes and qualities.
PDQ_IMPLEMENTATION: Literal["native", "pdqhash"] = "native" if _pdq_native is not None else "pdqhash"

PDQ_BITS = 256
#: Names of the eight dihedral variants, in the order the C++ reference returns them.
DIHEDRAL_VARIANTS = (
    "original",
    "rotate90",
    "rotate180",
    "rotate270",
    "flip_x",
    "flip_y",
    "flip_plus1",
    "flip_minus1",
)


@dataclass(frozen=True)
class PdqHash:
    hex: str  # 64 lowercase hex digits
    quality: int  # 0-100; below ~50 the hash carries too little structure to match safely


def _bits_to_hex(bits: np.ndarray) -> str:
    packed = np.packbits(np.asarray(bits, dtype=np.uint8))
    return packed.tobytes().hex()


def _as_rgb(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("PDQ takes an H×W×3 uint8 RGB array")
    return np.ascontiguousarray(pixels)


def _native_takes(rgb: np.ndarray) -> bool:
    # An empty image goes to pdqhash, so that it fails exactly as it always has (IndexError).
    return _pdq_native is not None and rgb.shape[0] > 0 and rgb.shape[1] > 0


def pdq_from_pixels(pixels: np.ndarray) -> PdqHash:
    """PDQ hash and quality of an RGB image (H×W×3 uint8; any strides).

    Bit-identical to ``pdqhash.compute`` (hash and quality), whichever engine runs. An image with
    a side under 5 pixels gets the all-zero hash and quality 0, as in the reference.
    """
    rgb = _as_rgb(pixels)
    if _native_takes(rgb):
        digest, quality = _pdq_native.compute(rgb)
        return PdqHash(digest.hex(), quality)
    return _pdqhash_from_pixels(rgb)


def pdq_dihedral_from_pixels(pixels: np.ndarray) -> list[tuple[str, PdqHash]]:
    """The eight dihedral PDQ hashes (rotations and flips) from one DCT, named by variant.

    Bit-identical to ``pdqhash.compute_dihedral``, in ``DIHEDRAL_VARIANTS`` order, all with the
    image's quality. The first entry is the plain hash and equals ``pdq_from_pixels`` (for an
    image of exactly 64×64 the reference's single hash skips the blur that its dihedral hashes
    apply, so there the two could in principle differ by rounding; each matches its reference).
    """
    rgb = _as_rgb(pixels)
    if _native_takes(rgb):
        digests, quality = _pdq_native.compute_dihedral(rgb)
        return [
            (name, PdqHash(digest.hex(), quality))
            for name, digest in zip(DIHEDRAL_VARIANTS, digests, strict=True)
        ]
    return _pdqhash_dihedral_from_pixels(rgb)


def _pdqhash_from_pixels(rgb: np.ndarray) -> PdqHash:
    """``pdq_from_pixels`` through ``pdqhash``: the fallback, and the reference in the tests."""
    bits, quality = pdqhash.compute(rgb)
    return PdqHash(_bits_to_hex(bits), int(quality))


def _pdqhash_dihedral_from_pixels(rgb: np.ndarray) -> list[tuple[str, PdqHash]]:
    """``pdq_dihedral_from_pixels`` through ``pdqhash``: the fallback, and the tests' reference."""
    hashes, quality = pdqhash.compute_dihedral(rgb)
    return [
        (name, PdqHash(_bits_to_hex(bits), int(quality)))
        for name, bits in zip(DIHEDRAL_VARIANTS, hashes, strict=True)
    ]


def parse_pdq_hex(value: str) -> str:
    """Validate a PDQ hash in hex and return it lowercased; raise ``InvalidSignal`` otherwise."""
    return normalize_hex_signal(SignalType.PDQ, value)


def pdq_hex_to_bytes(value: str) -> bytes:
    """The 32 raw bytes of a hex PDQ hash, as the binary index stores them."""
    return bytes.fromhex(parse_pdq_hex(value))


def pdq_distance(left_hex: str, right_hex: str) -> int:
    """Hamming distance between two hex PDQ hashes (0-256)."""
    left = int.from_bytes(pdq_hex_to_bytes(left_hex), "big")
    right = int.from_bytes(pdq_hex_to_bytes(right_hex), "big")
    return (left ^ right).bit_count()


def require_quality(quality: int | None, min_quality: int, subject: str = "the PDQ hash") -> None:
    """Raise ``LowQualityHash`` when ``quality`` is known and below ``min_quality``.

    Such a hash comes from a flat or featureless image and would match unrelated images.
    """
    if quality is not None and quality < min_quality:
        raise LowQualityHash(
            f"{subject} has PDQ quality {quality}, below the minimum of {min_quality}: "
            "the image is too flat or featureless to match reliably"
        )


__all__ = [
    "DIHEDRAL_VARIANTS",
    "PDQ_BITS",
    "PDQ_IMPLEMENTATION",
    "PdqHash",
    "parse_pdq_hex",
    "pdq_dihedral_from_pixels",
    "pdq_distance",
    "pdq_from_pixels",
    "pdq_hex_to_bytes",
    "require_quality",
]
