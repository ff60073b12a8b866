"""Fixtures for Content Credentials: development keys, sample media in each signable format, signing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from deepshield.provenance import (
    DevelopmentKeys,
    SignedMedia,
    SigningIdentity,
    build_manifest_definition,
    init_development_keys,
    load_signing_identity,
    load_trust_anchors,
    sign_media,
)
from factories import encode_image, encode_video, photo_pixels, scene_video_frames

MIME_TYPES = ["image/jpeg", "image/png", "image/webp", "video/mp4"]


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentKeys:
    return init_development_keys(tmp_path_factory.mktemp("home") / "provenance")


@pytest.fixture(scope="session")
def identity(dev_keys: DevelopmentKeys) -> SigningIdentity:
    return load_signing_identity(dev_keys.directory)


@pytest.fixture(scope="session")
def anchors(dev_keys: DevelopmentKeys) -> bytes:
    return load_trust_anchors(dev_keys.trust_anchors)


@pytest.fixture(scope="session")
def media() -> dict[str, bytes]:
    """Unsigned sample media, one per signable MIME type."""
    pixels = photo_pixels(7, 320, 240)
    return {
        "image/jpeg": encode_image(pixels, "JPEG", quality=90),
        "image/png": encode_image(pixels, "PNG"),
        "image/webp": encode_image(pixels, "WEBP", quality=90),
        "video/mp4": encode_video(scene_video_frames(3, 2, fps=5, width=96, height=64)),
    }


@dataclass(frozen=True)
class Facts:
    """What the sample manifests say, to compare with what is read back."""

    label_id: str = "0f1e2d3c4b5a6978"
    pdq_hex: str = "f0e1d2c3b4a5968778695a4b3c2d1e0f" * 2
    generator: str = "Example Diffusion Service"
    model: str = "example-diffusion-xl-1.0"
    created_at: dt.datetime = dt.datetime(2026, 3, 1, 12, 30, 5, tzinfo=dt.UTC)
    visible_label: str = "AI-generated"


@pytest.fixture(scope="session")
def facts() -> Facts:
    return Facts()


@pytest.fixture(scope="session")
def definition(facts: Facts) -> Callable[..., dict[str, Any]]:
    """``definition(mime, **overrides)``: the sample manifest definition for ``mime``."""

    def make(mime: str, **overrides: Any) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "label_id": facts.label_id, "generator": facts.generator, "model": facts.model,
            "created_at": facts.created_at, "pdq_hex": facts.pdq_hex, "title": "generated",
            "format": mime, "visible_label": facts.visible_label,
        }
        arguments.update(overrides)
        return build_manifest_definition(**arguments)

    return make


@pytest.fixture(scope="session")
def sign(
    media: dict[str, bytes], identity: SigningIdentity, definition: Callable[..., dict[str, Any]]
) -> Callable[..., SignedMedia]:
    """``sign(mime, signer=None, **definition_overrides)``: the sample media of ``mime``, signed."""

    def make(mime: str, signer: SigningIdentity | None = None, **overrides: Any) -> SignedMedia:
        return sign_media(media[mime], mime, definition(mime, **overrides), signer or identity)

    return make


@pytest.fixture(scope="session")
def signed(sign: Callable[..., SignedMedia]) -> dict[str, SignedMedia]:
    """The sample media signed with the development keys, one per MIME type."""
    return {mime: sign(mime) for mime in MIME_TYPES}
