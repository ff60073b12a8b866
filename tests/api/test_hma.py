"""The HMA-compatible routes answer in HMA's shapes (OpenMediaMatch's blueprints), against real banks."""

from __future__ import annotations

import pytest

from api.conftest import Api
from deepshield.services.access import Role
from deepshield.services.spread.hashing import hash_media
from deepshield.settings import MediaLimits
from deepshield.signals.pdq import pdq_from_pixels
from factories import encode_image, photo_pixels

BANK_A, BANK_B = "bank-a", "bank-b"


@pytest.fixture
def filed(api: Api) -> dict[str, object]:
    """Photo 11 in bank A (by upload: PDQ, MD5, SHA-256); photo 12's PDQ in bank B."""
    api.create_bank(BANK_A)
    api.create_bank(BANK_B)
    photo = encode_image(photo_pixels(11), "JPEG", quality=92)
    response = api.upload(f"/v1/banks/{BANK_A}/entries", photo, Role.HELPLINE)
    assert response.status_code == 201, response.text
    signals = hash_media(photo, MediaLimits())
    entries = {e["signal_type"]: {"entry_id": e["id"]} for e in response.json()["entries"]}
    entries["pdq"]["value"], entries["md5"]["value"] = signals.pdq.hex, signals.md5
    other = pdq_from_pixels(photo_pixels(12)).hex
    response = api.post_json(f"/v1/banks/{BANK_B}/entries",
                             {"signals": [{"type": "pdq", "value": other}]}, Role.HELPLINE)
    assert response.status_code == 201, response.text
    return {"photo": photo, "pdq": entries["pdq"], "md5": entries["md5"],
            "other_id": response.json()["entries"][0]["id"], "other": other}


def _flip(hex_hash: str, bits: int) -> str:
    value = int(hex_hash, 16) ^ ((1 << bits) - 1)
    return f"{value:064x}"


def test_lookup_by_hash_answers_bank_to_content_ids_with_distances(api: Api, filed):
    near = _flip(filed["pdq"]["value"], 5)
    response = api.client.get("/m/lookup", params={"signal_type": "pdq", "signal": near},
                              headers=api.headers(Role.PLATFORM))
    assert response.status_code == 200, response.text
    assert response.json() == {BANK_A: [{"bank_content_id": filed["pdq"]["entry_id"], "distance": "5"}]}
    restricted = api.client.get("/m/lookup", params={"signal_type": "pdq", "signal": near, "banks": BANK_B},
                                headers=api.headers(Role.PLATFORM))
    assert restricted.json() == {}
    md5 = api.client.get("/m/lookup", params={"signal_type": "video_md5", "signal": filed["md5"]["value"]},
                         headers=api.headers(Role.PLATFORM))
    assert md5.json() == {BANK_A: [{"bank_content_id": filed["md5"]["entry_id"], "distance": "0"}]}


def test_a_plain_pdq_entry_is_found_and_a_far_hash_is_not(api: Api, filed):
    found = api.client.get("/m/lookup", params={"signal_type": "pdq", "signal": filed["other"]},
                           headers=api.headers(Role.PLATFORM)).json()
    assert found == {BANK_B: [{"bank_content_id": filed["other_id"], "distance": "0"}]}
    far = api.client.get("/m/lookup", params={"signal_type": "pdq", "signal": _flip(filed["other"], 40)},
                         headers=api.headers(Role.PLATFORM)).json()
    assert far == {}


def test_lookup_by_file_hashes_and_matches_in_one_step(api: Api, filed):
    response = api.client.post("/m/lookup", files={"photo": ("a.jpg", filed["photo"], "image/jpeg")},
                               headers=api.headers(Role.PLATFORM))
    assert response.status_code == 200, response.text
    assert response.json() == {"pdq": {BANK_A: [{"bank_content_id": filed["pdq"]["entry_id"],
                                                 "distance": "0"}]}}


def test_hash_a_file_returns_the_pdq_and_a_url_is_refused(api: Api, filed):
    response = api.client.post("/h/hash", files={"photo": ("a.jpg", filed["photo"], "image/jpeg")},
                               headers=api.headers(Role.PLATFORM))
    assert response.status_code == 200, response.text
    assert response.json() == {"pdq": filed["pdq"]["value"]}
    refused = api.client.get("/h/hash", params={"url": "http://example.invalid/a.jpg"},
                             headers=api.headers(Role.PLATFORM))
    body = api.expect_error(refused, 403, "forbidden")
    assert "no outbound fetches" in body["detail"]
    refused = api.client.get("/m/lookup", params={"url": "http://example.invalid/a.jpg"},
                             headers=api.headers(Role.PLATFORM))
    api.expect_error(refused, 403, "forbidden")


def test_raw_lookup_and_index_status(api: Api, filed):
    params = {"signal_type": "pdq", "signal": filed["pdq"]["value"]}
    raw = api.client.get("/m/raw_lookup", params=params, headers=api.headers(Role.PLATFORM)).json()
    assert raw == {"matches": [filed["pdq"]["entry_id"]]}
    raw = api.client.get("/m/raw_lookup", params={**params, "include_distance": "true"},
                         headers=api.headers(Role.PLATFORM)).json()
    assert raw == {"matches": [{"bank_content_id": filed["pdq"]["entry_id"], "distance": "0"}]}
    status = api.client.get("/m/index/status", headers=api.headers(Role.PLATFORM))
    assert status.status_code == 200, status.text
    body = status.json()
    assert set(body) == {"pdq", "video_md5"}
    assert body["pdq"]["present"] is True and body["pdq"]["size"] == 2 and body["pdq"]["built_to"] > 0
    assert body["video_md5"]["size"] == 1
    one = api.client.get("/m/index/status", params={"signal_type": "pdq"}, headers=api.headers(Role.PLATFORM))
    assert set(one.json()) == {"pdq"}


def test_status_needs_no_key_and_says_alive(api: Api):
    response = api.client.get("/status")
    assert response.status_code == 200 and response.text == "I-AM-ALIVE"


def test_bad_requests_get_clear_errors(api: Api, filed):
    headers = api.headers(Role.PLATFORM)
    api.expect_error(api.client.get("/m/lookup", params={"signal_type": "tmk", "signal": "ab"},
                                    headers=headers), 400, "invalid_signal")
    api.expect_error(api.client.get("/m/lookup", params={"signal_type": "pdq", "signal": "xyz"},
                                    headers=headers), 400, "invalid_signal")
    api.expect_error(api.client.get("/m/lookup", params={"signal_type": "pdq"}, headers=headers),
                     400, "invalid_request")
    api.expect_error(api.client.get("/m/index/status", params={"signal_type": "tmk"}, headers=headers),
                     400, "invalid_signal")
    api.expect_error(api.client.post("/m/lookup", files={"other": ("a.jpg", b"x", "image/jpeg")},
                                     headers=headers), 400, "invalid_request")


@pytest.mark.parametrize("path", ["/m/lookup?signal_type=pdq&signal=00",
                                  "/m/raw_lookup?signal_type=pdq&signal=00", "/m/index/status", "/h/hash"])
def test_every_route_but_status_needs_a_key(api: Api, path):
    api.expect_error(api.client.get(path), 401, "unauthorized")
