"""Safe media intake: sniff the type from content, decode within limits, raise typed errors."""

from deepshield.media.errors import (
    CorruptMedia,
    EmptyMedia,
    MediaError,
    MediaTooLarge,
    UnsupportedMedia,
)
from deepshield.media.files import expand_paths, read_media_file
from deepshield.media.image import DecodedImage, decode_image
from deepshield.media.limits import MediaLimits
from deepshield.media.sniff import MediaKind, MediaType, sniff_media_type

__all__ = [
    "CorruptMedia",
    "DecodedImage",
    "EmptyMedia",
    "MediaError",
    "MediaKind",
    "MediaLimits",
    "MediaTooLarge",
    "MediaType",
    "UnsupportedMedia",
    "decode_image",
    "expand_paths",
    "read_media_file",
    "sniff_media_type",
]
