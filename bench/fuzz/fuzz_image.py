"""Fuzz image decoding: ``deepshield.media.image.decode_image`` (sniff, header checks, Pillow decode,
EXIF orientation, conversion to RGB), then PDQ of the pixels as the hashing path does.

Limits are kept small (1 MPixel, 2 MiB) so that each run is quick; the checks are the same.
"""

from __future__ import annotations

import io

from _common import instrumented

# Pillow's format plugins (chunk and marker parsing) are Python: instrumenting them guides the
# fuzzer into the decoders' headers, not only into DeepShield's checks around them.
with instrumented("PIL"):
    from PIL import Image

    from deepshield.media.image import decode_image
    from deepshield.media.limits import MediaLimits
    from deepshield.signals.pdq import pdq_from_pixels

    Image.init()  # load the format plugins now, inside the instrumentation

from _common import main

LIMITS = MediaLimits(max_image_bytes=2 * 1024 * 1024, max_pixels=1_000_000)


def target(data: bytes) -> None:
    decoded = decode_image(data, LIMITS)
    assert decoded.pixels.ndim == 3 and decoded.pixels.shape[2] == 3
    pdq_from_pixels(decoded.pixels)


def seeds() -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    found = []
    for mode in ("RGB", "L", "RGBA", "P", "I;16", "1", "CMYK"):
        image = Image.fromarray(pixels).convert(mode) if mode != "I;16" else \
            Image.fromarray(pixels[:, :, 0].astype(np.uint16) * 257)
        for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF"):
            buffer = io.BytesIO()
            try:
                options = {"exif": Image.Exif()} if fmt in ("JPEG", "WEBP", "PNG") else {}
                if options:
                    options["exif"][0x0112] = 6
                image.save(buffer, format=fmt, **options)
            except (OSError, ValueError, KeyError):
                continue
            found.append(buffer.getvalue())
    return found


if __name__ == "__main__":
    main(target, seeds)
