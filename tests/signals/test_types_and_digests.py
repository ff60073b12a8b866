"""Signal types and exact-bytes digests: validation and encoding of hex values."""

from __future__ import annotations

import hashlib

import pytest

from deepshield.errors import InvalidSignal
from deepshield.signals.digests import md5_hex, sha256_hex
from deepshield.signals.types import (
    SignalType,
    normalize_hex_signal,
    parse_signal_spec,
    parse_signal_type,
)
from factories import encode_synthetic_video

SAMPLES = [b"", b"a", b"\x00" * 1000, bytes(range(256)) * 37]


@pytest.mark.parametrize("data", SAMPLES, ids=["empty", "one-byte", "zeros", "all-bytes"])
def test_md5_and_sha256_equal_hashlib_in_lowercase_hex(data):
    assert md5_hex(data) == hashlib.md5(data).hexdigest()
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
    assert len(md5_hex(data)) == 32
    assert len(sha256_hex(data)) == 64
    assert md5_hex(data) == md5_hex(data).lower()


def test_md5_of_a_video_is_of_its_exact_bytes():
    video = encode_synthetic_video("mp4", "libx264", frame_count=5)
    changed = video[:-1] + bytes([video[-1] ^ 1])
    assert md5_hex(video) == hashlib.md5(video).hexdigest()
    assert md5_hex(video) != md5_hex(changed)


def test_known_digest_values():
    assert md5_hex(b"") == "d41d8cd98f00b204e9800998ecf8427e"
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("signal_type", "length"), [(SignalType.PDQ, 64), (SignalType.MD5, 32), (SignalType.SHA256, 64)]
)
def test_normalize_lowercases_and_strips_a_valid_value(signal_type, length):
    assert normalize_hex_signal(signal_type, "  " + "AbC1" * (length // 4) + "\n") == "abc1" * (length // 4)


@pytest.mark.parametrize(
    ("signal_type", "length"), [(SignalType.PDQ, 64), (SignalType.MD5, 32), (SignalType.SHA256, 64)]
)
@pytest.mark.parametrize("delta", [-1, 1, -2])
def test_normalize_refuses_the_wrong_length_and_says_both_lengths(signal_type, length, delta):
    with pytest.raises(InvalidSignal) as caught:
        normalize_hex_signal(signal_type, "a" * (length + delta))
    assert f"{length} hex digits" in caught.value.detail
    assert f"got {length + delta}" in caught.value.detail
    assert signal_type.value in caught.value.detail


@pytest.mark.parametrize("bad_char", ["g", "z", " ", "-", "é", "0x"])
def test_normalize_refuses_non_hex_characters(bad_char):
    value = "0" * 30 + bad_char + "0" * (34 - len(bad_char))
    assert len(value) == 64
    with pytest.raises(InvalidSignal, match="only hex digits"):
        normalize_hex_signal(SignalType.PDQ, value)


def test_normalize_refuses_a_value_that_is_not_a_string():
    with pytest.raises(InvalidSignal, match="string"):
        normalize_hex_signal(SignalType.MD5, 0x1234)  # type: ignore[arg-type]


def test_normalize_refuses_vpdq_which_is_not_a_single_hex_value():
    with pytest.raises(InvalidSignal, match="vpdq"):
        normalize_hex_signal(SignalType.VPDQ, "0" * 64)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("pdq", "pdq"), (" PDQ ", "pdq"), ("Md5", "md5"), ("SHA256", "sha256"), ("vpdq", "vpdq")],
)
def test_parse_signal_type_is_case_insensitive(name, expected):
    assert parse_signal_type(name) is SignalType(expected)


def test_parse_signal_type_refuses_unknown_names_and_lists_the_known_ones():
    with pytest.raises(InvalidSignal) as caught:
        parse_signal_type("photodna")
    assert "'photodna'" in caught.value.detail
    for known in ("pdq", "vpdq", "md5", "sha256"):
        assert known in caught.value.detail


def test_parse_signal_spec_reads_type_and_value():
    pdq_value = "F8F8F0CCE0F4E84D0E370A22028F67F0B36E2ED596623E1D33E6339C4E9C9B22"
    assert parse_signal_spec(f"pdq:{pdq_value}") == (SignalType.PDQ, pdq_value.lower())
    assert parse_signal_spec("MD5:" + "d41d8cd98f00b204e9800998ecf8427e") == (
        SignalType.MD5,
        "d41d8cd98f00b204e9800998ecf8427e",
    )


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22", "TYPE:VALUE"),
        ("", "TYPE:VALUE"),
        ("sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709", "unknown signal type"),
        ("vpdq:0,100," + "0" * 64 + ",0.000", "video files"),
        ("pdq:abc", "64 hex digits; got 3"),
        ("md5:" + "x" * 32, "only hex digits"),
        ("pdq:", "got 0"),
    ],
)
def test_parse_signal_spec_refuses_malformed_specs_saying_why(spec, says):
    with pytest.raises(InvalidSignal) as caught:
        parse_signal_spec(spec)
    assert says in caught.value.detail
    assert caught.value.code == "invalid_signal"
