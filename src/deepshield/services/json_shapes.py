"""Plain-dict views of results, shared by the CLI's ``--json`` output and the HTTP API."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from deepshield.signals.repost import HASH_SET_VERSION

if TYPE_CHECKING:  # names for annotations only: `deepshield hash` must not load the store
    from deepshield.services.api_keys import KeyInfo
    from deepshield.services.spread.banks import BankInfo, EntryInfo
    from deepshield.services.spread.hashing import MediaSignals
    from deepshield.services.spread.live_index import Match


def media_signals_json(media: MediaSignals, min_quality: int) -> dict[str, Any]:
    view: dict[str, Any] = {
        "kind": media.kind.value,
        "format": media.format,
        "width": media.width,
        "height": media.height,
        "pdq": media.pdq.hex if media.pdq else None,
        "quality": media.pdq.quality if media.pdq else None,
        "md5": media.md5,
        "sha256": media.sha256,
    }
    warnings = []
    if media.pdq is not None and media.pdq.quality < min_quality:
        warnings.append(
            f"PDQ quality {media.pdq.quality} is below {min_quality}: banks refuse this hash"
        )
    if media.pdq_hash_set:
        view["hash_set"] = {
            "version": HASH_SET_VERSION,
            "pdq": [{"variant": name, "pdq": h.hex, "quality": h.quality}
                    for name, h in media.pdq_hash_set if h.quality >= min_quality],
        }
    if media.vpdq or media.duration_s is not None:
        view["duration_s"] = media.duration_s
        view["vpdq"] = [asdict(feature) for feature in media.vpdq]
    view["warnings"] = warnings
    return view


def match_json(match: Match) -> dict[str, Any]:
    view: dict[str, Any] = {
        "bank": match.bank,
        "entry_id": match.entry_id,
        "signal_type": match.signal_type,
        "distance": match.distance,
        "variant": match.variant,
    }
    if match.query_match_pct is not None:
        view["query_match_pct"] = match.query_match_pct
        view["compared_match_pct"] = match.compared_match_pct
    return view


def bank_json(bank: BankInfo) -> dict[str, Any]:
    return {
        "name": bank.name,
        "description": bank.description,
        "created_at": bank.created_at.isoformat(),
        "active_entries": bank.active_entries,
    }


def entry_json(entry: EntryInfo) -> dict[str, Any]:
    return {
        "id": entry.id,
        "bank": entry.bank,
        "signal_type": entry.signal_type,
        "quality": entry.quality,
        "origin": entry.origin,
        "case_ref": entry.case_ref,
        "created_at": entry.created_at.isoformat(),
        "withdrawn_at": entry.withdrawn_at.isoformat() if entry.withdrawn_at else None,
        "enabled": entry.enabled,
        "created": entry.created,
    }


def key_json(key: KeyInfo) -> dict[str, Any]:
    return {
        "key_id": key.key_id,
        "role": key.role,
        "label": key.label,
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
    }
