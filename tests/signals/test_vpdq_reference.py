"""Compatibility with Meta's reference vPDQ (the ``vpdq`` package: C++ with FFmpeg).

``vpdq`` has no wheel; it builds from source where FFmpeg's development libraries are
installed (Debian: ``apt-get install pkg-config libavcodec-dev libavformat-dev
libavdevice-dev libavutil-dev libswscale-dev libswresample-dev libavfilter-dev`` then
``pip install vpdq``). Without it these tests skip; on CI (``DEEPSHIELD_REQUIRE_REFERENCE=1``,
set by ``.ci/run``, which builds the package) they fail instead (tests/essentials.py).

What must agree, on the same file: which frames are hashed (the reference keeps decoded
frame ``n`` when ``n % int(seconds_per_hash * avg_frame_rate) == 0``), their timestamps
(``float32(n) / float32(fps)``), their PDQ qualities, and their hashes. Both sides
convert the decoded YUV frame to RGB24 with swscale at the same size and hash it with the
same C++ PDQ code, so the hashes are expected to be identical; the tolerance below only
allows for a different swscale interpolation flag (the reference uses SWS_AREA, PyAV its
default), which can move chroma by a level and flip a few bits on some inputs.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from deepshield.signals.pdq import pdq_distance
from deepshield.signals.vpdq import VpdqFeature, parse_vpdq, serialize_vpdq, vpdq_from_video
from essentials import essential_missing, optional_import
from factories import encode_synthetic_video

vpdq = optional_import("vpdq")


@pytest.fixture(autouse=True)
def _reference_vpdq() -> None:
    if vpdq is None:
        essential_missing("Meta's reference vpdq package is not installed "
                          "(it builds only with FFmpeg dev libraries)")

HASH_TOLERANCE = 8  # bits; measured 0 on every video below


def _reference(path) -> list:
    return sorted(vpdq.computeHash(str(path), seconds_per_hash=1.0), key=lambda f: f.frame_number)


VIDEOS = [
    pytest.param("mp4", "libx264", 25, 100, 128, 96, id="mp4-h264-25fps"),
    pytest.param("mp4", "mpeg4", 25, 75, 128, 96, id="mp4-mpeg4-25fps"),
    pytest.param("mov", "libx264", 10, 40, 160, 120, id="mov-h264-10fps"),
    pytest.param("matroska", "libx264", 12, 50, 96, 64, id="mkv-h264-12fps"),
    pytest.param("webm", "libvpx-vp9", 25, 60, 128, 96, id="webm-vp9-25fps"),
    pytest.param("mp4", "libx264", Fraction(30000, 1001), 100, 128, 96, id="mp4-h264-29.97fps"),
    pytest.param("mp4", "libx264", Fraction(24000, 1001), 100, 128, 96, id="mp4-h264-23.976fps"),
]


@pytest.mark.parametrize(("container_format", "codec", "fps", "frames", "width", "height"), VIDEOS)
def test_our_vpdq_equals_the_reference_on_the_same_file(
    tmp_path, limits, container_format, codec, fps, frames, width, height
):
    data = encode_synthetic_video(
        container_format, codec, width=width, height=height, fps=fps, frame_count=frames
    )
    path = tmp_path / f"clip.{container_format}"
    path.write_bytes(data)

    reference = _reference(path)
    ours = vpdq_from_video(data, limits)

    assert reference, "the reference hashed no frames"
    assert [f.frame_number for f in ours] == [f.frame_number for f in reference]
    assert [f.quality for f in ours] == [f.quality for f in reference]
    assert [f.timestamp for f in ours] == pytest.approx([f.timestamp for f in reference], abs=1e-6)
    distances = [pdq_distance(mine.pdq_hex, theirs.hex) for mine, theirs in zip(ours, reference, strict=True)]
    assert max(distances) <= HASH_TOLERANCE, distances


def test_reference_hex_is_our_pdq_hex_encoding(tmp_path, limits):
    data = encode_synthetic_video("mp4", "libx264", width=128, height=96, fps=25, frame_count=50)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    for theirs in _reference(path):
        assert len(theirs.hex) == 64
        assert theirs.hex == theirs.hex.lower()
        assert vpdq.hash_to_hex(vpdq.str_to_hash(theirs.hex)) == theirs.hex


def test_reference_features_read_back_through_our_text_form(tmp_path):
    """The C++ tool writes ``frame,quality,hex,timestamp`` with 3 decimals; we read that."""
    data = encode_synthetic_video(
        "mp4", "libx264", width=128, height=96, fps=Fraction(30000, 1001), frame_count=90
    )
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    reference = _reference(path)
    cpp_text = "\n".join(f"{f.frame_number},{f.quality},{f.hex},{f.timestamp:.3f}" for f in reference)
    parsed = parse_vpdq(cpp_text)
    assert [(f.frame_number, f.quality, f.pdq_hex) for f in parsed] == [
        (f.frame_number, f.quality, f.hex) for f in reference
    ]
    assert serialize_vpdq(parsed) == cpp_text
    assert all(isinstance(f, VpdqFeature) for f in parsed)
