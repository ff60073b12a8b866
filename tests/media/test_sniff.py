"""sniff_media_type names the format from the first bytes alone."""

from __future__ import annotations

import pytest

from deepshield.media import EmptyMedia, MediaKind, UnsupportedMedia, sniff_media_type
from factories import encode_image, encode_synthetic_video


@pytest.mark.parametrize(
    ("image_format", "options", "expected"),
    [
        ("JPEG", {}, "jpeg"),
        ("PNG", {}, "png"),
        ("WEBP", {"lossless": True}, "webp"),
        ("GIF", {}, "gif"),
        ("BMP", {}, "bmp"),
        ("TIFF", {}, "tiff"),
    ],
)
def test_sniff_names_each_image_format_from_its_content(photo, image_format, options, expected):
    data = encode_image(photo, image_format, **options)
    media_type = sniff_media_type(data[:64])
    assert media_type.kind is MediaKind.IMAGE
    assert media_type.name == expected
    assert media_type.mime.startswith("image/")


@pytest.mark.parametrize(
    ("container_format", "codec", "expected"),
    [
        ("mp4", "libx264", "mp4"),
        ("mov", "libx264", "mov"),
        ("webm", "libvpx-vp9", "webm"),
        ("matroska", "libx264", "mkv"),
    ],
)
def test_sniff_names_each_video_container_from_its_content(container_format, codec, expected):
    data = encode_synthetic_video(container_format, codec, frame_count=5)
    media_type = sniff_media_type(data[:64])
    assert media_type.kind is MediaKind.VIDEO
    assert media_type.name == expected
    assert media_type.mime.startswith("video/")


def test_sniff_reads_heif_and_quicktime_brands_of_an_iso_media_file():
    assert sniff_media_type(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic").name == "heif"
    assert sniff_media_type(b"\x00\x00\x00\x18ftypavif\x00\x00\x00\x00mif1avif").name == "heif"
    assert sniff_media_type(b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00").name == "mov"
    assert sniff_media_type(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00").name == "mp4"
    # Old QuickTime files start straight with a movie or media atom, without ftyp.
    assert sniff_media_type(b"\x00\x00\x01\x00moov" + b"\x00" * 16).name == "mov"
    assert sniff_media_type(b"\x00\x00\x01\x00mdat" + b"\x00" * 16).name == "mov"


def test_sniff_refuses_no_bytes_as_empty():
    with pytest.raises(EmptyMedia, match="empty"):
        sniff_media_type(b"")


@pytest.mark.parametrize(
    ("head", "says"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP archive"),
        (b"\x7fELF\x02\x01\x01\x00", "executable program"),
        (b"MZ\x90\x00\x03\x00", "Windows executable"),
        (b"\x1f\x8b\x08\x00", "gzip archive"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", "SVG"),
        (b"ID3\x04\x00\x00\x00", "MP3"),
        (b"Just some words.\nAnother line.\n", "text"),
        (b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'>", "SVG"),
        (b"\n\n   <svg xmlns='http://www.w3.org/2000/svg'>", "SVG"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><!DOCTYPE lolz [", "XML"),
        (b"<!DOCTYPE html><html><body>", "HTML"),
        (b"  <HTML><head>", "HTML"),
        ("plain text, in UTF-16".encode("utf-16"), "text"),
        (("Grüße, café " * 8).encode()[:63], "text"),  # a character cut at the end of the head
        (b"\x00\x01\x02\x03\xfe\xfd\xfc\xfb" * 4, "not a recognised image or video"),
    ],
)
def test_sniff_refuses_non_media_and_says_what_it_looks_like(head, says):
    with pytest.raises(UnsupportedMedia) as caught:
        sniff_media_type(head)
    assert says in caught.value.detail
    assert caught.value.code == "unsupported_media"
    # The refusal lists what would have been accepted.
    assert "JPEG" in caught.value.detail
    assert "MP4" in caught.value.detail
