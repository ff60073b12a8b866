"""The manifest definition DeepShield signs: actions, soft bindings, the custom label assertion."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from deepshield import __version__
from deepshield.errors import InvalidRequest
from deepshield.provenance import (
    PDQ_BINDING_ALG,
    TRAINED_ALGORITHMIC_MEDIA,
    WATERMARK_BINDING_ALG,
    WATERMARKED_BOUND_ACTION,
    build_manifest_definition,
)


def _assertions(definition: dict[str, Any], label: str) -> list[dict[str, Any]]:
    return [a["data"] for a in definition["assertions"] if a["label"] == label]


def test_definition_shape(definition: Callable[..., dict[str, Any]], facts: Any) -> None:
    manifest = definition("image/png")
    assert manifest["claim_generator_info"] == [{"name": "DeepShield", "version": __version__}]
    assert manifest["format"] == "image/png" and manifest["title"] == "generated"
    assert "thumbnail" not in manifest
    (actions,) = _assertions(manifest, "c2pa.actions")
    created, watermarked = actions["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"] == {"name": facts.generator, "org.deepshield.model": facts.model}
    assert created["when"] == "2026-03-01T12:30:05Z"
    assert watermarked["action"] == WATERMARKED_BOUND_ACTION == "c2pa.watermarked.bound"
    bindings = _assertions(manifest, "c2pa.soft-binding")
    assert bindings == [
        {"alg": WATERMARK_BINDING_ALG, "blocks": [{"scope": {}, "value": facts.label_id}]},
        {"alg": PDQ_BINDING_ALG, "blocks": [{"scope": {}, "value": facts.pdq_hex}]},
    ]
    (label,) = _assertions(manifest, "org.deepshield.label")
    assert label == {
        "label_id": facts.label_id, "watermark_key_id": "public", "generator": facts.generator,
        "model": facts.model, "created_at": "2026-03-01T12:30:05Z", "visible_label": facts.visible_label,
    }


def test_the_label_names_the_key_its_mark_was_made_with(definition: Callable[..., dict[str, Any]]) -> None:
    manifest = definition("image/png", watermark_key_id="0123456789abcdef")
    assert _assertions(manifest, "org.deepshield.label")[0]["watermark_key_id"] == "0123456789abcdef"


def test_optional_parts(definition: Callable[..., dict[str, Any]]) -> None:
    manifest = definition("video/mp4", pdq_hex=None, model=None, visible_label=None)
    assert [b["alg"] for b in _assertions(manifest, "c2pa.soft-binding")] == [WATERMARK_BINDING_ALG]
    created = _assertions(manifest, "c2pa.actions")[0]["actions"][0]
    assert created["softwareAgent"] == {"name": "Example Diffusion Service"}


def test_hex_is_normalised_to_lowercase(definition: Callable[..., dict[str, Any]]) -> None:
    manifest = definition("image/jpeg", label_id="ABCDEF0123456789", pdq_hex="AB" * 32)
    values = [b["blocks"][0]["value"] for b in _assertions(manifest, "c2pa.soft-binding")]
    assert values == ["abcdef0123456789", "ab" * 32]


def test_created_at_is_converted_to_utc(definition: Callable[..., dict[str, Any]]) -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    manifest = definition("image/jpeg", created_at=dt.datetime(2026, 3, 1, 13, 30, 5, tzinfo=paris))
    assert _assertions(manifest, "org.deepshield.label")[0]["created_at"] == "2026-03-01T12:30:05Z"


@pytest.mark.parametrize(("field", "value"), [
    ("label_id", "0123"),
    ("label_id", "0123456789abcdeg"),
    ("pdq_hex", "ab" * 31),
    ("format", "image/gif"),
    ("generator", "  "),
    ("created_at", dt.datetime(2026, 3, 1, 12, 0, 0)),
    ("watermark_key_id", "PUBLIC"),
    ("watermark_key_id", "0123456789abcdeg"),
])
def test_bad_arguments_are_refused(field: str, value: object) -> None:
    arguments: dict[str, Any] = {
        "label_id": "0123456789abcdef", "generator": "g", "model": None,
        "created_at": dt.datetime.now(dt.UTC), "pdq_hex": None, "title": "t", "format": "image/jpeg",
    }
    arguments[field] = value
    with pytest.raises(InvalidRequest):
        build_manifest_definition(**arguments)
