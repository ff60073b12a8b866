"""Why a piece of media was refused. Every message names the problem in plain words."""

from __future__ import annotations

from deepshield.errors import Category, DeepShieldError


class MediaError(DeepShieldError):
    """Base of every media rejection."""

    code = "invalid_media"


class EmptyMedia(MediaError):
    code = "empty_media"


class UnsupportedMedia(MediaError):
    """The content is not one of the image or video formats DeepShield reads."""

    code = "unsupported_media"


class CorruptMedia(MediaError):
    """The content claims a supported format but cannot be decoded (corrupt or truncated)."""

    code = "corrupt_media"


class MediaTooLarge(MediaError):
    """Bytes, pixels, frames or duration exceed the configured limits (decompression bombs included)."""

    code = "media_too_large"
    category = Category.TOO_LARGE
