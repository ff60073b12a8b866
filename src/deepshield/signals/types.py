"""The signal types DeepShield stores and matches, and validation of their values."""

from __future__ import annotations

import re
from enum import StrEnum

from deepshield.errors import InvalidSignal


class SignalType(StrEnum):
    PDQ = "pdq"  # Meta's 256-bit perceptual image hash, 64 hex digits
    VPDQ = "vpdq"  # Meta's video hash: PDQ of one frame per second, with timestamps
    MD5 = "md5"  # exact bytes; what StopNCII uses for video
    SHA256 = "sha256"  # exact bytes


_HEX_LENGTHS = {SignalType.PDQ: 64, SignalType.MD5: 32, SignalType.SHA256: 64}
_HEX = re.compile(r"^[0-9a-f]+$")


def parse_signal_type(name: str) -> SignalType:
    """Return the ``SignalType`` called ``name`` (case-insensitive), or raise ``InvalidSignal``."""
    try:
        return SignalType(name.strip().lower())
    except ValueError:
        known = ", ".join(t.value for t in SignalType)
        raise InvalidSignal(f"unknown signal type {name!r}; known types are {known}") from None


def normalize_hex_signal(signal_type: SignalType, value: str) -> str:
    """Validate a hex-encoded signal (pdq, md5, sha256) and return it in lowercase.

    Raises ``InvalidSignal`` naming what is wrong: length, characters or type.
    """
    if signal_type not in _HEX_LENGTHS:
        raise InvalidSignal(f"{signal_type.value} signals are not a single hex value")
    if not isinstance(value, str):
        raise InvalidSignal(f"a {signal_type.value} value must be a string of hex digits")
    text = value.strip().lower()
    expected = _HEX_LENGTHS[signal_type]
    if len(text) != expected:
        raise InvalidSignal(
            f"a {signal_type.value} value has {expected} hex digits; got {len(text)}"
        )
    if not _HEX.match(text):
        raise InvalidSignal(f"a {signal_type.value} value may contain only hex digits 0-9 and a-f")
    return text


def parse_signal_spec(spec: str) -> tuple[SignalType, str]:
    """Parse ``TYPE:VALUE`` (e.g. ``pdq:f8f8…``) as typed on a command line."""
    name, sep, value = spec.partition(":")
    if not sep:
        raise InvalidSignal(f"expected TYPE:VALUE such as pdq:<64 hex digits>; got {spec!r}")
    signal_type = parse_signal_type(name)
    if signal_type is SignalType.VPDQ:
        raise InvalidSignal("vpdq signals come from video files, not from a TYPE:VALUE argument")
    return signal_type, normalize_hex_signal(signal_type, value)
