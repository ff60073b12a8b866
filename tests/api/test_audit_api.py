"""``/v1/audit``: admins verify the hash chain and read recent events; nobody else may."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from deepshield.services.access import Role

MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def _break_the_log(api, statement: str) -> None:
    """Drop the append-only triggers, as someone with database access would, then edit."""
    store = api.ctx.store
    with store.engine.begin() as connection:
        if store.backend == "postgresql":
            connection.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_append_only_update"))
            connection.execute(text("DROP TRIGGER audit_events_append_only_delete"))
        connection.execute(text(statement))


def test_an_admin_verifies_an_intact_log_and_the_check_is_logged(api):
    response = api.client.get("/v1/audit/verify", headers=api.headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    report = response.json()
    # The fixture made one key per role: one event each.
    assert report["ok"] is True and report["events"] == len(api.tokens)
    assert report["head_seq"] == len(api.tokens) and report["first_bad_seq"] is None
    assert report["problems"] == [] and len(report["head_hash"]) == 64
    events = api.client.get("/v1/audit/events", params={"action": "audit.verify"},
                            headers=api.headers(Role.ADMIN)).json()
    assert [(e["seq"], e["actor"], e["target"]) for e in events] == [
        (len(api.tokens) + 1, api.actor(Role.ADMIN), "audit:chain")]
    assert events[0]["detail"]["ok"] is True and events[0]["automated"] is False


def test_a_tampered_log_answers_200_with_the_first_broken_event(api):
    _break_the_log(api, "UPDATE audit_events SET actor = 'key:someone' WHERE seq = 2")
    response = api.client.get("/v1/audit/verify", headers=api.headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is False and report["first_bad_seq"] == 2
    assert report["problems"] == ["event 2 (keys.create) was altered after it was written"]


@pytest.mark.parametrize("role", [Role.PLATFORM, Role.HELPLINE, Role.PARTNER, Role.PROVIDER])
def test_only_admins_may_read_or_verify_the_log(api, role):
    for path in ("/v1/audit/verify", "/v1/audit/events"):
        api.expect_error(api.client.get(path, headers=api.headers(role)), 403, "forbidden")
        api.expect_error(api.client.get(path), 401, "unauthorized")


def test_events_are_listed_newest_first_with_filters_and_hold_no_hash_values(api):
    api.create_bank("helpline")
    added = api.post_json("/v1/banks/helpline/entries",
                          {"signals": [{"type": "md5", "value": MD5}]}, Role.HELPLINE)
    assert added.status_code == 201, added.text
    entry_id = added.json()["entries"][0]["id"]
    response = api.client.get("/v1/audit/events", params={"target": "bank:helpline"},
                              headers=api.headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    events = response.json()
    assert [(e["action"], e["actor"]) for e in events] == [
        ("bank.add", api.actor(Role.HELPLINE)), ("bank.create", api.actor(Role.ADMIN))]
    assert events[0]["detail"]["entry_ids"] == [entry_id]
    assert events[0]["seq"] > events[1]["seq"]
    assert MD5 not in response.text
    prefixed = api.client.get("/v1/audit/events", params={"action": "bank.*", "limit": 1},
                              headers=api.headers(Role.ADMIN)).json()
    assert [e["action"] for e in prefixed] == ["bank.add"]
    everything = api.client.get("/v1/audit/events", headers=api.headers(Role.ADMIN)).json()
    assert [e["seq"] for e in everything] == sorted((e["seq"] for e in everything), reverse=True)


def test_bad_filters_get_a_clear_error(api):
    admin = api.headers(Role.ADMIN)
    api.expect_error(api.client.get("/v1/audit/events", params={"limit": 0}, headers=admin),
                     422, "invalid_request")
    api.expect_error(api.client.get("/v1/audit/events", params={"limit": 1001}, headers=admin),
                     422, "invalid_request")
    body = api.expect_error(api.client.get("/v1/audit/events", params={"action": "bank.%"},
                                           headers=admin), 400, "invalid_request")
    assert "prefix ending in *" in body["detail"]
