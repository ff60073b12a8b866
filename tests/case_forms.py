"""A complete takedown request form, as the services and the API take it, for tests.

The hashes are made the way a victim's device makes them: PDQ of a generated photo.
"""

from __future__ import annotations

from typing import Any

from deepshield.services.context import ServiceContext
from deepshield.services.spread.hashing import hash_media
from factories import encode_image, photo_pixels


def image_hash(ctx: ServiceContext, seed: int) -> dict[str, Any]:
    """The PDQ signal of photo ``seed``, as a form's ``hashes`` entry."""
    media = hash_media(encode_image(photo_pixels(seed)), ctx.settings.limits)
    assert media.pdq is not None
    return {"type": "pdq", "value": media.pdq.hex, "quality": media.pdq.quality}


def request_form(ctx: ServiceContext | None = None, seed: int = 1, **changes: Any) -> dict[str, Any]:
    """A complete request from a victim (hashes only with ``ctx``), with ``changes`` applied."""
    answers: dict[str, Any] = {
        "requester_role": "victim",
        "signature": {"name": "Jane Q. Example", "statement_ticked": True},
        "locations": [{"url": "https://forum.example/t/123"}],
        "hashes": [image_hash(ctx, seed)] if ctx is not None else [],
        "good_faith": True,
        "contact": {"email": "jane.private@example.org"},
        "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False},
    }
    answers.update(changes)
    return answers
