"""The victim's door: case number and PIN (``Authorization: Basic``), status, withdrawal.

A failed login must teach a prober nothing: an unknown case, a wrong PIN, a locked case and a
malformed credential all get the very same 401 body.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest

from api.conftest import basic
from case_forms import request_form
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.cases import pins
from deepshield.services.access import NOT_VISIBLE, Role
from deepshield.services.takedown.records import NOT_RECOGNISED
from deepshield.settings import Settings

EMAIL = "survivor-7f3a@example.org"
MAX_FAILURES = 3


def complete_form(**changes: Any) -> dict[str, Any]:
    """A complete adult request about an Australian on Australian and US platforms, reachable at
    ``EMAIL``; no hashes."""
    return request_form(**{
        "contact": {"email": EMAIL},
        "jurisdiction": {"depicted_person_country": "AU", "platform_countries": ["AU", "US"]},
        "safety_check": {"in_immediate_danger": False},
        **changes,
    })


@pytest.fixture
def case_api_settings(cheap_kdf_settings: Settings) -> Settings:
    """``case_api`` with a PIN lockout after ``MAX_FAILURES`` failures, for 15 minutes."""
    return cheap_kdf_settings.with_overrides(cases=dataclasses.replace(
        cheap_kdf_settings.cases, pin_max_failures=MAX_FAILURES, pin_lockout_minutes=15))


def file_public(api: Any, form: dict[str, Any] | None = None) -> tuple[str, str]:
    response = api.client.post("/v1/requests/public", json=form or complete_form())
    assert response.status_code == 201, response.text
    return response.json()["case"]["case_number"], response.json()["pin"]


def _wrong(pin: str) -> str:
    return pin[:-1] + ("0" if pin[-1] != "0" else "1")


def test_victim_sees_her_status_in_plain_words_with_her_case_number_and_pin(case_api):
    number, pin = file_public(case_api)
    response = case_api.client.get("/v1/victim/status", headers=basic(number, pin))
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["case_number"] == number and status["state"] == "valid"
    assert isinstance(status["summary"], str) and status["summary"]
    assert status["due_at"] and status["received_at"]
    assert status["locations_total"] == 1 and status["locations_removed"] == 0
    assert status["copies_found"] == 0
    # No reviewer names, no contact details.
    for key_id in case_api.key_ids.values():
        assert key_id not in response.text
    assert EMAIL not in response.text
    # The case number as she might type it: lower case, spaces.
    typed = number.lower().replace("-", " ")
    assert case_api.client.get("/v1/victim/status", headers=basic(typed, pin)).status_code == 200


def test_every_failed_login_gets_the_same_401_body(case_api):
    number, pin = file_public(case_api)
    other_number, other_pin = file_public(case_api)
    attempts = {
        "unknown case": basic("DS-2222-3333-4444", pin),
        "wrong pin": basic(number, _wrong(pin)),
        "not a case number": basic("hello", pin),
        "empty pin": basic(number, ""),
        "no colon": {"Authorization": "Basic " + base64.b64encode(number.encode()).decode()},
        "not base64": {"Authorization": "Basic !!!not-base64!!!"},
        "not utf-8": {"Authorization": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()},
        "another case's pin": basic(number, other_pin),
        "huge credential": basic("DS-" + "A" * 5000, pin),
    }
    bodies = {}
    for name, headers in attempts.items():
        response = case_api.client.get("/v1/victim/status", headers=headers)
        bodies[name] = case_api.expect_error(response, 401, "unauthorized")
    expected = {"error": "unauthorized", "detail": NOT_RECOGNISED}
    assert all(body == expected for body in bodies.values()), bodies
    # Her own PIN still works (two failures are under the lockout), and the other case is untouched.
    assert case_api.client.get("/v1/victim/status", headers=basic(other_number, other_pin)).status_code == 200


def test_a_case_locks_after_repeated_failures_and_the_locked_answer_is_the_same(case_api):
    number, pin = file_public(case_api)
    wrong = case_api.client.get("/v1/victim/status", headers=basic(number, _wrong(pin)))
    first = case_api.expect_error(wrong, 401)
    for _ in range(MAX_FAILURES - 1):
        case_api.client.get("/v1/victim/status", headers=basic(number, _wrong(pin)))
    locked = case_api.client.get("/v1/victim/status", headers=basic(number, pin))
    assert case_api.expect_error(locked, 401) == first
    # The lock is the case's: the victim route and the case routes alike.
    assert case_api.expect_error(case_api.client.get(f"/v1/cases/{number}", headers=basic(number, pin)),
                                 401) == first


def test_over_http_an_unknown_case_a_wrong_pin_and_a_locked_case_cost_one_kdf_run_each(
        case_api, monkeypatch):
    """The same work behind the same 401 (counted, not timed): one PIN KDF run per attempt."""
    runs: list[int] = []
    real = pins._scrypt

    def counted(pin: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
        runs.append(log2_n)
        return real(pin, salt, log2_n, r, p)

    monkeypatch.setattr(pins, "_scrypt", counted)
    number, pin = file_public(case_api)  # hashing her PIN is one run
    attempts = [("unknown case", basic("DS-2222-3333-4444", pin)), ("wrong pin", basic(number, _wrong(pin)))]
    attempts += [(f"failure {n}", basic(number, _wrong(pin))) for n in range(2, MAX_FAILURES + 1)]
    attempts += [("locked, right pin", basic(number, pin)),
                 ("unknown again", basic("DS-5555-6666-7777", pin))]
    for name, headers in attempts:
        runs.clear()
        response = case_api.client.get("/v1/victim/status", headers=headers)
        case_api.expect_error(response, 401, "unauthorized")
        assert runs == [case_api.ctx.settings.cases.pin_kdf_log2_n], name


def test_victim_without_credentials_or_with_a_key_is_told_how_to_sign_in(case_api):
    for headers in ({}, case_api.headers(Role.ADMIN)):
        body = case_api.expect_error(case_api.client.get("/v1/victim/status", headers=headers), 401)
        assert "case number and PIN" in body["detail"]


def test_victim_reads_her_own_case_but_another_case_answers_like_an_unknown_one(case_api):
    number, pin = file_public(case_api)
    other_number, _ = file_public(case_api)
    own = case_api.client.get(f"/v1/cases/{number}", headers=basic(number, pin))
    assert own.status_code == 200, own.text
    assert own.json()["case_number"] == number
    other = case_api.client.get(f"/v1/cases/{other_number}", headers=basic(number, pin))
    unknown = case_api.client.get("/v1/cases/DS-2222-3333-4444", headers=basic(number, pin))
    assert case_api.expect_error(other, 404) == case_api.expect_error(unknown, 404)
    assert other.json()["detail"] == NOT_VISIBLE
    # Review and queue routes are for keys only.
    for method, path in (("GET", "/v1/cases"), ("POST", f"/v1/cases/{number}/acknowledge")):
        case_api.expect_error(case_api.client.request(method, path, headers=basic(number, pin)), 401)


def test_victim_withdraws_after_a_cool_off_and_can_cancel_it(case_api):
    number, pin = file_public(case_api)
    response = case_api.client.post("/v1/victim/withdraw", headers=basic(number, pin))
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["withdraw_effective_at"], status
    assert status["state"] != "withdrawn", "a victim's withdrawal must wait for the cool-off"
    # She may also use the case route, and cancel it there.
    cancelled = case_api.client.post(f"/v1/cases/{number}/withdraw/cancel", headers=basic(number, pin))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["withdraw_requested_at"] is None
    again = case_api.client.get("/v1/victim/status", headers=basic(number, pin)).json()
    assert again["withdraw_effective_at"] is None


def test_victim_cannot_skip_the_cool_off(case_api):
    number, pin = file_public(case_api)
    response = case_api.client.post(f"/v1/cases/{number}/withdraw", json={"confirm_now": True},
                                    headers=basic(number, pin))
    case_api.expect_error(response, 403, "forbidden")
    status = case_api.client.get("/v1/victim/status", headers=basic(number, pin)).json()
    assert status["state"] == "valid" and status["withdraw_effective_at"] is None


def test_victim_logins_are_rate_limited_per_address(case_api):
    number, pin = file_public(case_api)
    case_api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=1, burst=2)
    for _ in range(2):
        assert case_api.client.get("/v1/victim/status", headers=basic(number, pin)).status_code == 200
    limited = case_api.client.get("/v1/victim/status", headers=basic(number, pin))
    case_api.expect_error(limited, 429, "rate_limited")
