"""The partner exchange: a partner mirrors the banks by checkpoint, and a withdrawal becomes a delete."""

from __future__ import annotations

import pytest

from api.conftest import Api
from deepshield.services.access import Role
from deepshield.signals.pdq import pdq_from_pixels
from deepshield.store import exchange_repository
from factories import photo_pixels

BANK = "helpline-bank"


class PartnerMirror:
    """What a partner platform keeps: the hashes to block, updated from the exchange."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.checkpoint = 0
        self.blocked: dict[int, tuple[str, str]] = {}

    def sync(self, limit: int = 1000) -> int:
        fetched = 0
        while True:
            response = self.api.client.get("/v1/exchange/updates",
                                            params={"checkpoint": self.checkpoint, "limit": limit},
                                            headers=self.api.headers(Role.PARTNER))
            assert response.status_code == 200, response.text
            page = response.json()
            for update in page["updates"]:
                fetched += 1
                if update["state"] == "active":
                    self.blocked[update["entry_id"]] = (update["signal_type"], update["signal_value"])
                else:
                    assert update["state"] == "deleted"
                    self.blocked.pop(update["entry_id"], None)
            self.checkpoint = page["checkpoint"]
            if not page["more"]:
                return fetched

    def values(self) -> set[str]:
        return {value for _, value in self.blocked.values()}


@pytest.fixture
def filed(api: Api) -> list[dict]:
    api.create_bank(BANK)
    signals = [{"type": "pdq", "value": pdq_from_pixels(photo_pixels(seed)).hex} for seed in (1, 2, 3)]
    signals.append({"type": "md5", "value": "ab" * 16})
    response = api.post_json(f"/v1/banks/{BANK}/entries", {"signals": signals, "case_ref": "HL-9"},
                             Role.HELPLINE)
    assert response.status_code == 201, response.text
    return [{**entry, "value": signal["value"]}
            for entry, signal in zip(response.json()["entries"], signals, strict=True)]


def test_a_withdrawal_becomes_a_delete_at_the_partner(api: Api, filed):
    partner = PartnerMirror(api)
    assert partner.sync(limit=3) == 4  # paged: 3 + 1
    assert partner.values() == {entry["value"] for entry in filed}
    gone = filed[1]
    response = api.client.delete(f"/v1/banks/{BANK}/entries/{gone['id']}", headers=api.headers(Role.HELPLINE))
    assert response.status_code == 200, response.text
    assert partner.sync() == 1
    assert gone["value"] not in partner.values()
    assert len(partner.blocked) == 3
    assert partner.sync() == 0  # nothing new since the checkpoint


def test_disable_and_enable_reach_the_partner_and_case_refs_never_do(api: Api, filed):
    partner = PartnerMirror(api)
    partner.sync()
    entry = filed[0]
    path = f"/v1/banks/{BANK}/entries/{entry['id']}"
    api.client.patch(path, json={"enabled": False}, headers=api.headers(Role.ADMIN))
    partner.sync()
    assert entry["id"] not in partner.blocked
    api.client.patch(path, json={"enabled": True}, headers=api.headers(Role.ADMIN))
    partner.sync()
    assert entry["id"] in partner.blocked
    page = api.client.get("/v1/exchange/updates", headers=api.headers(Role.PARTNER)).json()
    assert all("case_ref" not in update for update in page["updates"])
    assert "HL-9" not in str(page)


def test_feedback_is_recorded_per_partner_and_entry(api: Api, filed):
    items = [{"entry_id": filed[0]["id"], "status": "Blocked"},
             {"entry_id": filed[1]["id"], "status": "pendingreview"}]
    response = api.post_json("/v1/exchange/feedback", {"feedback": items}, Role.PARTNER)
    assert response.status_code == 200, response.text
    assert response.json() == {"recorded": 2}
    change = {"feedback": [{"entry_id": filed[0]["id"], "status": "NotBlocked"}]}
    api.post_json("/v1/exchange/feedback", change, Role.PARTNER)
    with api.ctx.store.transaction() as session:
        assert exchange_repository.feedback_counts(session, filed[0]["id"]) == {"NotBlocked": 1}
        assert exchange_repository.feedback_counts(session, filed[1]["id"]) == {"PendingReview": 1}


def test_bad_feedback_and_checkpoints_get_clear_errors(api: Api, filed):
    wrong = {"feedback": [{"entry_id": filed[0]["id"], "status": "Deleted"}]}
    bad_status = api.post_json("/v1/exchange/feedback", wrong, Role.PARTNER)
    assert "Blocked, NotBlocked, PendingReview" in api.expect_error(bad_status, 400)["detail"]
    missing = {"feedback": [{"entry_id": 999999, "status": "Blocked"}]}
    unknown = api.post_json("/v1/exchange/feedback", missing, Role.PARTNER)
    api.expect_error(unknown, 404, "not_found")
    api.expect_error(api.post_json("/v1/exchange/feedback", {"feedback": []}, Role.PARTNER), 400)
    negative = api.client.get("/v1/exchange/updates", params={"checkpoint": -1},
                              headers=api.headers(Role.PARTNER))
    api.expect_error(negative, 400)


@pytest.mark.parametrize("role", [Role.PLATFORM, Role.HELPLINE])
def test_only_partners_and_the_operator_may_fetch_the_feed(api: Api, filed, role):
    api.expect_error(api.client.get("/v1/exchange/updates", headers=api.headers(role)), 403, "forbidden")
    api.expect_error(api.client.get("/v1/exchange/updates"), 401, "unauthorized")
    assert api.client.get("/v1/exchange/updates", headers=api.headers(Role.ADMIN)).status_code == 200
    api.expect_error(api.post_json("/v1/exchange/feedback",
                                   {"feedback": [{"entry_id": filed[0]["id"], "status": "Blocked"}]}, role),
                     403, "forbidden")
