"""The notification outbox against real databases, a real SMTP sink and a real webhook receiver."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from deepshield.errors import Forbidden, InvalidRequest
from deepshield.notifications.webhook import verify_signature
from deepshield.services.access import Principal, Role
from deepshield.services.takedown import outbox as notifications
from deepshield.settings import NotificationSettings
from deepshield.store import audit_repository
from deepshield.store import notification_repository as repository
from deepshield.store.models import AuditEvent, Case, CaseContact, Notification, utcnow
from notification_receivers import closed_port_url, smtp_sink, webhook_receiver

ADMIN = Principal(actor="test:admin", role=Role.ADMIN)
NAME, EMAIL = "Jane Q. Public", "jane.public@example.org"
PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def configure(ctx: Any, **options: Any) -> None:
    """Give the context these notification settings (everything else as it was)."""
    ctx.settings = replace(ctx.settings, notifications=NotificationSettings(**options))


def make_case(ctx: Any, *, state: str = "received", role: str = "victim", email: str = EMAIL,
              webhook: str = "", contact: bool = True) -> tuple[int, str]:
    """A case (and its contact) written directly, as the cases service would."""
    number = "DS-" + "-".join(secrets.token_hex(2).upper() for _ in range(3))
    with ctx.store.transaction() as session:
        case = Case(case_number=number, state=state, requester_role=role, filed_by="public",
                    received_at=utcnow())
        session.add(case)
        session.flush()
        if contact:
            session.add(CaseContact(case_id=case.id, signature_name=NAME, contact_email=email,
                                    webhook_url=webhook))
        return case.id, number


def queue(ctx: Any, case_id: int, event: str, detail: dict[str, Any]) -> int:
    with ctx.store.transaction() as session:
        case = session.get(Case, case_id)
        contact = session.get(CaseContact, case_id)
        return notifications.queue_case_event(session, ctx.settings, event=event, case=case,
                                              contact=contact, detail=detail)


def rows(ctx: Any, **where: Any) -> list[Notification]:
    with ctx.store.transaction() as session:
        query = select(Notification).order_by(Notification.id)
        for name, value in where.items():
            query = query.where(getattr(Notification, name) == value)
        return list(session.scalars(query))


def audit_events(ctx: Any, action: str) -> list[AuditEvent]:
    with ctx.store.transaction() as session:
        return [e for e in audit_repository.recent_events(session, 1000) if e.action == action]


CLOCKS = [{"jurisdiction": "US", "duty": "remove", "due_at": "2026-06-01T12:00:00+00:00"},
          {"jurisdiction": "UK", "duty": "acknowledge", "due_at": datetime(2026, 5, 31, 9, 30, tzinfo=UTC)}]


def test_receipt_email_reaches_a_real_smtp_server_with_its_headers_and_text(ctx):
    case_id, number = make_case(ctx, state="incomplete")
    with smtp_sink() as sink:
        configure(ctx, smtp_host=sink.host, smtp_port=sink.port,
                  smtp_from="DeepShield Cases <cases@deepshield.example>")
        queued = queue(ctx, case_id, "received", {
            "missing": ["A location of the content: a URL or an item id."], "clocks": CLOCKS,
            "pin": "483920"})  # a careless caller: the PIN must still never be sent
        assert queued == 1
        report = notifications.deliver_due(ctx)
    assert (report.sent, report.failed, report.retried, report.pending_left) == (1, 0, 0, 0)
    [received] = sink.messages
    assert received.rcpt_tos == [EMAIL]
    assert received.mail_from == "cases@deepshield.example"
    message = received.message
    assert message["To"] == EMAIL
    assert message["From"] == "DeepShield Cases <cases@deepshield.example>"
    assert message["Subject"] == f"Case {number}: request received"
    assert message["X-DeepShield-Delivery"] == str(rows(ctx)[0].id)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@deepshield.example>")
    text = message.get_content()
    assert f"Your case number is {number}." in text
    assert "not complete yet" in text and "- A location of the content: a URL or an item id." in text
    assert "United States (TAKE IT DOWN Act): remove the content by 2026-06-01 12:00 UTC" in text
    assert "United Kingdom (Online Safety Act): acknowledge your request by 2026-05-31 09:30 UTC" in text
    assert "case number and the PIN" in text
    assert "emergency number" in text
    assert "483920" not in text and NAME not in text


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtp_login_is_used_and_a_refused_login_is_retried(ctx):
    case_id, _ = make_case(ctx)
    with smtp_sink(login=("mailer", "right")) as sink:
        configure(ctx, smtp_host=sink.host, smtp_port=sink.port, smtp_user="mailer",
                  smtp_password="wrong")
        queue(ctx, case_id, "received", {})
        first = notifications.deliver_due(ctx)
        assert (first.sent, first.retried) == (0, 1)
        [row] = rows(ctx)
        assert row.last_error == "the SMTP server refused the login (535)"
        configure(ctx, smtp_host=sink.host, smtp_port=sink.port, smtp_user="mailer",
                  smtp_password="right")
        second = notifications.deliver_due(ctx, now=row.next_attempt_at)
    assert second.sent == 1
    # smtplib tries each AUTH mechanism the server offers before giving up on a login.
    assert set(sink.logins) == {("mailer", "wrong"), ("mailer", "right")}
    assert sink.logins[-1] == ("mailer", "right")
    assert [m.rcpt_tos for m in sink.messages] == [[EMAIL]]


def test_webhook_receipt_is_signed_and_names_its_delivery(ctx):
    with webhook_receiver() as receiver:
        case_id, number = make_case(ctx, email="", webhook=receiver.url)
        configure(ctx, webhook_secret="shared-secret")
        assert queue(ctx, case_id, "received", {"missing": [], "clocks": CLOCKS}) == 1
        report = notifications.deliver_due(ctx)
        [delivery] = receiver.deliveries
    assert report.sent == 1
    [row] = rows(ctx)
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["x-deepshield-delivery"] == str(row.id)
    assert delivery.headers["x-deepshield-event"] == "receipt"
    signature = delivery.headers["x-deepshield-signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(delivery.body, signature, "shared-secret")
    assert not verify_signature(delivery.body, signature, "another-secret")
    assert not verify_signature(delivery.body + b" ", signature, "shared-secret")
    payload = json.loads(delivery.body)
    assert payload["event"] == "received" and payload["case_number"] == number
    assert payload["missing"] == [] and payload["state"] == "received"
    assert [c["jurisdiction"] for c in payload["clocks"]] == ["US", "UK"]
    assert "PIN" in payload["status_check"] and "emergency" in payload["safety"]


def test_webhooks_carry_no_signature_without_a_secret(ctx):
    with webhook_receiver() as receiver:
        case_id, _ = make_case(ctx, email="", webhook=receiver.url)
        queue(ctx, case_id, "received", {})
        notifications.deliver_due(ctx)
        [delivery] = receiver.deliveries
    assert "x-deepshield-signature" not in delivery.headers
    assert delivery.headers["x-deepshield-delivery"] == str(rows(ctx)[0].id)


def test_failed_delivery_backs_off_exponentially_then_fails_after_max_attempts(ctx):
    dead_url = closed_port_url()
    configure(ctx, platform_webhook_url=dead_url, max_attempts=3)
    case_id, _ = make_case(ctx, contact=False)
    assert queue(ctx, case_id, "escalated", {"jurisdiction": "US", "duty": "remove",
                                             "due_at": "2026-06-01T12:00:00+00:00"}) == 1
    t0 = utcnow() + timedelta(seconds=1)

    first = notifications.deliver_due(ctx, now=t0)
    assert (first.sent, first.retried, first.failed, first.pending_left) == (0, 1, 0, 1)
    [row] = rows(ctx)
    assert row.attempts == 1 and row.status == "pending"
    assert row.next_attempt_at == t0 + timedelta(seconds=30)
    assert row.last_error.startswith("could not reach the webhook receiver")
    assert dead_url not in row.last_error and "127.0.0.1" not in row.last_error

    early = notifications.deliver_due(ctx, now=t0 + timedelta(seconds=29))
    assert (early.sent, early.retried, early.failed) == (0, 0, 0)

    second = notifications.deliver_due(ctx, now=t0 + timedelta(seconds=30))
    assert second.retried == 1
    [row] = rows(ctx)
    assert row.attempts == 2
    assert row.next_attempt_at == t0 + timedelta(seconds=30 + 60)

    third = notifications.deliver_due(ctx, now=t0 + timedelta(seconds=90))
    assert (third.failed, third.retried, third.pending_left) == (1, 0, 0)
    [row] = rows(ctx)
    assert row.status == "failed" and row.attempts == 3
    assert row.recipient == dead_url  # kept so that an operator can fix and resend
    [event] = audit_events(ctx, "notification.failed")
    assert event.target == f"notification:{row.id}" and event.automated
    assert json.loads(event.detail) == {"kind": "escalation", "channel": "webhook"}
    assert notifications.deliver_due(ctx, now=t0 + timedelta(days=1)).failed == 0


def test_a_plain_http_url_to_the_internet_fails_at_once_without_retries(ctx):
    configure(ctx, platform_webhook_url="http://hooks.example.org/deepshield", max_attempts=5)
    case_id, _ = make_case(ctx, contact=False)
    queue(ctx, case_id, "escalated", {"jurisdiction": "AU", "duty": "remove", "due_at": utcnow()})
    report = notifications.deliver_due(ctx)
    assert (report.failed, report.retried) == (1, 0)
    [row] = rows(ctx)
    assert row.status == "failed" and row.attempts == 1 and "use https" in row.last_error


def test_a_rolled_back_change_leaves_no_message_and_a_committed_one_waits(ctx):
    case_id, _ = make_case(ctx)
    with pytest.raises(RuntimeError), ctx.store.transaction() as session:
        case = session.get(Case, case_id)
        contact = session.get(CaseContact, case_id)
        assert notifications.queue_case_event(session, ctx.settings, event="received", case=case,
                                              contact=contact, detail={}) == 1
        raise RuntimeError("the case change failed after queueing")
    assert rows(ctx) == []
    queue(ctx, case_id, "received", {})
    [row] = rows(ctx)
    assert row.status == "pending" and row.channel == "email" and row.kind == "receipt"


def test_email_stays_pending_while_smtp_is_not_configured(ctx):
    case_id, _ = make_case(ctx)
    queue(ctx, case_id, "received", {})
    report = notifications.deliver_due(ctx, now=utcnow() + timedelta(hours=1))
    assert (report.sent, report.failed, report.retried) == (0, 0, 0)
    assert (report.pending_left, report.waiting_for_smtp) == (1, 1)
    [row] = rows(ctx)
    assert row.attempts == 0 and row.last_error is None and row.recipient == EMAIL


def test_two_concurrent_deliverers_send_each_message_exactly_once(ctx):
    with webhook_receiver(delay_s=0.005) as receiver:
        configure(ctx, partner_webhook_urls=(receiver.url,))
        for _ in range(24):
            case_id, _ = make_case(ctx, state="withdrawn", contact=False)
            assert queue(ctx, case_id, "withdrawn", {}) == 1
        start = threading.Barrier(2)
        reports: list[notifications.DeliveryReport] = []
        problems: list[BaseException] = []

        def deliver() -> None:
            try:
                start.wait()
                reports.append(notifications.deliver_due(ctx))
            except BaseException as error:  # surfaced below, not lost in the thread
                problems.append(error)

        threads = [threading.Thread(target=deliver) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        deliveries = receiver.wait_for(24)
    assert problems == []
    assert sum(report.sent for report in reports) == 24
    assert all(report.sent > 0 for report in reports)  # both really delivered, side by side
    delivery_ids = [d.headers["x-deepshield-delivery"] for d in deliveries]
    assert len(delivery_ids) == 24 and len(set(delivery_ids)) == 24
    assert {row.status for row in rows(ctx)} == {"sent"}
    assert len(audit_events(ctx, "notification.sent")) == 24


def test_a_claimed_message_is_not_due_for_others_until_its_lease_ends(ctx):
    configure(ctx, partner_webhook_urls=("https://partner.example.net/hook",))
    case_id, _ = make_case(ctx, state="withdrawn", contact=False)
    queue(ctx, case_id, "withdrawn", {})
    now = utcnow() + timedelta(seconds=1)
    lease = now + notifications.CLAIM_LEASE
    with ctx.store.transaction() as session:
        claimed = repository.claim_next(session, now=now, lease_until=lease, channels=["webhook"])
        token = claimed.next_attempt_at
    assert token == lease
    with ctx.store.transaction() as session:
        assert repository.claim_next(session, now=now, lease_until=lease, channels=["webhook"]) is None
        assert repository.claim_next(session, now=lease - timedelta(seconds=1),
                                     lease_until=lease, channels=["webhook"]) is None
    # The first deliverer died: once the lease ends another claims it (at least once)...
    later = lease + timedelta(seconds=1)
    with ctx.store.transaction() as session:
        again = repository.claim_next(session, now=later, lease_until=later + notifications.CLAIM_LEASE,
                                      channels=["webhook"])
        assert again is not None and again.id == claimed.id
    # ...and the first one's claim no longer holds the row, so its outcome is not recorded.
    with ctx.store.transaction() as session:
        assert repository.held(session, claimed.id, token) is None
        assert repository.held(session, claimed.id, again.next_attempt_at) is not None


def test_the_statement_of_reasons_never_identifies_the_requester(ctx):
    with webhook_receiver() as platform:
        configure(ctx, platform_webhook_url=platform.url)
        case_id, number = make_case(ctx, state="actioned", role="helpline")
        detail = {"decision": "removed", "automated": False, "uploader_ref": "acct-7781",
                  "item_ids": ["post-1", "post-2"], "hashes": [PDQ, SHA256],
                  "reasons": f"{NAME} ({EMAIL}) showed the image is of her; hash {PDQ} matched.",
                  "at": datetime(2026, 6, 1, 10, 0, tzinfo=UTC)}
        queue(ctx, case_id, "decided", detail)
        [statement] = rows(ctx, kind="statement_of_reasons")
        notifications.deliver_due(ctx)
        [delivery] = platform.deliveries
    body = statement.body
    for identifying in (number, NAME, EMAIL, "helpline", "victim", "representative", PDQ, SHA256,
                        f"case:{case_id}", "showed the image is of her"):
        assert identifying.lower() not in body.lower(), identifying
    assert delivery.body.decode() == body
    payload = json.loads(body)
    assert payload["type"] == "statement_of_reasons"
    assert payload["uploader_ref"] == "acct-7781" and payload["item_ids"] == ["post-1", "post-2"]
    assert payload["decision"] == "removed" and payload["ground"] == "non-consensual intimate image"
    assert payload["automated_decision"] is False and payload["notice_based"] is True
    assert payload["facts_and_circumstances"]
    assert {"internal_complaint", "counter_notice", "out_of_court", "judicial"} <= set(payload["redress"])
    assert payload["decided_at"] == "2026-06-01T10:00:00+00:00"


def test_a_decision_goes_to_the_requester_uploader_and_partners(ctx):
    with webhook_receiver() as platform, webhook_receiver() as partner:
        configure(ctx, platform_webhook_url=platform.url, partner_webhook_urls=(partner.url,))
        case_id, number = make_case(ctx, state="actioned")
        removed = queue(ctx, case_id, "decided", {"decision": "removed", "reasons": "It is an NCII.",
                                                  "uploader_ref": "acct-1", "item_ids": ["p-1"]})
        assert removed == 3
        assert [(r.kind, r.channel) for r in rows(ctx)] == [
            ("decision", "email"), ("statement_of_reasons", "webhook"), ("partner_status", "webhook")]
        decision = rows(ctx, kind="decision")[0]
        assert decision.subject == f"Case {number}: decision"
        assert "The content you reported was removed." in decision.body and "It is an NCII." in decision.body
        status = json.loads(rows(ctx, kind="partner_status")[0].body)
        assert set(status) == {"event", "case_ref", "state", "at", "decision"}
        assert status["case_ref"] == f"case:{case_id}" and status["decision"] == "removed"

        declined_id, _ = make_case(ctx, state="actioned")
        # Declined: nothing was restricted, so the uploader gets no statement.
        assert queue(ctx, declined_id, "decided", {"decision": "declined", "reasons": "Not NCII.",
                                                   "uploader_ref": "acct-2"}) == 2
        assert len(rows(ctx, kind="statement_of_reasons")) == 1


def test_withdrawal_tells_partners_without_pii_or_hashes_and_confirms_to_the_requester(ctx):
    with webhook_receiver() as first, webhook_receiver() as second, webhook_receiver() as helpline:
        configure(ctx, partner_webhook_urls=(first.url, second.url, first.url), webhook_secret="k")
        case_id, number = make_case(ctx, state="withdrawn", role="helpline", webhook=helpline.url)
        at = datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
        assert queue(ctx, case_id, "withdrawn", {"at": at, "hashes": [PDQ]}) == 4
        report = notifications.deliver_due(ctx)
        assert (report.sent, report.pending_left, report.waiting_for_smtp) == (3, 1, 1)
        for receiver in (first, second):
            [delivery] = receiver.deliveries
            assert verify_signature(delivery.body, delivery.headers["x-deepshield-signature"], "k")
            assert json.loads(delivery.body) == {"event": "withdrawn", "case_ref": f"case:{case_id}",
                                                 "state": "withdrawn", "at": at.isoformat()}
            for identifying in (number, NAME, EMAIL, PDQ, "helpline"):
                assert identifying not in delivery.body.decode()
        [confirmation] = helpline.deliveries
    assert json.loads(confirmation.body)["case_number"] == number
    [email_row] = rows(ctx, channel="email")
    assert email_row.kind == "withdrawal" and "have been removed from our banks" in email_row.body


def test_appeal_outcome_and_escalation_messages(ctx):
    case_id, number = make_case(ctx, state="closed")
    assert queue(ctx, case_id, "appeal_decided", {"outcome": "overturned", "reasons": "New facts."}) == 1
    [row] = rows(ctx)
    assert row.subject == f"Case {number}: appeal decided"
    assert "the original decision was reversed" in row.body and "New facts." in row.body
    # Escalations are operations alerts: none without a platform webhook.
    assert queue(ctx, case_id, "escalated", {"clock": {"jurisdiction": "US", "duty": "remove",
                                                       "due_at": "2026-06-01T12:00:00+00:00"}}) == 0
    configure(ctx, platform_webhook_url="https://ops.example.org/alerts")
    assert queue(ctx, case_id, "escalated", {"clock": {"jurisdiction": "US", "duty": "remove",
                                                       "due_at": "2026-06-01T12:00:00+00:00"}}) == 1
    alert = json.loads(rows(ctx, kind="escalation")[0].body)
    assert alert["case_number"] == number and alert["jurisdiction"] == "US"
    assert alert["due_at"] == "2026-06-01T12:00:00+00:00" and "2026-06-01 12:00 UTC" in alert["message"]


def test_unknown_events_are_refused_and_erased_contacts_get_nothing(ctx):
    case_id, _ = make_case(ctx)
    with pytest.raises(ValueError, match="unknown notification event 'opened'"):
        queue(ctx, case_id, "opened", {})
    with ctx.store.transaction() as session:
        session.get(CaseContact, case_id).erased_at = utcnow()
    assert queue(ctx, case_id, "received", {}) == 0
    no_contact_id, _ = make_case(ctx, contact=False)
    assert queue(ctx, no_contact_id, "decided", {"decision": "declined"}) == 0
    with ctx.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Notification)) == 0


def test_a_recipient_too_long_to_store_is_skipped_without_failing_the_change(ctx):
    configure(ctx, partner_webhook_urls=("https://partner.example.net/" + "x" * 600,
                                         "https://other.example.net/hook"))
    case_id, _ = make_case(ctx, state="withdrawn", contact=False)
    assert queue(ctx, case_id, "withdrawn", {}) == 1
    assert [row.recipient for row in rows(ctx)] == ["https://other.example.net/hook"]


def test_sent_messages_keep_no_pii(ctx):
    with smtp_sink() as sink, webhook_receiver() as helpline:
        configure(ctx, smtp_host=sink.host, smtp_port=sink.port)
        case_id, number = make_case(ctx, webhook=helpline.url)
        queue(ctx, case_id, "received", {})
        sent_at = utcnow() + timedelta(seconds=5)
        assert notifications.deliver_due(ctx, now=sent_at).sent == 2
    email_row, webhook_row = rows(ctx)
    assert email_row.channel == "email" and email_row.status == "sent" and email_row.sent_at == sent_at
    assert email_row.recipient == "redacted:" + hashlib.sha256(EMAIL.encode()).hexdigest()[:16]
    assert email_row.body == "" and email_row.kind == "receipt"
    assert email_row.subject == f"Case {number}: request received"
    assert webhook_row.recipient == "redacted:" + hashlib.sha256(helpline.url.encode()).hexdigest()[:16]
    assert json.loads(webhook_row.body)["case_number"] == number
    events = audit_events(ctx, "notification.sent")
    assert {e.target for e in events} == {f"notification:{email_row.id}", f"notification:{webhook_row.id}"}
    assert all(e.automated and e.actor == notifications.ACTOR for e in events)
    assert sorted(json.loads(e.detail)["channel"] for e in events) == ["email", "webhook"]
    assert all(EMAIL not in e.detail and number not in e.detail for e in events)


def test_admins_list_the_outbox_with_masked_recipients(ctx):
    configure(ctx, partner_webhook_urls=("https://partner.example.net/hooks/token-123?k=v",))
    case_id, _ = make_case(ctx, state="withdrawn")
    queue(ctx, case_id, "withdrawn", {})
    with pytest.raises(Forbidden):
        notifications.list_notifications(ctx, Principal("key:p", Role.PLATFORM))
    with pytest.raises(InvalidRequest, match="status must be one of pending, sent, failed"):
        notifications.list_notifications(ctx, ADMIN, "lost")
    views = notifications.list_notifications(ctx, ADMIN)
    assert [(v.kind, v.channel, v.recipient) for v in views] == [
        ("withdrawal", "email", "j***@example.org"),
        ("partner_status", "webhook", "https://partner.example.net/…")]
    assert all(v.case_ref == f"case:{case_id}" and v.status == "pending" for v in views)
    assert notifications.list_notifications(ctx, ADMIN, "sent") == []
    plain = notifications.notification_view(views[0])
    assert "body" not in plain and EMAIL not in json.dumps(plain)
    listed = audit_events(ctx, "notification.list")
    assert len(listed) == 2 and {e.actor for e in listed} == {ADMIN.actor}


def test_deliver_at_a_door_needs_the_admin_role(ctx):
    with pytest.raises(Forbidden):
        notifications.deliver(ctx, Principal("key:h", Role.HELPLINE))
    with pytest.raises(InvalidRequest, match="limit"):
        notifications.deliver(ctx, ADMIN, limit=0)
    assert notifications.deliver(ctx, ADMIN).pending_left == 0
