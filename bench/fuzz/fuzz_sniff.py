"""Fuzz media sniffing: ``deepshield.media.sniff.sniff_media_type`` on any first bytes."""

from __future__ import annotations

from _common import instrumented

with instrumented():
    from deepshield.media.sniff import sniff_media_type

from _common import main


def target(data: bytes) -> None:
    media_type = sniff_media_type(data[:64])
    assert media_type.name and media_type.kind


def seeds() -> list[bytes]:
    return [b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\0\0\0\0WEBPVP8 ", b"GIF89a", b"BM" + bytes(12),
            b"II*\x00", b"\x1a\x45\xdf\xa3webm", b"\0\0\0\x18ftypisom", b"\0\0\0\x18ftypheic",
            b"\0\0\0\x08moov", b"%PDF-1.7", b"hello"]


if __name__ == "__main__":
    main(target, seeds)
