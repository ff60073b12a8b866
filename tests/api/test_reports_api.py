"""The report routes over HTTP: evidence packs for a case (key or the victim's case number and PIN)
and for an uploaded file, the public check, and the transparency report as JSON or CSV."""

from __future__ import annotations

import csv
import hashlib
import io
from typing import Any

import pytest

from api.conftest import basic
from case_forms import request_form
from comparison_pictures import comparison_pictures
from deepshield.errors import Forbidden
from deepshield.forensics.comparison import METHOD_VERSION
from deepshield.services import reporting
from deepshield.services.access import Role
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.spread.hashing import hash_media
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import victim_access
from deepshield.services.verify.source_comparison import KNOWN_LIMITS
from deepshield.settings import Settings
from deepshield.store import audit_repository
from factories import encode_image, photo_pixels
from principals import SETUP

EMAIL = "jane@example.org"


def _photo(seed: int) -> bytes:
    return encode_image(photo_pixels(seed, 640, 480), "JPEG", quality=92)


@pytest.fixture
def keyed_api(start_api, cheap_kdf_settings):
    api = start_api(cheap_kdf_settings)
    init_signing_keys(api.ctx, force=False, principal=SETUP)
    return api


def _check(api, pdf: bytes, headers: dict[str, str] | None = None):
    return api.client.post("/v1/reports/check", files={"file": ("pack.pdf", pdf, "application/pdf")},
                           headers=headers or {})


def test_a_file_pack_comes_back_signed_and_checks_valid_without_a_key(keyed_api):
    api = keyed_api
    data = _photo(1)
    response = api.upload("/v1/reports/file", data, Role.HELPLINE)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    pdf = response.content
    assert pdf.startswith(b"%PDF-") and data not in pdf
    checked = _check(api, pdf)
    assert checked.status_code == 200, checked.text
    body = checked.json()
    assert body["valid"] and body["intact"] and body["trusted"] and body["problems"] == []
    assert body["evidence"]["hashes"][-1] == {"signal_type": "sha256", "value": hash_media(
        data, api.ctx.settings.limits).sha256, "quality": None, "origin": None, "note": ""}
    tampered = bytearray(pdf)
    position = pdf.index(b"stream\n") + 12
    tampered[position] ^= 0x01
    body = _check(api, bytes(tampered), api.headers(Role.PLATFORM)).json()
    assert not body["valid"] and body["problems"]


def test_a_file_pack_with_a_source_adds_the_comparison_and_checks_valid(keyed_api):
    api = keyed_api
    pictures = comparison_pictures()
    response = api.client.post("/v1/reports/file", headers=api.headers(Role.PLATFORM), files={
        "file": ("suspect.jpg", pictures.edited, "image/jpeg"),
        "source": ("her_photo.jpg", pictures.source, "image/jpeg")})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    pdf = response.content
    assert pictures.edited not in pdf and pictures.source not in pdf
    body = _check(api, pdf).json()
    assert body["valid"] and body["problems"] == [], body
    comparison = body["evidence"]["comparison"]
    assert comparison["outcome"] == "derived_local_difference"
    assert comparison["source_name"] == "her_photo.jpg"
    assert comparison["method"] == METHOD_VERSION and comparison["limits"] == list(KNOWN_LIMITS)
    assert comparison["source_sha256"] == hashlib.sha256(pictures.source).hexdigest()
    assert "her_photo.jpg" in comparison["summary"] and len(comparison["regions"]) == 1


def test_a_source_that_cannot_be_compared_makes_no_pack(keyed_api):
    api = keyed_api
    pictures = comparison_pictures()
    for source, status, words in ((b"", 400, "source file is empty"),
                                  (b"just some words", 415, "suspected source (notes.txt)")):
        response = api.client.post("/v1/reports/file", headers=api.headers(Role.HELPLINE), files={
            "file": ("suspect.jpg", pictures.edited, "image/jpeg"),
            "source": ("notes.txt", source, "text/plain")})
        body = api.expect_error(response, status)
        assert words in body["detail"], body


def test_the_file_pack_documents_its_optional_source(keyed_api):
    schema = keyed_api.client.get("/openapi.json").json()["paths"]["/v1/reports/file"]["post"][
        "requestBody"]["content"]["multipart/form-data"]["schema"]
    assert schema["required"] == ["file"] and set(schema["properties"]) == {"file", "source"}


def test_check_refuses_what_is_not_a_pdf(keyed_api):
    keyed_api.expect_error(_check(keyed_api, b"just some text"), 400, "invalid_request")


