"""The "Show" flow over HTTP: an admin makes a bank, a helpline files photos, a platform matches.

Photo A is filed by multipart upload, photo B by JSON signals; the platform's copies are
re-encoded, resized, rotated or unrelated photos, as a repost would be.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from deepshield.services.access import Role
from deepshield.store import audit_repository
from factories import encode_image, photo_pixels

BANK = "ncii-helpline"
PDQ_THRESHOLD = 31


@dataclass(frozen=True)
class Photos:
    original_a: bytes
    recompressed_a: bytes  # JPEG quality 50
    resized_a: bytes  # half size
    rotated_a: bytes  # rotated by 90 degrees
    original_b: bytes
    recompressed_b: bytes
    unrelated: tuple[bytes, ...]


@pytest.fixture(scope="module")
def photos() -> Photos:
    pixels_a, pixels_b = photo_pixels(101), photo_pixels(202)
    half = np.asarray(Image.fromarray(pixels_a).resize((320, 240), Image.Resampling.LANCZOS))
    return Photos(
        original_a=encode_image(pixels_a, "JPEG", quality=92),
        recompressed_a=encode_image(pixels_a, "JPEG", quality=50),
        resized_a=encode_image(half, "PNG"),
        rotated_a=encode_image(np.ascontiguousarray(np.rot90(pixels_a)), "JPEG", quality=90),
        original_b=encode_image(pixels_b, "PNG"),
        recompressed_b=encode_image(pixels_b, "JPEG", quality=50),
        unrelated=tuple(encode_image(photo_pixels(seed), "JPEG", quality=85) for seed in (303, 404, 505)),
    )


@dataclass(frozen=True)
class Filed:
    pdq_entry_a: int
    pdq_entry_b: int
    pdq_hex_b: str


@pytest.fixture
def filed(api, photos) -> Filed:
    """The bank with photo A (uploaded) and photo B (its hashes sent as JSON) in it."""
    api.create_bank(BANK)
    uploaded = api.upload(f"/v1/banks/{BANK}/entries", photos.original_a, Role.HELPLINE,
                          case_ref="HL-2024-001")
    assert uploaded.status_code == 201, uploaded.text
    entries_a = {entry["signal_type"]: entry for entry in uploaded.json()["entries"]}
    assert set(entries_a) == {"pdq", "md5", "sha256"}
    assert all(entry["case_ref"] == "HL-2024-001" and entry["origin"] == "helpline"
               for entry in entries_a.values())

    hashed_b = api.upload("/v1/hash", photos.original_b, Role.HELPLINE).json()
    sent = api.post_json(f"/v1/banks/{BANK}/entries", {"signals": [
        {"type": "pdq", "value": hashed_b["pdq"], "quality": hashed_b["quality"]},
        {"type": "md5", "value": hashed_b["md5"].upper()},
    ], "origin": "victim_device"}, Role.HELPLINE)
    assert sent.status_code == 201, sent.text
    entries_b = {entry["signal_type"]: entry for entry in sent.json()["entries"]}
    assert set(entries_b) == {"pdq", "md5"} and all(e["created"] for e in entries_b.values())
    assert api.active_entries() == {BANK: 5}
    return Filed(entries_a["pdq"]["id"], entries_b["pdq"]["id"], hashed_b["pdq"])


def _pdq_match(matches: list[dict], entry_id: int) -> dict | None:
    found = [m for m in matches if m["entry_id"] == entry_id]
    assert len(found) <= 1, "one row per matched entry"
    return found[0] if found else None


def test_recompressed_and_resized_copies_of_an_uploaded_photo_match(api, photos, filed):
    for copy in (photos.recompressed_a, photos.resized_a):
        match = _pdq_match(api.match_upload(copy), filed.pdq_entry_a)
        assert match is not None
        assert match["bank"] == BANK and match["signal_type"] == "pdq"
        assert 0 <= match["distance"] <= PDQ_THRESHOLD
        assert match["variant"] == "original"


def test_the_exact_upload_matches_its_pdq_md5_and_sha256_entries(api, photos, filed):
    matches = api.match_upload(photos.original_a)
    by_type = {m["signal_type"]: m for m in matches}
    assert set(by_type) == {"pdq", "md5", "sha256"}
    assert by_type["pdq"]["distance"] == 0
    assert by_type["md5"]["variant"] == by_type["sha256"]["variant"] == "exact"


def test_a_rotated_copy_matches_through_a_dihedral_variant(api, photos, filed):
    match = _pdq_match(api.match_upload(photos.rotated_a), filed.pdq_entry_a)
    assert match is not None and match["distance"] <= PDQ_THRESHOLD
    assert match["variant"] != "original"


def test_a_copy_of_a_photo_filed_by_json_signals_matches(api, photos, filed):
    match = _pdq_match(api.match_upload(photos.recompressed_b), filed.pdq_entry_b)
    assert match is not None and match["signal_type"] == "pdq" and match["variant"] == "original"


def test_unrelated_photos_match_nothing(api, photos, filed):
    for photo in photos.unrelated:
        assert api.match_upload(photo) == []


def test_json_pdq_signals_match_like_an_upload(api, photos, filed):
    copy_b = api.upload("/v1/hash", photos.recompressed_b, Role.PLATFORM).json()["pdq"]
    [match] = api.match_signals([{"type": "pdq", "value": copy_b.upper()}])
    assert match["entry_id"] == filed.pdq_entry_b and match["bank"] == BANK
    assert match["signal_type"] == "pdq" and match["distance"] <= PDQ_THRESHOLD
    unrelated = api.upload("/v1/hash", photos.unrelated[0], Role.PLATFORM).json()["pdq"]
    assert api.match_signals([{"type": "pdq", "value": unrelated}]) == []


def test_a_withdrawn_entry_stops_matching_at_once(api, photos, filed):
    assert _pdq_match(api.match_upload(photos.recompressed_a), filed.pdq_entry_a) is not None
    response = api.client.delete(f"/v1/banks/{BANK}/entries/{filed.pdq_entry_a}",
                                 headers=api.headers(Role.HELPLINE))
    assert response.status_code == 200, response.text
    assert response.json()["withdrawn_at"] is not None
    for copy in (photos.recompressed_a, photos.resized_a, photos.rotated_a):
        assert _pdq_match(api.match_upload(copy), filed.pdq_entry_a) is None
    # Only that entry went: photo B still matches, and the bank counts one fewer.
    assert _pdq_match(api.match_upload(photos.recompressed_b), filed.pdq_entry_b) is not None
    assert api.active_entries() == {BANK: 4}
    again = api.client.patch(f"/v1/banks/{BANK}/entries/{filed.pdq_entry_a}", json={"enabled": True},
                             headers=api.headers(Role.ADMIN))
    api.expect_error(again, 409, "conflict")
    assert _pdq_match(api.match_upload(photos.recompressed_a), filed.pdq_entry_a) is None


def test_disabling_an_entry_stops_matching_and_enabling_restores_it(api, photos, filed):
    url = f"/v1/banks/{BANK}/entries/{filed.pdq_entry_b}"
    disabled = api.client.patch(url, json={"enabled": False}, headers=api.headers(Role.ADMIN))
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert _pdq_match(api.match_upload(photos.recompressed_b), filed.pdq_entry_b) is None
    assert api.match_signals([{"type": "pdq", "value": filed.pdq_hex_b}]) == []
    assert api.active_entries() == {BANK: 4}

    enabled = api.client.patch(url, json={"enabled": True}, headers=api.headers(Role.ADMIN))
    assert enabled.status_code == 200 and enabled.json()["enabled"] is True
    assert _pdq_match(api.match_upload(photos.recompressed_b), filed.pdq_entry_b) is not None
    assert api.active_entries() == {BANK: 5}


def test_bank_writes_are_audit_logged_by_key_without_hash_values(api, photos, filed):
    hashed = api.upload("/v1/hash", photos.original_a, Role.ADMIN).json()
    api.match_upload(photos.recompressed_a)
    withdrawn = api.client.delete(f"/v1/banks/{BANK}/entries/{filed.pdq_entry_a}",
                                  headers=api.headers(Role.HELPLINE))
    assert withdrawn.status_code == 200
    with api.ctx.store.transaction() as session:
        events = [(e.actor, e.action, e.target, e.detail)
                  for e in audit_repository.recent_events(session, 1000)]

    actions_by_actor = {(actor, action) for actor, action, _, _ in events}
    assert (api.actor(Role.ADMIN), "bank.create") in actions_by_actor
    assert (api.actor(Role.HELPLINE), "bank.add") in actions_by_actor
    assert (api.actor(Role.HELPLINE), "bank.withdraw") in actions_by_actor
    assert (api.actor(Role.PLATFORM), "match") in actions_by_actor
    adds = [e for e in events if e[1] == "bank.add"]
    assert len(adds) == 2 and all(target == f"bank:{BANK}" for _, _, target, _ in adds)
    assert any(target == f"entry:{filed.pdq_entry_a}" for _, action, target, _ in events
               if action == "bank.withdraw")

    hash_values = {hashed["pdq"], hashed["md5"], hashed["sha256"], filed.pdq_hex_b}
    for actor, action, target, detail in events:
        text = f"{target} {detail}".lower()
        leaked = [value for value in hash_values if value in text]
        assert not leaked, f"audit row {actor} {action} holds a hash value"
