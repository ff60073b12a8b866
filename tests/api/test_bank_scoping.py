"""The bank routes are scoped like the case routes (issue 12, Fix 1 and the banks part of Fix 6).

- The takedown workflow's banks (``takedown-blocked``, ``case-reports``) change only through a
  case's review or by an admin: no helpline adds to them or withdraws from them.
- A ``case_ref`` naming a DeepShield case (``case:<id>`` or a case number) must name a case the
  caller may act on; otherwise the answer is the cases' 404 (``NOT_VISIBLE``).
- A helpline withdraws only entries it added, or of a case it filed; any other entry, like an id
  that does not exist, is the same 404.
- An entry id outside 1..2**63-1 is a 422, and one past what the store's column holds a 404:
  never a 500.

Every test runs on SQLite and PostgreSQL (the shared ``settings`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from api.conftest import Api
from case_forms import request_form
from deepshield.cases.numbers import new_case_number
from deepshield.services.access import NOT_VISIBLE, Role
from deepshield.services.api_keys import create_key
from deepshield.settings import CaseSettings, Settings
from deepshield.signals.pdq import pdq_from_pixels
from deepshield.store import case_repository
from deepshield.store.models import Bank, BankEntry
from factories import encode_image, photo_pixels
from principals import SETUP

BANK = "shared"
BLOCK = CaseSettings().block_bank
REPORTS = CaseSettings().reports_bank


@dataclass
class World:
    api: Api
    other: dict[str, str]  # a second helpline's Authorization header

    def headers(self, who: str) -> dict[str, str]:
        """``helpline`` (the filer of the cases here), ``other`` (another helpline) or ``admin``."""
        if who == "other":
            return self.other
        return self.api.headers(Role(who))

    def add(self, who: str, bank: str, values: list[str], **body: Any) -> httpx.Response:
        signals = [{"type": "pdq", "value": value} for value in values]
        return self.api.client.post(f"/v1/banks/{bank}/entries", json={"signals": signals, **body},
                                    headers=self.headers(who))

    def withdraw(self, who: str, bank: str, entry_id: int) -> httpx.Response:
        return self.api.client.delete(f"/v1/banks/{bank}/entries/{entry_id}", headers=self.headers(who))


@pytest.fixture
def world(start_api: Callable[[Settings], Api], cheap_kdf_settings: Settings) -> World:
    api = start_api(cheap_kdf_settings)
    _, token = create_key(api.ctx, Role.HELPLINE, "another helpline", SETUP)
    api.create_bank(BANK)
    return World(api, {"Authorization": f"Bearer {token}"})


def _pdq(seed: int) -> str:
    return pdq_from_pixels(photo_pixels(seed)).hex


def _form(*values: str) -> dict[str, Any]:
    """A helpline's complete request with these PDQ ``values``."""
    return request_form(requester_role="helpline", safety_check={"in_immediate_danger": False},
                        hashes=[{"type": "pdq", "value": value, "quality": 100} for value in values])


def _file(world: World, *values: str) -> tuple[str, int]:
    """A case filed by the first helpline with ``values``: its number and id."""
    response = world.api.post_json("/v1/requests", _form(*values), Role.HELPLINE)
    assert response.status_code == 201, response.text
    number = response.json()["case"]["case_number"]
    with world.api.ctx.store.transaction() as session:
        case = case_repository.get_by_number(session, number)
        assert case is not None
        return number, case.id


def _remove(world: World, number: str) -> None:
    decision = {"decision": "removed", "reasons": "Intimate image shared without consent."}
    response = world.api.post_json(f"/v1/cases/{number}/decision", decision, Role.PLATFORM)
    assert response.status_code == 200, response.text


def _entries(world: World, bank: str) -> list[tuple[int, str, str | None, bool]]:
    """(id, value, case_ref, active) of every entry of ``bank``, straight from the store."""
    with world.api.ctx.store.transaction() as session:
        rows = session.execute(select(BankEntry).join(Bank, Bank.id == BankEntry.bank_id)
                               .where(Bank.name == bank).order_by(BankEntry.id)).scalars()
        return [(e.id, e.value, e.case_ref, e.active) for e in rows]


def _blocked(world: World, seed: int, item_id: str) -> bool:
    """Whether a platform upload of photo ``seed`` comes back blocked."""
    response = world.api.upload("/v1/content", encode_image(photo_pixels(seed), "JPEG", quality=90),
                                Role.PLATFORM, item_id=item_id)
    assert response.status_code == 201, response.text
    return bool(response.json()["items"][0]["blocked"])


def _missing_entry(world: World, bank: str, entry_id: int) -> dict[str, Any]:
    """The exact answer for ``entry_id`` in ``bank`` when it does not exist (an admin asks)."""
    response = world.withdraw("admin", bank, entry_id)
    return world.api.expect_error(response, 404, "not_found")