def test_packs_need_signing_keys(api):
    response = api.upload("/v1/reports/file", _photo(2), Role.ADMIN)
    body = api.expect_error(response, 404, "signing_keys_missing")
    assert "deepshield keys init" in body["detail"]


def test_a_partner_may_not_make_packs(keyed_api):
    keyed_api.expect_error(keyed_api.upload("/v1/reports/file", _photo(3), Role.PARTNER), 403)


def _form(seed: int) -> dict[str, Any]:
    """A victim's complete request with the SHA-256 of photo ``seed``, and a contact (``EMAIL``)
    that only an admin's pack shows."""
    media = hash_media(_photo(seed), Settings().limits)
    return request_form(hashes=[{"type": "sha256", "value": media.sha256}], contact={"email": EMAIL},
                        safety_check={"in_immediate_danger": False})


def test_a_victim_gets_her_own_case_pack_with_her_case_number_and_pin(keyed_api):
    api = keyed_api
    filed = case_intake.file_request(api.ctx, _form(4), None)
    other = case_intake.file_request(api.ctx, _form(5), None)
    number = filed.case.case_number
    response = api.client.get(f"/v1/cases/{number}/report", headers=basic(number, filed.pin))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert number in response.headers["content-disposition"]
    evidence = _check(api, response.content).json()["evidence"]
    assert evidence["case_number"] == number and evidence["contact"] is None
    # Her PIN opens no other case, and asks for no contact details.
    api.expect_error(api.client.get(f"/v1/cases/{other.case.case_number}/report",
                                    headers=basic(number, filed.pin)), 404)
    api.expect_error(api.client.get(f"/v1/cases/{number}/report", headers=basic(number, "00000000")), 401)


def test_a_victims_case_number_and_pin_make_no_file_pack(keyed_api):
    # Issue 12, Fix 9: her credentials reach her case (and its pack), not the installation's
    # signature on any file she uploads. The service refuses too, whatever the door.
    api = keyed_api
    filed = case_intake.file_request(api.ctx, _form(8), None)
    victim = basic(filed.case.case_number, filed.pin)
    response = api.client.post("/v1/reports/file", headers=victim,
                               files={"file": ("p.jpg", _photo(8), "image/jpeg")})
    api.expect_error(response, 401, "unauthorized")
    principal = victim_access.victim_principal(api.ctx, filed.case.case_number, filed.pin)
    with pytest.raises(Forbidden):
        reporting.evidence_for_file(api.ctx, _photo(8), principal)
    with api.ctx.store.transaction() as session:
        kinds = [event.detail for event in audit_repository.recent_events(session, 1000)
                 if event.action == "report.evidence"]
    assert not kinds, "a refused file pack was logged as made"
    own = api.client.get(f"/v1/cases/{filed.case.case_number}/report", headers=victim)
    assert own.status_code == 200, own.text


def test_contact_details_only_for_an_admin(keyed_api):
    api = keyed_api
    number = case_intake.file_request(api.ctx, _form(6), None).case.case_number
    path = f"/v1/cases/{number}/report?include_contact=true"
    api.expect_error(api.client.get(path, headers=api.headers(Role.PLATFORM)), 403)
    response = api.client.get(path, headers=api.headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    assert _check(api, response.content).json()["evidence"]["contact"]["contact_email"] == EMAIL
    api.expect_error(api.client.get(f"/v1/cases/{number}/report", headers=api.headers(Role.PARTNER)), 403)


def test_the_transparency_report_as_json_and_csv(keyed_api):
    api = keyed_api
    case_intake.file_request(api.ctx, _form(7), None)
    response = api.client.get("/v1/reports/transparency", headers=api.headers(Role.HELPLINE))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["cases"]["received"] == 1 and report["cases"]["by_source"] == {"public": 1}
    response = api.client.get("/v1/reports/transparency?format=csv&since=2000-01-01",
                              headers=api.headers(Role.PLATFORM))
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    table = {(row["metric"], row["dimension"]): row["value"]
             for row in csv.DictReader(io.StringIO(response.text))}
    assert table[("cases.received", "")] == "1"
    assert table[("period.from", "")] == "2000-01-01T00:00:00+00:00"
    assert "jane" not in response.text.lower()
    api.expect_error(api.client.get("/v1/reports/transparency?format=xml", headers=api.headers(Role.ADMIN)),
                     400, "invalid_request")
    api.expect_error(api.client.get("/v1/reports/transparency?since=yesterday",
                                    headers=api.headers(Role.ADMIN)), 400)
    api.expect_error(api.client.get("/v1/reports/transparency", headers=api.headers(Role.PARTNER)), 403)
    api.expect_error(api.client.get("/v1/reports/transparency"), 401)
