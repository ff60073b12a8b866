"""Takedown cases over HTTP: intake, the queue, review, appeals, withdrawal, misuse, bad bodies.

Every test runs on a fresh SQLite and PostgreSQL database (the shared ``settings`` fixture)
with a cheap PIN KDF, so PIN checks are fast.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from api.conftest import basic
from case_forms import request_form
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services.access import NOT_VISIBLE, Principal, Role
from deepshield.services.api_keys import create_key
from deepshield.services.spread import content_registry
from deepshield.services.spread.banks import SignalInput
from deepshield.store.models import AuditEvent, Case, CaseContact, CaseLocation
from factories import encode_image, photo_pixels
from principals import SETUP

CASE_NUMBER = re.compile(r"^DS-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}$")
EMAIL = "survivor-7f3a@example.org"
SIGNATURE = "Alex Example"


def complete_form(**changes: Any) -> dict[str, Any]:
    """A complete, valid adult request about a US platform (a 48-hour removal clock), with a URL
    and an item id, signed ``SIGNATURE`` and reachable at ``EMAIL``; no hashes."""
    return request_form(**{
        "signature": {"name": SIGNATURE, "statement_ticked": True},
        "locations": [{"url": "https://platform.example/p/123"}, {"item_id": "item-123"}],
        "contact": {"email": EMAIL},
        "jurisdiction": {"depicted_person_country": "US", "platform_countries": ["US"]},
        "safety_check": {"in_immediate_danger": False},
        **changes,
    })


def file_case(api: Any, form: dict[str, Any] | None = None, role: Role = Role.HELPLINE,
              **headers: str) -> dict[str, Any]:
    response = api.client.post("/v1/requests", json=form or complete_form(),
                               headers={**api.headers(role), **headers})
    assert response.status_code == 201, response.text
    return response.json()


def _count(api: Any, model: type) -> int:
    with api.ctx.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _counts(api: Any) -> tuple[int, int, int, int]:
    return (_count(api, Case), _count(api, CaseContact), _count(api, CaseLocation), _count(api, AuditEvent))


# --- Intake ---------------------------------------------------------------------------------


def test_helpline_files_a_complete_request_and_gets_the_case_number_and_pin_once(case_api):
    filed = file_case(case_api)
    case, pin = filed["case"], filed["pin"]
    assert CASE_NUMBER.match(case["case_number"]), case["case_number"]
    assert re.fullmatch(r"\d{8}", pin)
    assert case["state"] == "valid" and case["missing"] == [] and case["referral"] is None
    assert "US" in case["jurisdictions"]
    us_remove = [c for c in case["clocks"] if c["jurisdiction"] == "US" and c["duty"] == "remove"]
    assert len(us_remove) == 1
    # ISO dates, and the clock runs 48 hours from the complete request.
    started = datetime.fromisoformat(us_remove[0]["started_at"])
    due = datetime.fromisoformat(us_remove[0]["due_at"])
    assert (due - started).total_seconds() == pytest.approx(48 * 3600, abs=1)
    # The case view never holds contact details or the PIN; reading it again gives no PIN.
    shown = case_api.client.get(f"/v1/cases/{case['case_number']}", headers=case_api.headers(Role.ADMIN))
    assert shown.status_code == 200, shown.text
    for text in (json.dumps(filed["case"]), shown.text):
        assert EMAIL not in text and SIGNATURE not in text and pin not in text


def test_a_victim_files_without_a_key_and_an_incomplete_request_lists_what_is_missing(case_api):
    form = complete_form()
    del form["contact"], form["good_faith"]
    response = case_api.client.post("/v1/requests/public", json=form)
    assert response.status_code == 201, response.text
    filed = response.json()
    case = filed["case"]
    assert case["state"] == "incomplete" and case["clocks"] == [] and case["due_at"] is None
    assert any(line.startswith("good_faith") for line in case["missing"]), case["missing"]
    assert any(line.startswith("contact.email") for line in case["missing"]), case["missing"]
    # The victim completes it with her case number and PIN; the clocks start then.
    patched = case_api.client.patch(f"/v1/cases/{case['case_number']}",
                                    json={"good_faith": True, "contact": {"email": EMAIL}},
                                    headers=basic(case["case_number"], filed["pin"]))
    assert patched.status_code == 200, patched.text
    completed = patched.json()
    assert completed["state"] == "valid" and completed["missing"] == []
    assert completed["completed_at"] and completed["due_at"] and completed["clocks"]


def test_a_retry_with_the_same_idempotency_key_files_nothing_twice_and_shows_no_pin(case_api):
    first = file_case(case_api, **{"Idempotency-Key": "retry-0001"})
    second = file_case(case_api, **{"Idempotency-Key": "retry-0001"})
    assert second["case"]["case_number"] == first["case"]["case_number"]
    assert first["pin"] and second["pin"] is None
    assert _count(case_api, Case) == 1
    bad = case_api.client.post("/v1/requests", json=complete_form(),
                               headers={**case_api.headers(Role.HELPLINE),
                                        "Idempotency-Key": "has spaces and /slashes/"})
    case_api.expect_error(bad, 400, "invalid_request")


def test_a_keyless_filer_must_use_a_long_random_idempotency_key(case_api):
    # Keyless filers share one scope: a short key could be guessed to read another's case.
    def public(key: str) -> Any:
        return case_api.client.post("/v1/requests/public", json=complete_form(),
                                    headers={"Idempotency-Key": key})

    assert "16" in case_api.expect_error(public("1"), 400, "invalid_request")["detail"]
    key = "4f0c1d52-9b7e-4c1a-8f43-2d6b8e0a7c19"
    first, again = public(key), public(key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["case"]["case_number"] == first.json()["case"]["case_number"]
    assert first.json()["pin"] and again.json()["pin"] is None
    assert _count(case_api, Case) == 1


def test_an_under_18_request_is_referred_to_take_it_down_not_handled(case_api):
    response = case_api.client.post("/v1/requests/public",
                                    json=complete_form(age_check={"depicted_under_18": True}))
    assert response.status_code == 201, response.text
    case = response.json()["case"]
    assert case["state"] == "referred"
    assert "Take It Down" in case["referral"]
    assert case["clocks"] == [] and case["hash_count"] == 0


def test_public_filing_is_rate_limited_per_address(case_api):
    case_api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=1, burst=2)
    for _ in range(2):
        assert case_api.client.post("/v1/requests/public", json=complete_form()).status_code == 201
    refused = case_api.client.post("/v1/requests/public", json=complete_form())
    case_api.expect_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert _count(case_api, Case) == 2


def test_empty_public_filings_stop_at_the_daily_cap_per_address(case_api):
    """``{}`` files an incomplete case with a PIN; one address gets 5 a day, not a free write each."""
    cap = case_api.ctx.settings.cases.public_cases_per_address_per_day
    assert cap == 5
    for _ in range(cap):
        filed = case_api.client.post("/v1/requests/public", json={})
        assert filed.status_code == 201, filed.text
        assert filed.json()["case"]["state"] == "incomplete" and filed.json()["pin"]
    refused = case_api.client.post("/v1/requests/public", json={})
    body = case_api.expect_error(refused, 429, "rate_limited")
    assert "new requests today" in body["detail"] and "case number and PIN" in body["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 86_401
    assert _count(case_api, Case) == cap
    # A key's filings are not the public door's: a helpline still files.
    assert file_case(case_api)["pin"]


# --- The queue and review -------------------------------------------------------------------


def test_queue_and_due_list_show_the_case_with_its_time_remaining(case_api):
    number = file_case(case_api)["case"]["case_number"]
    queue = case_api.client.get("/v1/cases?state=valid", headers=case_api.headers(Role.PLATFORM))
    assert queue.status_code == 200, queue.text
    assert [case["case_number"] for case in queue.json()] == [number]
    assert case_api.client.get("/v1/cases?state=closed",
                               headers=case_api.headers(Role.PLATFORM)).json() == []
    due = case_api.client.get("/v1/cases/due?hours=49", headers=case_api.headers(Role.PLATFORM))
    assert due.status_code == 200, due.text
    items = [item for item in due.json() if item["case_number"] == number]
    assert items, due.json()
    assert all(0 < item["remaining_s"] <= 49 * 3600 for item in items)
    assert [item["due_at"] for item in due.json()] == sorted(item["due_at"] for item in due.json())
    assert not any(item["breached"] for item in items)
    soon = case_api.client.get("/v1/cases/due?hours=1", headers=case_api.headers(Role.PLATFORM)).json()
    assert not [item for item in soon if item["duty"] == "remove"]
    for query in ("hours=-1", "hours=abc", "hours=100000"):
        case_api.expect_error(case_api.client.get(f"/v1/cases/due?{query}",
                                                  headers=case_api.headers(Role.PLATFORM)), 422)
    case_api.expect_error(case_api.client.get("/v1/cases?limit=0", headers=case_api.headers(Role.ADMIN)), 422)


def test_reviewer_acknowledges_pauses_resumes_and_removes_and_the_sweep_lists_copies(case_api):
    photo = encode_image(photo_pixels(21), "JPEG", quality=90)
    pdq = content_registry.hash_for_registration(case_api.ctx, photo).pdq
    assert pdq is not None
    content_registry.register_items(case_api.ctx, [
        content_registry.ContentItemInput("copy-1", [SignalInput("pdq", pdq.hex, pdq.quality)], "uploader-9"),
    ], Principal("test:platform", Role.PLATFORM))
    form = complete_form(hashes=[{"type": "pdq", "value": pdq.hex, "quality": pdq.quality}])
    number = file_case(case_api, form)["case"]["case_number"]
    platform = case_api.headers(Role.PLATFORM)
    base = f"/v1/cases/{number}"

    acknowledged = case_api.client.post(f"{base}/acknowledge", headers=platform)
    assert acknowledged.status_code == 200, acknowledged.text
    assert acknowledged.json()["acknowledged_at"]
    paused = case_api.client.post(f"{base}/pause", json={"reason": "asked the requester for the URL"},
                                  headers=platform)
    assert paused.status_code == 200, paused.text
    assert paused.json()["pauses"][-1]["reason"] == "asked the requester for the URL"
    assert paused.json()["pauses"][-1]["ended_at"] is None
    resumed = case_api.client.post(f"{base}/resume", headers=platform)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["pauses"][-1]["ended_at"]

    decided = case_api.client.post(f"{base}/decision", headers=platform, json={
        "decision": "removed", "reasons": "Non-consensual intimate image.", "uploader_ref": "uploader-9"})
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["case"]["state"] == "actioned" and body["case"]["decision"] == "removed"
    assert body["case"]["decision_automated"] is False
    hits = body["sweep"]["hits"]
    assert [(hit["item_id"], hit["distance"]) for hit in hits] == [("copy-1", 0)]
    assert hits[0]["status"] in ("flagged", "removed")
    assert "case_id" not in body["sweep"], "the internal case id leaked"
    assert pdq.hex not in decided.text, "a hash value leaked into the decision"

    closed = case_api.client.post(f"{base}/close", json={"reason": "removed and swept"}, headers=platform)
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed" and closed.json()["closed_at"]
    again = case_api.client.post(f"{base}/decision", headers=platform,
                                 json={"decision": "declined", "reasons": "second thoughts"})
    case_api.expect_error(again, 409, "conflict")


def test_a_declined_request_has_no_sweep_and_an_unknown_decision_is_refused(case_api):
    number = file_case(case_api)["case"]["case_number"]
    platform = case_api.headers(Role.PLATFORM)
    wrong = case_api.client.post(f"/v1/cases/{number}/decision", headers=platform,
                                 json={"decision": "maybe", "reasons": "unsure"})
    assert 400 <= wrong.status_code < 500, wrong.text
    declined = case_api.client.post(f"/v1/cases/{number}/decision", headers=platform,
                                    json={"decision": "declined", "reasons": "Not intimate imagery.",
                                          "automated": True})
    assert declined.status_code == 200, declined.text
    assert declined.json()["sweep"] is None
    assert declined.json()["case"]["decision"] == "declined"
    assert declined.json()["case"]["decision_automated"] is True


def test_removing_a_case_whose_items_are_not_registered_succeeds_with_an_empty_sweep(case_api):
    # The named item was never registered with the platform's registry: nothing to sweep, but
    # the removal itself must succeed (and never answer with an internal case id).
    form = complete_form(locations=[{"item_id": "never-registered"}])
    number = file_case(case_api, form)["case"]["case_number"]
    decided = case_api.client.post(f"/v1/cases/{number}/decision", headers=case_api.headers(Role.PLATFORM),
                                   json={"decision": "removed", "reasons": "Non-consensual intimate image."})
    assert decided.status_code == 200, decided.text
    assert decided.json()["case"]["state"] == "actioned"
    assert decided.json()["sweep"] is None or decided.json()["sweep"]["hits"] == []


def test_an_appeal_goes_to_a_different_reviewer(case_api):
    filed = file_case(case_api, complete_form(locations=[{"url": "https://platform.example/p/5"}]))
    number, pin = filed["case"]["case_number"], filed["pin"]
    decided = case_api.client.post(f"/v1/cases/{number}/decision", headers=case_api.headers(Role.PLATFORM),
                                   json={"decision": "declined", "reasons": "Could not find the item."})
    assert decided.status_code == 200, decided.text
    appealed = case_api.client.post(f"/v1/cases/{number}/appeals", headers=basic(number, pin),
                                    json={"statement": "It is still at the URL I gave."})
    assert appealed.status_code == 201, appealed.text
    case = appealed.json()
    assert case["state"] == "appealed"
    appeal = case["appeals"][-1]
    assert appeal["filed_by_party"] == "requester" and appeal["outcome"] is None
    url = f"/v1/cases/{number}/appeals/{appeal['id']}/decision"
    same = case_api.client.post(url, headers=case_api.headers(Role.PLATFORM),
                                json={"outcome": "overturned", "reasons": "Found it at the URL."})
    case_api.expect_error(same, 403, "forbidden")
    other = case_api.client.post(url, headers=case_api.headers(Role.ADMIN),
                                 json={"outcome": "overturned", "reasons": "Found it at the URL."})
    assert other.status_code == 200, other.text
    assert other.json()["appeals"][-1]["outcome"] == "overturned"
    assert other.json()["appeals"][-1]["reviewer"] == case_api.actor(Role.ADMIN)
    missing = case_api.client.post(f"/v1/cases/{number}/appeals/999999/decision",
                                   headers=case_api.headers(Role.ADMIN),
                                   json={"outcome": "upheld", "reasons": "no such appeal anyway"})
    assert missing.status_code in (404, 409), missing.text


# --- Withdrawal, legal hold, contact ----------------------------------------------------------


def test_a_helpline_withdraws_at_once_only_when_it_confirms_and_can_stop_a_victims_cool_off(case_api):
    filed = file_case(case_api)
    number, pin = filed["case"]["case_number"], filed["pin"]
    helpline = case_api.headers(Role.HELPLINE)
    unconfirmed = case_api.client.post(f"/v1/cases/{number}/withdraw", headers=helpline)
    assert "confirm_now" in case_api.expect_error(unconfirmed, 400, "invalid_request")["detail"]
    # The victim's own request waits for the cool-off...
    pending = case_api.client.post(f"/v1/cases/{number}/withdraw", headers=basic(number, pin))
    assert pending.status_code == 200, pending.text
    assert pending.json()["withdraw_requested_at"] and pending.json()["withdrawn_at"] is None
    assert pending.json()["withdraw_effective_at"] > pending.json()["withdraw_requested_at"]
    assert pending.json()["state"] != "withdrawn"
    # ...and the helpline can cancel it (a coerced request), or confirm it at once.
    cancelled = case_api.client.post(f"/v1/cases/{number}/withdraw/cancel", headers=helpline)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["withdraw_requested_at"] is None
    case_api.expect_error(case_api.client.post(f"/v1/cases/{number}/withdraw/cancel", headers=helpline),
                          409, "conflict")
    now = case_api.client.post(f"/v1/cases/{number}/withdraw", json={"confirm_now": True}, headers=helpline)
    assert now.status_code == 200, now.text
    assert now.json()["state"] == "withdrawn" and now.json()["withdrawn_at"]


def test_legal_hold_and_the_admins_audited_read_of_the_contact_details(case_api):
    number = file_case(case_api)["case"]["case_number"]
    admin = case_api.headers(Role.ADMIN)
    held = case_api.client.post(f"/v1/cases/{number}/legal-hold", json={"hold": True}, headers=admin)
    assert held.status_code == 200, held.text
    assert held.json()["legal_hold"] is True
    contact = case_api.client.get(f"/v1/cases/{number}/contact", headers=admin)
    assert contact.status_code == 200, contact.text
    assert contact.json() == {"signature_name": SIGNATURE, "contact_email": EMAIL, "webhook_url": ""}
    with case_api.ctx.store.transaction() as session:
        reads = [event for event in session.scalars(select(AuditEvent))
                 if event.actor == case_api.actor(Role.ADMIN) and "contact" in event.action]
        assert reads, "the contact read was not audit-logged"
        assert all(EMAIL not in event.detail for event in reads)


def test_case_numbers_outside_the_callers_scope_answer_like_unknown_ones(case_api):
    number = file_case(case_api)["case"]["case_number"]
    _, token = create_key(case_api.ctx, Role.HELPLINE, "another helpline", SETUP)
    other = {"Authorization": f"Bearer {token}"}
    hidden = case_api.client.get(f"/v1/cases/{number}", headers=other)
    unknown = case_api.client.get("/v1/cases/DS-2222-3333-4444", headers=other)
    assert case_api.expect_error(hidden, 404) == case_api.expect_error(unknown, 404)
    assert hidden.json()["detail"] == NOT_VISIBLE
    assert case_api.client.get("/v1/cases", headers=other).json() == []


# --- Misuse ---------------------------------------------------------------------------------


def test_strikes_warn_first_then_suspend(case_api):
    platform = case_api.headers(Role.PLATFORM)
    kinds = []
    for reason in ("re-uploaded removed content", "re-uploaded it again"):
        response = case_api.client.post("/v1/misuse/strikes", headers=platform, json={
            "subject_kind": "uploader", "subject_ref": "uploader-9", "reason": reason})
        assert response.status_code == 201, response.text
        kinds.append(response.json()["kind"])
    assert kinds == ["warning", "suspension"]
    listed = case_api.client.get("/v1/misuse/strikes?subject_kind=uploader&subject_ref=uploader-9",
                                 headers=platform)
    assert listed.status_code == 200, listed.text
    assert [strike["kind"] for strike in listed.json()] == ["warning", "suspension"]
    assert listed.json()[-1]["until"]
    wrong = case_api.client.post("/v1/misuse/strikes", headers=platform, json={
        "subject_kind": "journalist", "subject_ref": "x", "reason": "no"})
    assert 400 <= wrong.status_code < 500, wrong.text


# --- Hostile and malformed bodies ---------------------------------------------------------------

_IMAGE_B64 = base64.b64encode(encode_image(photo_pixels(3, 64, 48), "JPEG", quality=80)).decode()


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


#: name: (raw body, content type); each must be refused with a 4xx and write nothing.
HOSTILE_INTAKE: dict[str, tuple[bytes, str]] = {
    "not json": (b"requester_role=victim&good_faith=1", "application/x-www-form-urlencoded"),
    "broken json": (b'{"requester_role": "victim",', "application/json"),
    "json array": (b"[1, 2, 3]", "application/json"),
    "wrong type for a flag": (json.dumps(complete_form(good_faith="yes")).encode(), "application/json"),
    "number for text": (json.dumps(complete_form(requester_role=7)).encode(), "application/json"),
    "unknown field": (json.dumps(complete_form(nickname="x")).encode(), "application/json"),
    "unknown nested field": (json.dumps(complete_form(contact={"email": EMAIL, "phone": "1"})).encode(),
                             "application/json"),
    "10 MB string": (json.dumps(complete_form(signature={"name": "A" * 10_000_000,
                                                         "statement_ticked": True})).encode(),
                     "application/json"),
    "deeply nested": (('{"locations": ' + _nested(100_000) + "}").encode(), "application/json"),
    "invalid hex hash": (json.dumps(complete_form(hashes=[{"type": "pdq", "value": "zz" * 32}])).encode(),
                         "application/json"),
    "too many locations": (json.dumps(complete_form(
        locations=[{"url": f"https://platform.example/{i}"} for i in range(1000)])).encode(),
        "application/json"),
    "base64 image in a field": (json.dumps(complete_form(
        locations=[{"item_id": "x"}], signature={"name": _IMAGE_B64[:190], "statement_ticked": True},
        hashes=[{"type": "pdq", "value": _IMAGE_B64}])).encode(), "application/json"),
    "data uri in a location": (json.dumps(complete_form(
        locations=[{"url": "data:image/jpeg;base64," + _IMAGE_B64[:1500]}])).encode(), "application/json"),
    "image field": (json.dumps(complete_form(image=_IMAGE_B64)).encode(), "application/json"),
    "javascript url": (json.dumps(complete_form(locations=[{"url": "javascript:alert(1)"}])).encode(),
                       "application/json"),
}


@pytest.mark.parametrize("name", list(HOSTILE_INTAKE))
def test_hostile_intake_bodies_are_refused_with_4xx_and_write_nothing(case_api, name):
    body, content_type = HOSTILE_INTAKE[name]
    before = _counts(case_api)
    for path, headers in (("/v1/requests/public", {}), ("/v1/requests", case_api.headers(Role.HELPLINE))):
        response = case_api.client.post(path, content=body, headers={**headers, "content-type": content_type})
        assert 400 <= response.status_code < 500, f"{path}: {response.status_code} {response.text[:300]}"
        error = case_api.expect_error(response, response.status_code)
        assert len(error["detail"]) < 2000 and _IMAGE_B64[:100] not in error["detail"]
    assert _counts(case_api) == before, "a refused request wrote something"
    case_api.assert_healthy()


HOSTILE_ACTIONS: list[tuple[str, str, Any]] = [
    # (path under the case, body description, body)
    ("pause", "missing reason", {}),
    ("pause", "number for text", {"reason": 5}),
    ("pause", "unknown field", {"reason": "x", "until": "tomorrow"}),
    ("pause", "10 MB reason", {"reason": "r" * 10_000_000}),
    ("pause", "base64 image in the reason", {"reason": _IMAGE_B64[:480]}),
    ("decision", "string for a flag", {"decision": "removed", "reasons": "x", "automated": "true"}),
    ("decision", "data uri in the reasons", {"decision": "removed",
                                             "reasons": "see data:image/png;base64,iVBORw0KGgo="}),
    ("decision", "list for text", {"decision": ["removed"], "reasons": "x"}),
    ("close", "deeply nested", None),
    ("withdraw", "string for a flag", {"confirm_now": "yes"}),
    ("legal-hold", "null", {"hold": None}),
    ("appeals", "control characters", {"statement": "a\x00b"}),
]


@pytest.mark.parametrize("path,description,body", HOSTILE_ACTIONS,
                         ids=[f"{p}: {d}" for p, d, _ in HOSTILE_ACTIONS])
def test_hostile_review_bodies_are_refused_with_4xx_and_change_nothing(case_api, path, description, body):
    number = file_case(case_api)["case"]["case_number"]
    before = case_api.client.get(f"/v1/cases/{number}", headers=case_api.headers(Role.ADMIN)).json()
    raw = (('{"reason": ' + _nested(50_000) + "}").encode() if body is None else json.dumps(body).encode())
    headers = {**case_api.headers(Role.ADMIN), "content-type": "application/json"}
    response = case_api.client.post(f"/v1/cases/{number}/{path}", content=raw, headers=headers)
    assert 400 <= response.status_code < 500, f"{response.status_code} {response.text[:300]}"
    case_api.expect_error(response, response.status_code)
    after = case_api.client.get(f"/v1/cases/{number}", headers=case_api.headers(Role.ADMIN)).json()
    keys = ("state", "acknowledged_at", "decision", "closed_at", "legal_hold", "withdraw_requested_at",
            "pauses", "appeals", "clocks")
    assert {key: after[key] for key in keys} == {key: before[key] for key in keys}


def test_a_review_action_sent_as_form_data_is_a_clear_400(case_api):
    number = file_case(case_api)["case"]["case_number"]
    response = case_api.client.post(f"/v1/cases/{number}/pause", data={"reason": "x"},
                                    headers=case_api.headers(Role.PLATFORM))
    body = case_api.expect_error(response, 400, "invalid_request")
    assert "application/json" in body["detail"]


def test_an_over_long_or_odd_case_number_is_a_clean_4xx(case_api):
    admin = case_api.headers(Role.ADMIN)
    for number in ("X" * 500, "DS-0000-0000-0000", "%00", "DS-2222-3333-4444"):
        response = case_api.client.get(f"/v1/cases/{number}", headers=admin)
        assert response.status_code in (404, 422), f"{number}: {response.status_code} {response.text}"
        case_api.expect_error(response, response.status_code)
