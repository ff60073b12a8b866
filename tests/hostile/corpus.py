"""A deterministic corpus of hostile files for DeepShield's upload routes and CLI commands.

``python tests/hostile/corpus.py OUT_DIR`` writes every file (and ``index.tsv``: name, expected
kind, note); tests import ``build_corpus()``. Everything is made here, from a fixed seed, in a
few seconds: no network, no ../shared. Bombs are small files with huge headers.

Expected kinds (what a door must do with the file):

- ``bomb``: refused as too large (API 413 ``media_too_large``; CLI exit 3);
- ``invalid``: refused with a message (API 4xx ``{"error", "detail"}``; CLI exit 3);
- ``unsupported``: not media at all (SVG, text, archives...): API 415 ``unsupported_media``; exit 3;
- ``valid``: a readable image or video, often unusual (CMYK, 16-bit, animated, HEIC, tiny,
  polyglots that start as media, lying extensions): ``/v1/hash`` and ``deepshield hash`` accept it;
  other doors may still refuse it with a message (too small for the watermark, low quality...);
- ``any``: bit flips and edge cuts, which may still decode or not: never a 5xx or a crash, and
  a refusal carries a message.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

try:
    from factories import encode_audio_only_mp4, encode_image, photo_pixels
except ImportError:  # run as a script, ``python tests/hostile/corpus.py OUT_DIR``: tests/ is not on the path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from factories import encode_audio_only_mp4, encode_image, photo_pixels

SEED = 20261206
KINDS = ("bomb", "invalid", "unsupported", "valid", "any")


@dataclass(frozen=True)
class HostileFile:
    name: str  # a file name, with the extension the file claims (which may lie)
    data: bytes
    expected: str  # one of KINDS
    note: str = ""


# --- Making valid media ---------------------------------------------------------------------


def _photo(seed: int, width: int = 160, height: int = 128) -> Image.Image:
    """A photo-like RGB picture (smooth gradients and soft shapes) that PDQ hashes well."""
    return Image.fromarray(photo_pixels(seed, width, height))


def _heic(image: Image.Image) -> bytes:
    from pillow_heif import register_heif_opener

    register_heif_opener()
    return encode_image(image, "HEIF", quality=60)


def _video(container: str = "mp4", codec: str = "mpeg4", *, frames: int = 12, width: int = 64,
           height: int = 48, fps: int = 6, seed: int = 7) -> bytes:
    buffer = io.BytesIO()
    # bitexact: no random segment ids or encoder strings, so the same seed gives the same bytes
    with av.open(buffer, mode="w", format=container, container_options={"fflags": "+bitexact"}) as output:
        stream = output.add_stream(codec, rate=Fraction(fps), options={"threads": "1"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        scenes = [np.asarray(_photo(seed + n, width, height)) for n in range(max(1, frames // fps + 1))]
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(scenes[index // fps], format="rgb24")
            for packet in stream.encode(frame):
                output.mux(packet)
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def _zero_frame_mp4() -> bytes:
    """An MP4 with a video track that holds no frame at all."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as output:
        stream = output.add_stream("mpeg4", rate=Fraction(5))
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for packet in stream.encode():
            output.mux(packet)
    return buffer.getvalue()


def _animated(fmt: str, seed: int, frames: int = 3, **options: object) -> bytes:
    images = [_photo(seed + n, 96, 80) for n in range(frames)]
    return encode_image(images[0], fmt, save_all=True, append_images=images[1:], duration=100, loop=0,
                 **options)


# --- Bombs: small files whose headers claim huge sizes --------------------------------------

_HUGE = (65535, 32769)  # 2**31 pixels and more: far past DEEPSHIELD_MAX_PIXELS and Pillow's own cap


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png_claiming(width: int, height: int, depth: int = 8, colour: int = 2, idat: bytes | None = None,
                  extra: bytes = b"") -> bytes:
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + extra
            + _png_chunk(b"IDAT", idat if idat is not None else zlib.compress(b"\x00" * 4096))
            + _png_chunk(b"IEND", b""))


