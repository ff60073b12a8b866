"""``GET /v1/notifications`` and ``POST /v1/notifications/deliver``: admin only, recipients masked."""

from __future__ import annotations

import json
from dataclasses import replace

from deepshield.notifications.webhook import verify_signature
from deepshield.services.access import Role
from deepshield.services.takedown.outbox import queue_case_event
from deepshield.settings import NotificationSettings
from deepshield.store.models import Case, CaseContact, utcnow
from notification_receivers import webhook_receiver

EMAIL = "sam.requester@example.org"


def _withdrawn_case(api, number: str = "DS-AAAA-BBBB-CCCC") -> int:
    """A withdrawn case with a contact, its messages queued as the cases service would."""
    ctx = api.ctx
    with ctx.store.transaction() as session:
        case = Case(case_number=number, state="withdrawn", requester_role="victim", filed_by="public",
                    received_at=utcnow(), withdrawn_at=utcnow())
        session.add(case)
        session.flush()
        contact = CaseContact(case_id=case.id, signature_name="Sam R.", contact_email=EMAIL)
        session.add(contact)
        queue_case_event(session, ctx.settings, event="withdrawn", case=case, contact=contact, detail={})
        return case.id


def test_only_admins_see_and_deliver_the_outbox(api):
    for role in (Role.PLATFORM, Role.HELPLINE, Role.PARTNER, Role.PROVIDER):
        api.expect_error(api.client.get("/v1/notifications", headers=api.headers(role)), 403, "forbidden")
        api.expect_error(api.client.post("/v1/notifications/deliver", headers=api.headers(role)), 403)
    api.expect_error(api.client.get("/v1/notifications"), 401, "unauthorized")
    api.expect_error(api.client.post("/v1/notifications/deliver"), 401, "unauthorized")


def test_the_outbox_lists_masked_recipients_and_never_bodies(api):
    case_id = _withdrawn_case(api)
    response = api.client.get("/v1/notifications", headers=api.headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    [message] = response.json()["notifications"]
    assert message["recipient"] == "s***@example.org" and message["channel"] == "email"
    assert message["case_ref"] == f"case:{case_id}" and message["kind"] == "withdrawal"
    assert message["status"] == "pending" and message["attempts"] == 0 and message["sent_at"] is None
    assert "body" not in message and EMAIL not in response.text
    filtered = api.client.get("/v1/notifications", params={"status": "failed"},
                              headers=api.headers(Role.ADMIN))
    assert filtered.json() == {"notifications": []}
    bad = api.client.get("/v1/notifications", params={"status": "lost"}, headers=api.headers(Role.ADMIN))
    assert "pending, sent, failed" in api.expect_error(bad, 400, "invalid_request")["detail"]
    api.expect_error(api.client.get("/v1/notifications", params={"limit": 0},
                                    headers=api.headers(Role.ADMIN)), 422)


def test_deliver_sends_webhooks_and_leaves_email_waiting_for_smtp(start_api, settings):
    with webhook_receiver() as partner:
        notification_settings = NotificationSettings(partner_webhook_urls=(partner.url,),
                                                     webhook_secret="partner-secret")
        api = start_api(replace(settings, notifications=notification_settings))
        case_id = _withdrawn_case(api)
        response = api.client.post("/v1/notifications/deliver", headers=api.headers(Role.ADMIN))
        assert response.status_code == 200, response.text
        assert response.json() == {"sent": 1, "failed": 0, "retried": 0, "pending_left": 1,
                                   "waiting_for_smtp": 1}
        [delivery] = partner.deliveries
    assert verify_signature(delivery.body, delivery.headers["x-deepshield-signature"], "partner-secret")
    assert json.loads(delivery.body)["case_ref"] == f"case:{case_id}"
    listed = api.client.get("/v1/notifications", params={"status": "sent"}, headers=api.headers(Role.ADMIN))
    [sent] = listed.json()["notifications"]
    assert sent["kind"] == "partner_status" and sent["recipient"].startswith("redacted:")