def _like_missing(world: World, response: httpx.Response, bank: str, entry_id: int) -> None:
    """``response`` is exactly the answer for an id that does not exist, with the id in place."""
    body = world.api.expect_error(response, 404, "not_found")
    absent = 10**6 + entry_id
    expected = _missing_entry(world, bank, absent)
    detail = expected["detail"].replace(str(absent), str(entry_id))
    assert body == {"error": expected["error"], "detail": detail}


# --- The takedown workflow's banks -------------------------------------------------------------


def test_a_helpline_cannot_withdraw_the_block_of_a_case_the_platform_removed(world):
    api = world.api
    number, case_id = _file(world, _pdq(31))
    _remove(world, number)
    [(block_id, _, ref, active)] = _entries(world, BLOCK)
    assert (ref, active) == (f"case:{case_id}", True)
    [(report_id, _, _, _)] = _entries(world, REPORTS)
    assert _blocked(world, 31, "reupload-1")

    for who in ("helpline", "other"):  # the case's own filer, and a stranger
        _like_missing(world, world.withdraw(who, BLOCK, block_id), BLOCK, block_id)
        _like_missing(world, world.withdraw(who, REPORTS, report_id), REPORTS, report_id)
    api.expect_error(api.client.patch(f"/v1/banks/{BLOCK}/entries/{block_id}", json={"enabled": False},
                                      headers=api.headers(Role.HELPLINE)), 403, "forbidden")

    assert [active for *_, active in _entries(world, BLOCK) + _entries(world, REPORTS)] == [True, True]
    assert _blocked(world, 31, "reupload-2"), "the removed content stopped being blocked"
    case = api.client.get(f"/v1/cases/{number}", headers=api.headers(Role.PLATFORM)).json()
    assert case["state"] == "actioned" and case["decision"] == "removed"
    # The operator may still correct the block bank by hand.
    assert world.withdraw("admin", BLOCK, block_id).status_code == 200
    assert not _blocked(world, 31, "reupload-3")


def test_a_helpline_cannot_bank_hashes_under_another_helplines_case(world):
    api = world.api
    own, intruder = _pdq(41), _pdq(42)
    number, case_id = _file(world, own)
    before = _entries(world, REPORTS) + _entries(world, BANK)
    for case_ref in (f"case:{case_id}", number, number.lower().replace("-", "")):
        body = api.expect_error(world.add("other", BANK, [intruder], case_ref=case_ref), 404, "not_found")
        assert body["detail"] == NOT_VISIBLE
        per_signal = {"signals": [{"type": "pdq", "value": intruder, "case_ref": case_ref}]}
        response = api.client.post(f"/v1/banks/{BANK}/entries", json=per_signal, headers=world.other)
        assert api.expect_error(response, 404, "not_found")["detail"] == NOT_VISIBLE
    upload = api.client.post(f"/v1/banks/{BANK}/entries", headers=world.other,
                             files={"file": ("p.jpg", encode_image(photo_pixels(42)), "image/jpeg")},
                             data={"case_ref": f"case:{case_id}"})
    assert api.expect_error(upload, 404, "not_found")["detail"] == NOT_VISIBLE
    # Straight into the case's reports bank, whose hashes a removal copies into the block bank.
    api.expect_error(world.add("other", REPORTS, [intruder], case_ref=f"case:{case_id}"), 403, "forbidden")
    assert _entries(world, REPORTS) + _entries(world, BANK) == before, "a refused add wrote something"

    _remove(world, number)
    assert [value for _, value, _, _ in _entries(world, BLOCK)] == [own]
    assert not _blocked(world, 42, "intruder-photo")


def test_no_helpline_writes_the_takedown_banks_not_even_under_a_case_that_does_not_exist(world):
    api = world.api
    number, case_id = _file(world, _pdq(51))
    _remove(world, number)  # both takedown banks exist now
    planted = _pdq(52)
    for bank in (BLOCK, REPORTS):
        for who in ("helpline", "other"):
            for body in ({"case_ref": "case:999999"}, {"case_ref": f"case:{case_id}"}, {}):
                response = world.add(who, bank, [planted], **body)
                assert bank in api.expect_error(response, 403, "forbidden")["detail"]
            upload = api.upload(f"/v1/banks/{bank}/entries", encode_image(photo_pixels(52)), Role.HELPLINE,
                                case_ref="case:999999")
            api.expect_error(upload, 403, "forbidden")
    assert planted not in {value for _, value, _, _ in _entries(world, BLOCK) + _entries(world, REPORTS)}
    assert not _blocked(world, 52, "planted"), "an upload was blocked with no review"

    # The operator may write there, but a case reference must still name a case.
    body = api.expect_error(world.add("admin", BLOCK, [planted], case_ref="case:999999"), 404, "not_found")
    assert body["detail"] == NOT_VISIBLE
    assert world.add("admin", BLOCK, [planted]).status_code == 201


