"""PDQ, Meta's perceptual image hash, through the ``pdqhash`` binding of the C++ reference.

Hex encoding follows python-threatexchange and HMA: the 256 bits that ``pdqhash``
returns are read most-significant first, so a hash computed here can be compared
directly with hashes from HMA, StopNCII exports and Meta's reference tools.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pdqhash

from deepshield.errors import LowQualityHash
from deepshield.signals.types import SignalType, normalize_hex_signal

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


def pdq_from_pixels(pixels: np.ndarray) -> PdqHash:
    """PDQ hash and quality of an RGB image (H×W×3 uint8)."""
    bits, quality = pdqhash.compute(_as_rgb(pixels))
    return PdqHash(_bits_to_hex(bits), int(quality))


def pdq_dihedral_from_pixels(pixels: np.ndarray) -> list[tuple[str, PdqHash]]:
    """The eight dihedral PDQ hashes (rotations and flips) from one DCT, named by variant.

    The first entry is the plain hash and is identical to ``pdq_from_pixels``.
    """
    hashes, quality = pdqhash.compute_dihedral(_as_rgb(pixels))
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
    "PdqHash",
    "parse_pdq_hex",
    "pdq_dihedral_from_pixels",
    "pdq_distance",
    "pdq_from_pixels",
    "pdq_hex_to_bytes",
    "require_quality",
]