def _jpeg_claiming(valid_jpeg: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF header is rewritten to ``width``×``height``."""
    data = bytearray(valid_jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1"):
        at = data.find(marker)
        if at >= 0:
            struct.pack_into(">HH", data, at + 5, height, width)
            return bytes(data)
    raise ValueError("no SOF marker")


def _gif_claiming(valid_gif: bytes, width: int, height: int, frame_too: bool = False) -> bytes:
    """A real GIF whose screen (and first frame, with ``frame_too``) claims ``width``×``height``."""
    data = bytearray(valid_gif)
    struct.pack_into("<HH", data, 6, width, height)
    if frame_too:
        at = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)  # past the global palette
        while data[at] == 0x21:  # skip extension blocks up to the first image descriptor
            at += 2
            while data[at]:
                at += data[at] + 1
            at += 1
        assert data[at] == 0x2C, "no image descriptor"
        struct.pack_into("<HH", data, at + 5, width, height)
    return bytes(data)


def _bmp_claiming(width: int, height: int, bits: int = 24) -> bytes:
    pixels = b"\x00" * 64
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, bits, 0, len(pixels), 2835, 2835, 0, 0)
    header = struct.pack("<2sIHHI", b"BM", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return header + info + pixels


def _tiff_claiming(width: int, height: int) -> bytes:
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1),
               (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1), (278, 4, 1, height),
               (279, 4, 1, 64)]
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        packed = struct.pack("<I", value) if kind == 4 else struct.pack("<HH", value, 0)
        ifd += struct.pack("<HHI", tag, kind, count) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\x00" * 64


def _webp_vp8x_claiming(width: int, height: int) -> bytes:
    """An extended WebP whose canvas is ``width``×``height`` (each up to 2**24)."""
    vp8x = struct.pack("<I", 0) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _webp_vp8l_claiming(width: int, height: int) -> bytes:
    """A lossless WebP whose bitstream header says ``width``×``height`` (each up to 2**14)."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + b"\x00" * 32
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _patch_box(data: bytes, box: bytes, patch: Callable[[bytearray, int], None]) -> bytes:
    """Apply ``patch(buffer, offset_of_box_type)`` to every ``box`` in an ISO-BMFF file."""
    out = bytearray(data)
    at = out.find(box)
    found = False
    while at >= 0:
        patch(out, at)
        found = True
        at = out.find(box, at + 4)
    if not found:
        raise ValueError(f"no {box!r} box")
    return bytes(out)


def _heic_claiming(valid_heic: bytes, width: int, height: int) -> bytes:
    def patch(out: bytearray, at: int) -> None:
        struct.pack_into(">II", out, at + 8, width, height)  # ispe: version/flags, then w, h
    return _patch_box(valid_heic, b"ispe", patch)


def _mp4_long(valid_mp4: bytes, frame_ticks: int = 0x7FFFFFFF) -> bytes:
    """Every frame lasts ``frame_ticks`` and the movie and media headers claim as long: with
    the default, 12 frames that last for weeks (a duration bomb). The edit list goes."""
    def headers(out: bytearray, at: int) -> None:
        version = out[at + 4]
        offset = at + 8 + (16 if version == 1 else 8)  # after the creation/modification times
        timescale = struct.unpack_from(">I", out, offset)[0]
        frames = 12  # the base videos hold 12 frames
        total = min(frame_ticks * frames * 1000 // max(1, timescale), 0xFFFFFFF0)
        if version == 1:
            struct.pack_into(">IQ", out, offset, 1000, total)
        else:
            struct.pack_into(">II", out, offset, 1000, total)

    def stts(out: bytearray, at: int) -> None:
        for entry in range(struct.unpack_from(">I", out, at + 8)[0]):
            struct.pack_into(">I", out, at + 16 + 8 * entry, frame_ticks)
    patched = _patch_box(valid_mp4, b"stts", stts).replace(b"edts", b"free")
    return _patch_box(_patch_box(patched, b"mvhd", headers), b"mdhd", headers)


def _mp4_huge_frame(valid_mp4: bytes) -> bytes:
    """The track header and sample description claim 65535×65535 frames."""
    def tkhd(out: bytearray, at: int) -> None:
        struct.pack_into(">II", out, at + 4 + 76, 65535 << 16, 65535 << 16)

    def stsd(out: bytearray, at: int) -> None:
        entry = at + 4 + 8  # version/flags, entry count
        struct.pack_into(">HH", out, entry + 8 + 24, 65535, 65535)
    return _patch_box(_patch_box(valid_mp4, b"tkhd", tkhd), b"stsd", stsd)


def _mp4_many_frames(valid_mp4: bytes) -> bytes:
    """The time-to-sample table claims 2**31 frames (a frame-count bomb)."""
    def patch(out: bytearray, at: int) -> None:
        struct.pack_into(">I", out, at + 12, 0x7FFFFFFF)
    return _patch_box(valid_mp4, b"stts", patch)


# --- Mutations --------------------------------------------------------------------------------


def _truncation_points(length: int, rng: random.Random, count: int) -> list[int]:
    fixed = [1, 2, 3, 8, 16, 33, 64, 100]
    points = [p for p in fixed if p < length]
    while len(points) < count:
        cut = rng.randrange(1, length)
        if cut not in points:
            points.append(cut)
    return sorted(points)[:count]


def _flip_bits(data: bytes, rng: random.Random, flips: int, start: int = 0) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        position = rng.randrange(start, len(out))
        out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


# --- Non-media content ----------------------------------------------------------------------

_BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(b' <!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
               for n in range(1, 10))
    + b']>\n<svg xmlns="http://www.w3.org/2000/svg"><text>&lol9;</text></svg>\n')
_XXE = (b'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>\n')
_XXE_REMOTE = (b'<?xml version="1.0"?>\n<!DOCTYPE svg [<!ENTITY % remote SYSTEM '
               b'"http://127.0.0.1:1/evil.dtd"> %remote;]>\n<svg xmlns="http://www.w3.org/2000/svg"/>\n')
_SVG_SCRIPT = (b'<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000">'
               b'<script>alert(1)</script><image href="file:///etc/shadow"/></svg>')
_HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def _zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("zeros.bin", (2026, 1, 1, 0, 0, 0)), b"\x00" * (8 << 20),
                         compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


# --- The corpus -------------------------------------------------------------------------------


def build_corpus(seed: int = SEED) -> list[HostileFile]:
    """Every hostile file, in a fixed order, the same for the same ``seed``."""
    rng = random.Random(seed)
    files: list[HostileFile] = []

    def add(name: str, data: bytes, expected: str, note: str = "") -> None:
        assert expected in KINDS, expected
        files.append(HostileFile(name, data, expected, note))

    photo = _photo(seed % 1000)
    base: dict[str, tuple[str, bytes]] = {  # name -> (extension, bytes): readable, ordinary files
        "jpeg": (".jpg", encode_image(photo, "JPEG", quality=90)),
        "png": (".png", encode_image(photo, "PNG")),
        "webp": (".webp", encode_image(photo, "WEBP", quality=80)),
        "webp-lossless": (".webp", encode_image(photo, "WEBP", lossless=True)),
        "gif": (".gif", encode_image(photo.convert("P", palette=Image.Palette.ADAPTIVE), "GIF")),
        "bmp": (".bmp", encode_image(photo, "BMP")),
        "tiff": (".tif", encode_image(photo, "TIFF", compression="tiff_deflate")),
        "heic": (".heic", _heic(photo)),
        "mp4": (".mp4", _video("mp4", "mpeg4")),
        "mp4-h264": (".mp4", _video("mp4", "libx264", frames=8)),
        "mov": (".mov", _video("mov", "mpeg4")),
        "webm": (".webm", _video("webm", "libvpx", frames=8)),
        "mkv": (".mkv", _video("matroska", "mpeg4")),
    }
    large = _photo(seed % 1000 + 1, 320, 256)  # big enough to carry the watermark and a label
    unusual: dict[str, tuple[str, bytes]] = {
        "large-jpeg": (".jpg", encode_image(large, "JPEG", quality=90)),
        "large-png": (".png", encode_image(large, "PNG")),
        "large-webp": (".webp", encode_image(large, "WEBP", quality=85)),
        "cmyk-jpeg": (".jpg", encode_image(photo.convert("CMYK"), "JPEG", quality=85)),
        "progressive-jpeg": (".jpg", encode_image(photo, "JPEG", quality=80, progressive=True)),
        "grey-jpeg": (".jpg", encode_image(photo.convert("L"), "JPEG")),
        "exif-rotated-jpeg": (".jpg", _exif_rotated(photo)),
        "png-16bit-grey": (".png", encode_image(Image.fromarray(
            (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)), "PNG")),
        "png-16bit-rgb": (".png", _png_16bit_rgb(photo)),
        "png-grey-alpha": (".png", encode_image(photo.convert("LA"), "PNG")),
        "png-rgba": (".png", encode_image(photo.convert("RGBA"), "PNG")),
        "png-palette-transparent": (".png", encode_image(photo.convert("P"), "PNG", transparency=0)),
        "png-1bit": (".png", encode_image(photo.convert("1"), "PNG")),
        "png-interlaced": (".png", _interlaced(photo)),
        "apng": (".png", _animated("PNG", seed + 1)),
        "gif-animated": (".gif", _animated("GIF", seed + 2)),
        "webp-animated": (".webp", _animated("WEBP", seed + 3, quality=70)),
        "tiff-16bit": (".tif", encode_image(Image.fromarray(
            (np.asarray(photo.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)), "TIFF")),
        "tiff-cmyk": (".tif", encode_image(photo.convert("CMYK"), "TIFF")),
        "tiff-multipage": (".tif", encode_image(photo, "TIFF", save_all=True,
                                                append_images=[photo.rotate(90)])),
        "bmp-1bit": (".bmp", encode_image(photo.convert("1"), "BMP")),
        "bmp-palette": (".bmp", encode_image(photo.convert("P"), "BMP")),
        "heic-small": (".heic", _heic(_photo(seed + 4, 64, 64))),
        "jpeg-1x1": (".jpg", encode_image(Image.new("RGB", (1, 1), (200, 10, 10)), "JPEG")),
        "png-1x1": (".png", encode_image(Image.new("RGB", (1, 1), (10, 200, 10)), "PNG")),
        "gif-1x1": (".gif", encode_image(Image.new("P", (1, 1)), "GIF")),
        "webp-1x1": (".webp", encode_image(Image.new("RGB", (1, 1)), "WEBP")),
        "bmp-1x1": (".bmp", encode_image(Image.new("RGB", (1, 1)), "BMP")),
        "tiff-1x1": (".tif", encode_image(Image.new("RGB", (1, 1)), "TIFF")),
        "png-1x4000": (".png", encode_image(Image.new("RGB", (1, 4000), (1, 2, 3)), "PNG")),
        "png-flat-grey": (".png", encode_image(Image.new("RGB", (200, 200), (128, 128, 128)), "PNG")),
        "mp4-2x2": (".mp4", _video("mp4", "mpeg4", frames=3, width=2, height=2)),
        "mp4-2frames": (".mp4", _video("mp4", "mpeg4", frames=2)),
        "mp4-1frame": (".mp4", _video("mp4", "libx264", frames=1, width=16, height=16)),
    }
    for name, (ext, data) in {**base, **unusual}.items():
        add(f"valid-{name}{ext}", data, "valid")

    # Bombs: huge declared dimensions and durations, in every format.
    jpeg = base["jpeg"][1]
    gif = base["gif"][1]
    width, height = _HUGE
    bombs = {
        "png-2g-pixels.png": _png_claiming(width, height),
        "png-max-dims.png": _png_claiming(0x7FFFFFFF, 0x7FFFFFFF),
        "png-16bit-rgba-1g.png": _png_claiming(32768, 32768, depth=16, colour=6),
        "png-1bit-4g.png": _png_claiming(65536, 65536, depth=1, colour=0),
        "png-wide.png": _png_claiming(2**30, 4),
        "png-zlib-bomb.png": _png_claiming(20000, 20000, idat=zlib.compress(b"\x00" * (4 << 20), 9)),
        "apng-2g-frames.png": _apng_claiming(base["png"][1], width, height),
        "jpeg-4g-pixels.jpg": _jpeg_claiming(jpeg, 65535, 65535),
        "jpeg-2g-pixels.jpg": _jpeg_claiming(jpeg, width, height),
        "jpeg-progressive-4g.jpg": _jpeg_claiming(unusual["progressive-jpeg"][1], 65535, 65535),
        "jpeg-cmyk-4g.jpg": _jpeg_claiming(unusual["cmyk-jpeg"][1], 65535, 65535),
        "gif-screen-4g.gif": _gif_claiming(gif, 65535, 65535),
        "gif-frame-4g.gif": _gif_claiming(gif, 65535, 65535, frame_too=True),
        "gif-animated-4g.gif": _gif_claiming(unusual["gif-animated"][1], 65535, 65535, frame_too=True),
        "bmp-2g-pixels.bmp": _bmp_claiming(width, height),
        "bmp-topdown-2g.bmp": _bmp_claiming(width, -height),
        "bmp-max-dims.bmp": _bmp_claiming(0x7FFFFFFF, 0x7FFFFFFF),
        "tiff-2g-pixels.tif": _tiff_claiming(width, height),
        "tiff-max-dims.tif": _tiff_claiming(0xFFFFFFFF, 0xFFFFFFFF),
        "webp-vp8x-canvas-2g.webp": _webp_vp8x_claiming(width, height),
        "webp-vp8x-canvas-max.webp": _webp_vp8x_claiming(2**24, 2**24),
        "webp-vp8l-268m.webp": _webp_vp8l_claiming(16384, 16384),
        "heic-ispe-2g.heic": _heic_claiming(base["heic"][1], width, height),
        "mp4-days-long.mp4": _mp4_long(base["mp4"][1]),
        "mov-days-long.mov": _mp4_long(base["mov"][1]),
    }
    for name, data in bombs.items():
        add(f"bomb-{name}", data, "bomb")
    # Headers that claim huge sizes a decoder may reject as invalid before any limit is reached:
    # refused either way; the test accepts 413 or 400 for these.
    for name, data in {
        "mp4-huge-frame-size.mp4": _mp4_huge_frame(base["mp4"][1]),
        "mp4-2g-frame-count.mp4": _mp4_many_frames(base["mp4"][1]),
        "mp4-hour-long-frames.mp4": _mp4_long(base["mp4"][1], frame_ticks=12288 * 600),
        "mp4-tiny-frame-rate.mp4": _mp4_long(base["mp4"][1], frame_ticks=12288 * 60),
        "png-ztxt-bomb.png": _png_with_text_bomb(base["png"][1], b"zTXt"),
        "png-iccp-bomb.png": _png_with_text_bomb(base["png"][1], b"iCCP"),
        # libheif refuses a 4-billion-pixel item header before any limit of DeepShield's is asked
        "heic-ispe-max.heic": _heic_claiming(base["heic"][1], 0xFFFFFFFF, 0xFFFFFFFF),
    }.items():
        add(f"bomb-ish-{name}", data, "any", "a huge claim inside a small file")

    # Truncations at many offsets, of every format.
    truncated = {**base, **{k: unusual[k] for k in (
        "cmyk-jpeg", "progressive-jpeg", "png-16bit-rgb", "apng", "gif-animated", "webp-animated",
        "tiff-multipage", "png-interlaced", "heic-small", "mp4-2frames")}}
    for name, (ext, data) in truncated.items():
        # A cut stream may still hold whole frames, and a cut animation or multi-page file its
        # whole first frame (the one that is read): those may be read, the others must not.
        streamable = name in ("webm", "mkv", "apng", "gif-animated", "webp-animated", "tiff-multipage")
        for cut in _truncation_points(len(data), rng, 14):
            share = cut / len(data)
            expected = "any" if streamable or share > 0.9 else "invalid"
            add(f"truncated-{name}-at-{cut}{ext}", data[:cut], expected, f"the first {cut} bytes")
        add(f"truncated-{name}-last-byte{ext}", data[:-1], "any", "all but the last byte")

    # Bit and byte flips: in the header (first 64 bytes) and anywhere.
    for name, (ext, data) in {**base, **{k: unusual[k] for k in (
            "cmyk-jpeg", "apng", "webp-animated", "png-16bit-rgb")}}.items():
        for n in range(4):
            add(f"flipped-head-{name}-{n}{ext}", _flip_bits(data[:64], rng, 1 + n, start=4) + data[64:],
                "any", "bits flipped in the header")
        for n in range(4):
            add(f"flipped-body-{name}-{n}{ext}", _flip_bits(data, rng, 1 + 4 * n), "any",
                "bits flipped anywhere")
        out = bytearray(data)
        for _ in range(32):
            out[rng.randrange(len(out))] = rng.randrange(256)
        add(f"bytes-replaced-{name}{ext}", bytes(out), "any", "32 random bytes replaced")
        middle = len(data) // 2
        add(f"zeroed-half-{name}{ext}", data[:middle] + bytes(len(data) - middle), "any",
            "the second half zeroed")

    # Empty, one byte, bare signatures.
    small = {
        "empty.jpg": b"", "empty.mp4": b"", "one-zero-byte.png": b"\x00", "one-ff-byte.jpg": b"\xff",
        "one-byte-G.gif": b"G", "newline.txt": b"\n", "jpeg-soi-only.jpg": b"\xff\xd8",
        "jpeg-magic-only.jpg": b"\xff\xd8\xff", "jpeg-soi-eoi.jpg": b"\xff\xd8\xff\xd9",
        "png-signature-only.png": b"\x89PNG\r\n\x1a\n", "png-ihdr-only.png": _png_claiming(16, 16)[:33],
        "png-no-idat.png": b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2,
                                                                                  0, 0, 0))
        + _png_chunk(b"IEND", b""),
        "png-zero-size.png": _png_claiming(0, 0), "gif87a-only.gif": b"GIF87a",
        "gif89a-only.gif": b"GIF89a", "gif-zero-size.gif": _gif_claiming(gif, 0, 0, frame_too=True),
        "riff-webp-only.webp": b"RIFF\x04\x00\x00\x00WEBP", "riff-webp-empty-vp8.webp":
            b"RIFF\x0c\x00\x00\x00WEBPVP8 \x00\x00\x00\x00",
        "bm-only.bmp": b"BM", "bmp-header-only.bmp": _bmp_claiming(16, 16)[:54],
        "bmp-zero-size.bmp": _bmp_claiming(0, 0),
        "tiff-ii-only.tif": b"II*\x00", "tiff-mm-only.tif": b"MM\x00*",
        "tiff-ifd-loop.tif": b"II*\x00\x08\x00\x00\x00\x00\x00\x08\x00\x00\x00",
        "tiff-zero-size.tif": _tiff_claiming(0, 0),
        "ftyp-isom-only.mp4": b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom",
        "ftyp-heic-only.heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
        "ftyp-qt-only.mov": b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
        "ebml-only.mkv": b"\x1a\x45\xdf\xa3", "ebml-webm-only.webm": b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm",
        "moov-only.mov": b"\x00\x00\x00\x08moov", "mdat-only.mov": b"\x00\x00\x00\x10mdat" + bytes(8),
        "zero-bytes-4k.jpg": bytes(4096), "ff-bytes-4k.jpg": b"\xff" * 4096,
        "random-4k.png": bytes(rng.randrange(256) for _ in range(4096)),
    }
    for name, data in small.items():
        if data[:1] in (b"\xff", b"\x89", b"G", b"R", b"B", b"I", b"M", b"\x1a") or data[4:8] in (
                b"ftyp", b"moov", b"mdat"):
            expected = "invalid"
        else:
            expected = "unsupported" if data else "invalid"
        add(f"small-{name}", data, expected)

    # Polyglots: media first (read as that media) or something else first (refused).
    png = base["png"][1]
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    polyglots = {
        "jpeg-then-zip.jpg": (jpeg + _zip({"payload.txt": b"hello"}), "valid"),
        "png-then-html.png": (png + _HTML, "valid"),
        "png-then-pdf.png": (png + pdf, "valid"),
        "gifar.gif": (gif + _zip({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
                                  "Evil.class": b"\xca\xfe\xba\xbe" + bytes(32)}), "valid"),
        "jpeg-html-comment.jpg": (jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(_HTML) + 2) + _HTML
                                  + jpeg[2:], "valid"),
        "png-script-text-chunk.png": (png[:33] + _png_chunk(b"tEXt", b"Comment\x00" + _HTML) + png[33:],
                                      "valid"),
        "mp4-then-zip.mp4": (base["mp4"][1] + _zip({"a.txt": b"a"}), "valid"),
        "pdf-with-jpeg.pdf": (pdf + jpeg, "unsupported"),
        "zip-with-jpeg.jpg": (_zip({"photo.jpg": jpeg}), "unsupported"),
        "zip-bomb.zip": (_zip_bomb(), "unsupported"),
        "gzip-of-png.png": (b"\x1f\x8b" + zlib.compress(png)[2:], "unsupported"),
        "html-then-png.png": (_HTML + png, "unsupported"),
        "text-then-jpeg.jpg": (b"hello world " * 3 + jpeg, "invalid"),
        "elf-named-jpg.jpg": (b"\x7fELF\x02\x01\x01" + bytes(57) + jpeg, "unsupported"),
        "exe-named-png.png": (b"MZ\x90\x00" + bytes(60) + png, "unsupported"),
        "mp3-named-mp4.mp4": (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64), "unsupported"),
        "ogg-named-webm.webm": (b"OggS\x00\x02" + bytes(58), "unsupported"),
    }
    for name, (data, expected) in polyglots.items():
        add(f"polyglot-{name}", data, expected)

    # Lying extensions: the content decides, never the name.
    lying = {
        "png-named.jpg": (png, "valid"), "jpeg-named.png": (jpeg, "valid"),
        "mp4-named.png": (base["mp4"][1], "valid"), "jpeg-named.mp4": (jpeg, "valid"),
        "webp-named.gif": (base["webp"][1], "valid"), "heic-named.jpg": (base["heic"][1], "valid"),
        "webm-named.mp4": (base["webm"][1], "valid"), "gif-named.webp": (gif, "valid"),
        "text-named.jpg": (b"just some text, honest\n" * 4, "unsupported"),
        "csv-named.png": (b"name,email\nsomeone,someone@example.org\n", "unsupported"),
        "json-named.mp4": (b'{"not": "a video"}\n', "unsupported"),
        "html-named.webp": (_HTML, "unsupported"),
        "utf16-text-named.jpg": ("plain text".encode("utf-16"), "unsupported"),
        "no-extension": (jpeg, "valid"),
        "dots..jpg": (png, "valid"),
    }
    for name, (data, expected) in lying.items():
        add(f"lying-{name}", data, expected)

    # SVG and XML: never accepted, never parsed.
    svgs = {
        "billion-laughs.svg": _BILLION_LAUGHS, "xxe-file.svg": _XXE, "xxe-remote-dtd.svg": _XXE_REMOTE,
        "script.svg": _SVG_SCRIPT, "plain.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        "svg-named.png": _SVG_SCRIPT, "billion-laughs-named.jpg": _BILLION_LAUGHS,
        "bom-svg.svg": b"\xef\xbb\xbf" + _SVG_SCRIPT, "whitespace-svg.svg": b"\n\n  " + _SVG_SCRIPT,
        "svgz.svgz": b"\x1f\x8b\x08\x00" + zlib.compress(_BILLION_LAUGHS)[2:],
    }
    for name, data in svgs.items():
        add(f"svg-{name}", data, "unsupported")

    # Video specials.
    mp4 = base["mp4"][1]
    moov = mp4.find(b"moov") - 4
    mdat = mp4.find(b"mdat") - 4
    specials = {
        "zero-frames.mp4": (_zero_frame_mp4(), "invalid"),
        "audio-only.mp4": (encode_audio_only_mp4(), "invalid"),
        "no-moov.mp4": (mp4[:moov] if moov > 0 else mp4[:100], "invalid"),
        "moov-truncated.mp4": (mp4[:moov + 40] if moov > 0 else mp4[:100], "invalid"),
        "mdat-zeroed.mp4": (mp4[:mdat + 8] + bytes(moov - mdat - 8) + mp4[moov:]
                            if 0 < mdat < moov else mp4, "any"),
        "moov-zeroed.mp4": (mp4[:moov + 8] + bytes(len(mp4) - moov - 8) if moov > 0 else mp4, "invalid"),
    }
    for name, (data, expected) in specials.items():
        add(f"video-{name}", data, expected)

    names = [f.name for f in files]
    assert len(names) == len(set(names)), "duplicate names in the corpus"
    return files