def test_a_case_ref_naming_a_case_is_checked_and_stored_as_the_case_reference(world):
    api = world.api
    number, case_id = _file(world, _pdq(61))
    for case_ref in (number, f"case:{case_id}"):
        response = world.add("helpline", BANK, [_pdq(62)], case_ref=case_ref)
        assert response.status_code == 201, response.text
        assert response.json()["entries"][0]["case_ref"] == f"case:{case_id}"
    outside = world.add("helpline", BANK, [_pdq(63)], case_ref="HL-2026-0001")
    assert outside.json()["entries"][0]["case_ref"] == "HL-2026-0001"
    for unknown_case in (new_case_number(), "case:999999", f"case:{2**31}", f"case:{10**19 - 1}"):
        unknown = world.add("helpline", BANK, [_pdq(64)], case_ref=unknown_case)
        assert api.expect_error(unknown, 404, "not_found")["detail"] == NOT_VISIBLE, unknown_case
    for malformed in ("CASE:1", f"case:0{case_id}", "case:x", "case:"):
        api.expect_error(world.add("helpline", BANK, [_pdq(64)], case_ref=malformed), 400, "invalid_request")

    withdrawn = api.post_json(f"/v1/cases/{number}/withdraw", {"confirm_now": True}, Role.HELPLINE)
    assert withdrawn.status_code == 200, withdrawn.text
    api.expect_error(world.add("helpline", BANK, [_pdq(65)], case_ref=number), 409, "conflict")
    # Another helpline learns nothing of the case's state.
    body = api.expect_error(world.add("other", BANK, [_pdq(65)], case_ref=number), 404, "not_found")
    assert body["detail"] == NOT_VISIBLE
    assert _pdq(65) not in {value for _, value, _, _ in _entries(world, BANK)}


# --- Withdrawals in an ordinary bank -----------------------------------------------------------


def test_a_helpline_withdraws_only_entries_it_added_or_of_its_own_cases(world):
    number, _ = _file(world, _pdq(71))

    def added(who: str, seed: int, **body: Any) -> int:
        response = world.add(who, BANK, [_pdq(seed)], **body)
        assert response.status_code == 201, response.text
        return int(response.json()["entries"][0]["id"])

    mine, theirs, operators = added("helpline", 72), added("other", 73), added("admin", 74)
    of_my_case = added("admin", 75, case_ref=number)
    refused = [("other", mine), ("helpline", theirs), ("helpline", operators), ("other", operators),
               ("other", of_my_case)]
    for who, entry_id in refused:
        _like_missing(world, world.withdraw(who, BANK, entry_id), BANK, entry_id)
    assert all(active for *_, active in _entries(world, BANK)), "a refused withdrawal changed an entry"

    for who, entry_id in (("helpline", mine), ("other", theirs), ("helpline", of_my_case)):
        response = world.withdraw(who, BANK, entry_id)
        assert response.status_code == 200, response.text
        assert response.json()["withdrawn_at"] is not None
    assert {entry_id for entry_id, *_, active in _entries(world, BANK) if active} == {operators}


def test_a_value_the_bank_already_held_does_not_show_another_callers_case_ref(world):
    api = world.api
    first = world.add("helpline", BANK, [_pdq(81)], case_ref="HL-2026-0042")
    assert first.status_code == 201, first.text
    again = world.add("other", BANK, [_pdq(81)], case_ref="OTHER-1")
    assert again.status_code == 201, again.text
    [entry] = again.json()["entries"]
    first_id = first.json()["entries"][0]["id"]
    assert (entry["id"], entry["created"], entry["case_ref"]) == (first_id, False, None)
    [own] = world.add("helpline", BANK, [_pdq(81)]).json()["entries"]
    assert own["case_ref"] == "HL-2026-0042"
    assert api.active_entries()[BANK] == 1


# --- Entry ids out of range (Fix 6) -------------------------------------------------------------


@pytest.mark.parametrize("entry_id", [str(2**63), str(2**64), "1" + "0" * 40, "0", "-1"])
def test_an_entry_id_out_of_range_is_a_422_and_the_server_goes_on(world, entry_id):
    api = world.api
    [entry] = world.add("admin", BANK, [_pdq(91)]).json()["entries"]
    url = f"/v1/banks/{BANK}/entries/{entry_id}"
    for response in (api.client.delete(url, headers=api.headers(Role.ADMIN)),
                     api.client.delete(url, headers=api.headers(Role.HELPLINE)),
                     api.client.patch(url, json={"enabled": False}, headers=api.headers(Role.ADMIN))):
        body = api.expect_error(response, 422, "invalid_request")
        assert "entry_id" in body["detail"], body
        api.assert_healthy()
    api.expect_error(api.client.delete(url), 401, "unauthorized")
    # Authentication still comes first; an id within range that no entry can have (past the
    # 32-bit column of PostgreSQL) is an ordinary missing one, on both stores.
    for unheard_of in (2**31, 2**63 - 1):
        response = world.withdraw("admin", BANK, unheard_of)
        api.expect_error(response, 404, "not_found")
        api.assert_healthy()
    assert api.active_entries()[BANK] == 1 and entry["id"] >= 1
