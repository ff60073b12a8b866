"""The C2PA manifest DeepShield writes into AI output: what was made, by what, and how to find it again.

The definition is the JSON that c2pa's ``Builder`` takes. Besides the ``c2pa.created`` action with
the IPTC ``trainedAlgorithmicMedia`` source type, it carries one ``c2pa.soft-binding`` assertion per
durable identifier, so a copy whose manifest was stripped can be matched back to it:

* ``org.deepshield.watermark.1``: the 64-bit payload of DeepShield's invisible watermark (the label
  id), as 16 lowercase hex digits;
* ``org.deepshield.pdq.1``: the 256-bit PDQ perceptual hash, as 64 lowercase hex digits.

The DeepShield assertion (``org.deepshield.label``) also names the watermark key that made the
mark (``watermark_key_id``: ``public`` or a provider's 16-hex key id, docs/WATERMARK_KEYS.md), so
a reader attributes a mark only to labels of the key it was read with.

Values are hex *strings*, never integer arrays (c2pa's ``Reader.json()`` renders small-int arrays as
base64). Known deviation: C2PA defines the soft-binding ``value`` as a CBOR byte string; written
from JSON it is a text string (c2pa-rs issue #2689). c2pa readers accept it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from deepshield import __version__
from deepshield.errors import InvalidRequest

WATERMARK_BINDING_ALG = "org.deepshield.watermark.1"
PDQ_BINDING_ALG = "org.deepshield.pdq.1"
TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
LABEL_ASSERTION = "org.deepshield.label"
SOFT_BINDING_ASSERTION = "c2pa.soft-binding"
ACTIONS_ASSERTION = "c2pa.actions"
CREATED_ACTION = "c2pa.created"
#: C2PA 2.x: an invisible watermark was embedded and is bound to this manifest by a soft binding.
#: c2pa-python 0.38.1 (c2pa-rs 0.91.3) signs and reads it without complaint.
WATERMARKED_BOUND_ACTION = "c2pa.watermarked.bound"
#: Extra key in the created action's ``softwareAgent`` (a ClaimGeneratorInfo, which allows extra keys).
MODEL_KEY = "org.deepshield.model"

#: MIME types DeepShield signs (c2pa supports more for reading).
SIGNABLE_MIME_TYPES = ("image/jpeg", "image/png", "image/webp", "video/mp4")

_LABEL_ID = re.compile(r"[0-9a-f]{16}")
_WATERMARK_KEY_ID = re.compile(r"public|[0-9a-f]{16}")
_PDQ_HEX = re.compile(r"[0-9a-f]{64}")


def normalise_label_id(label_id: str) -> str:
    """The label id (watermark payload) as 16 lowercase hex digits; ``InvalidRequest`` otherwise."""
    value = label_id.strip().lower()
    if not _LABEL_ID.fullmatch(value):
        raise InvalidRequest(f"a label id is 16 hex digits (the 64-bit watermark payload), got {label_id!r}")
    return value


def normalise_pdq_hex(pdq_hex: str) -> str:
    """A PDQ hash as 64 lowercase hex digits; ``InvalidRequest`` otherwise."""
    value = pdq_hex.strip().lower()
    if not _PDQ_HEX.fullmatch(value):
        raise InvalidRequest(f"a PDQ hash is 64 hex digits (256 bits), got {pdq_hex!r}")
    return value


def format_timestamp(when: dt.datetime) -> str:
    """``when`` in UTC as ISO 8601 with a ``Z`` suffix (seconds precision)."""
    if when.tzinfo is None:
        raise InvalidRequest("created_at must be timezone-aware (for example datetime.now(UTC))")
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def soft_binding(alg: str, value: str) -> dict[str, Any]:
    """One ``c2pa.soft-binding`` assertion: a whole-asset block (empty scope) holding ``value``."""
    return {"label": SOFT_BINDING_ASSERTION, "data": {"alg": alg, "blocks": [{"scope": {}, "value": value}]}}


def region_block(region: tuple[float, float, float, float], value: str) -> dict[str, Any]:
    """A soft-binding block scoped to a rectangle given as fractions (x, y, width, height) of the
    image, written as C2PA's region of interest in percent."""
    x, y, width, height = (round(100 * part, 3) for part in region)
    shape = {"type": "rectangle", "unit": "percent", "origin": {"x": x, "y": y},
             "width": width, "height": height}
    return {"scope": {"region": {"region": [{"type": "spatial", "shape": shape}]}}, "value": value}