def _exif_rotated(photo: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode_image(photo, "JPEG", exif=exif.tobytes())


def _png_16bit_rgb(photo: Image.Image) -> bytes:
    """A 16-bit-per-channel RGB PNG, written by hand (Pillow cannot write one)."""
    pixels = (np.asarray(photo, dtype=np.uint16) * 257).astype(">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in pixels)
    header = struct.pack(">IIBBBBB", photo.width, photo.height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows))
            + _png_chunk(b"IEND", b""))


def _interlaced(photo: Image.Image) -> bytes:
    """An Adam7-interlaced PNG, written by hand (Pillow cannot write one)."""
    pixels = np.asarray(photo, dtype=np.uint8)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            raw += b"".join(b"\x00" + row.tobytes() for row in sub)
    header = struct.pack(">IIBBBBB", photo.width, photo.height, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(raw))
            + _png_chunk(b"IEND", b""))


def _apng_claiming(png: bytes, width: int, height: int) -> bytes:
    """A PNG with an animation control chunk claiming 2**31 frames and a huge first frame."""
    actl = _png_chunk(b"acTL", struct.pack(">II", 0x7FFFFFFF, 0))
    fctl = _png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, width, height, 0, 0, 1, 10, 0, 0))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rest = png[33:]
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + actl + fctl + rest


def _png_with_text_bomb(png: bytes, kind: bytes) -> bytes:
    """A small PNG with a compressed text or ICC chunk that inflates to 64 MiB."""
    bomb = zlib.compress(b"\x00" * (64 << 20), 9)
    payload = (b"Comment\x00\x00" if kind == b"zTXt" else b"icc\x00\x00") + bomb
    return png[:33] + _png_chunk(kind, payload) + png[33:]


def write_corpus(out_dir: Path, seed: int = SEED) -> list[HostileFile]:
    """Write every file of the corpus into ``out_dir`` and an ``index.tsv`` describing them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = build_corpus(seed)
    lines = ["name\texpected\tbytes\tnote"]
    for item in files:
        (out_dir / item.name).write_bytes(item.data)
        lines.append(f"{item.name}\t{item.expected}\t{len(item.data)}\t{item.note}")
    (out_dir / "index.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return files


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python tests/hostile/corpus.py OUT_DIR", file=sys.stderr)
        return 2
    files = write_corpus(Path(argv[1]))
    counts = {kind: sum(1 for f in files if f.expected == kind) for kind in KINDS}
    print(f"wrote {len(files)} files to {argv[1]}: "
          + ", ".join(f"{count} {kind}" for kind, count in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
