"""Identify a media type from its first bytes. File names and extensions are never trusted."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from enum import StrEnum

from deepshield.media.errors import EmptyMedia, UnsupportedMedia


class MediaKind(StrEnum):
    IMAGE = "image"
    VIDEO = "video"


@dataclass(frozen=True)
class MediaType:
    kind: MediaKind
    name: str  # short format name: jpeg, png, webp, gif, bmp, tiff, heif, mp4, mov, webm, mkv
    mime: str


JPEG = MediaType(MediaKind.IMAGE, "jpeg", "image/jpeg")
PNG = MediaType(MediaKind.IMAGE, "png", "image/png")
WEBP = MediaType(MediaKind.IMAGE, "webp", "image/webp")
GIF = MediaType(MediaKind.IMAGE, "gif", "image/gif")
BMP = MediaType(MediaKind.IMAGE, "bmp", "image/bmp")
TIFF = MediaType(MediaKind.IMAGE, "tiff", "image/tiff")
HEIF = MediaType(MediaKind.IMAGE, "heif", "image/heif")
MP4 = MediaType(MediaKind.VIDEO, "mp4", "video/mp4")
MOV = MediaType(MediaKind.VIDEO, "mov", "video/quicktime")
WEBM = MediaType(MediaKind.VIDEO, "webm", "video/webm")
MKV = MediaType(MediaKind.VIDEO, "mkv", "video/x-matroska")

SUPPORTED = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF images and MP4, MOV, WebM, MKV videos"

_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                b"msf1", b"avif", b"avis"}
_QUICKTIME_BRANDS = {b"qt  "}
# Recognisable non-media content, so the refusal can say what the file looks like.
_KNOWN_OTHERS = [
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "an executable program"),
    (b"MZ", "a Windows executable"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg audio or video file"),
    (b"fLaC", "a FLAC audio file"),
]
# Markup, recognised after a byte-order mark and leading white space, in any letter case.
_KNOWN_MARKUP = [
    (b"<?xml", "an XML document (SVG is not accepted)"),
    (b"<svg", "an SVG drawing (vector images are not accepted)"),
    (b"<!doctype svg", "an SVG drawing (vector images are not accepted)"),
    (b"<!doctype html", "an HTML document"),
    (b"<html", "an HTML document"),
]
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def sniff_media_type(head: bytes) -> MediaType:
    """Return the media type that ``head`` (the first bytes, 64 are enough) starts with.

    Raises ``EmptyMedia`` for no bytes and ``UnsupportedMedia`` for anything that is
    not a supported image or video container.
    """
    if not head:
        raise EmptyMedia("the file is empty (0 bytes)")
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:2] == b"BM" and len(head) >= 14:
        return BMP
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return WEBM if b"webm" in head[:64] else MKV
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _HEIF_BRANDS:
            return HEIF
        if brand in _QUICKTIME_BRANDS:
            return MOV
        return MP4
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"):
        return MOV
    for magic, description in _KNOWN_OTHERS:
        if head.startswith(magic):
            raise UnsupportedMedia(f"the content is {description}; supported are {SUPPORTED}")
    text = head.removeprefix(_UTF8_BOM).lstrip(b" \t\r\n").lower()
    for magic, description in _KNOWN_MARKUP:
        if text.startswith(magic):
            raise UnsupportedMedia(f"the content is {description}; supported are {SUPPORTED}")
    if _looks_like_text(head):
        raise UnsupportedMedia(f"the content is text, not media; supported are {SUPPORTED}")
    raise UnsupportedMedia(f"the content is not a recognised image or video; supported are {SUPPORTED}")


def _looks_like_text(head: bytes) -> bool:
    if head.startswith(_UTF16_BOMS):
        head, encoding = head[2:len(head) - len(head) % 2], "utf-16-le" if head[0] == 0xFF else "utf-16-be"
    else:
        head, encoding = head.removeprefix(_UTF8_BOM), "utf-8"
    try:  # not final: a multi-byte character cut at the end of the head is still text
        decoded = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