def timespan_block(seconds: float, value: str) -> dict[str, Any]:
    """A soft-binding block scoped to one instant of a video (C2PA timespan, milliseconds)."""
    at = max(0, round(seconds * 1000))
    return {"scope": {"timespan": {"start": at, "end": at}}, "value": value}


def build_manifest_definition(
    *,
    label_id: str,
    generator: str,
    model: str | None,
    created_at: dt.datetime,
    pdq_hex: str | None,
    title: str,
    format: str,
    visible_label: str | None = None,
    pdq_regions: Sequence[tuple[tuple[float, float, float, float], str]] = (),
    pdq_frames: Sequence[tuple[float, str]] = (),
    watermark_key_id: str = "public",
    size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The c2pa ``Builder`` manifest definition for one piece of AI output.

    ``generator`` names the generating system (it becomes the created action's ``softwareAgent``),
    ``model`` the model inside it, ``format`` the asset's MIME type, ``visible_label`` the text of the
    visible AI label when one was drawn. ``pdq_regions`` adds region-scoped blocks to the PDQ soft
    binding: the PDQ hashes of crops of the image (``signals.repost.region_hashes``), so a cropped
    copy can still be compared with what was signed. ``pdq_frames`` does the same for a video:
    (seconds, PDQ) of its sampled frames, as timespan-scoped blocks. Thumbnails are not part of
    the definition; the signer turns them off (they would add about 45 kB to every file).
    ``watermark_key_id`` names the key the watermark was made with (``public``, or a provider's
    key id), signed in the ``org.deepshield.label`` assertion, with ``size`` (width, height in
    pixels, of an image): where a copy's watermark places it in the output, the regions are
    compared by that (``signals.placed_regions``).
    """
    mime = format.strip().lower()
    if mime not in SIGNABLE_MIME_TYPES:
        raise InvalidRequest(
            f"cannot add Content Credentials to {format!r}; supported are {', '.join(SIGNABLE_MIME_TYPES)}"
        )
    if not generator.strip():
        raise InvalidRequest("the generator name must not be empty")
    label = normalise_label_id(label_id)
    if not isinstance(watermark_key_id, str) or not _WATERMARK_KEY_ID.fullmatch(watermark_key_id):
        raise InvalidRequest("a watermark key id is 'public' or 16 lowercase hex digits")
    pdq = normalise_pdq_hex(pdq_hex) if pdq_hex is not None else None
    when = format_timestamp(created_at)

    agent: dict[str, Any] = {"name": generator}
    if model:
        agent[MODEL_KEY] = model
    created: dict[str, Any] = {
        "action": CREATED_ACTION,
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "when": when,
        "description": f"Generated by {generator}" + (f" with model {model}" if model else ""),
    }
    watermarked: dict[str, Any] = {
        "action": WATERMARKED_BOUND_ACTION,
        "softwareAgent": {"name": "DeepShield", "version": __version__},
        "when": when,
        "description": "DeepShield invisible watermark embedded; its payload is the "
                       f"{WATERMARK_BINDING_ALG} soft binding",
    }
    assertions: list[dict[str, Any]] = [
        {"label": ACTIONS_ASSERTION, "data": {"actions": [created, watermarked]}},
        soft_binding(WATERMARK_BINDING_ALG, label),
    ]
    if pdq is not None:
        pdq_binding = soft_binding(PDQ_BINDING_ALG, pdq)
        pdq_binding["data"]["blocks"] += [region_block(region, normalise_pdq_hex(value))
                                          for region, value in pdq_regions]
        pdq_binding["data"]["blocks"] += [timespan_block(seconds, normalise_pdq_hex(value))
                                          for seconds, value in pdq_frames]
        assertions.append(pdq_binding)
    assertions.append({
        "label": LABEL_ASSERTION,
        "data": {
            "label_id": label,
            "watermark_key_id": watermark_key_id,
            "generator": generator,
            "model": model,
            "created_at": when,
            "visible_label": visible_label,
            **({"width": int(size[0]), "height": int(size[1])} if size is not None else {}),
        },
    })
    return {
        "claim_generator_info": [{"name": "DeepShield", "version": __version__}],
        "title": title,
        "format": mime,
        "assertions": assertions,
    }
