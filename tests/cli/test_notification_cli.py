"""``deepshield notifications list`` and ``deliver`` on a real database and a real webhook receiver."""

from __future__ import annotations

import json

from deepshield.services.context import ServiceContext
from deepshield.services.takedown.outbox import queue_case_event
from deepshield.settings import load_settings
from deepshield.store.models import Case, CaseContact, utcnow
from notification_receivers import webhook_receiver

EMAIL = "alex.requester@example.org"


def _queue_withdrawal() -> int:
    """A withdrawn case and its messages, queued on the settings the CLI will read."""
    ctx = ServiceContext.open(load_settings())
    try:
        with ctx.store.transaction() as session:
            case = Case(case_number="DS-CLI1-CLI2-CLI3", state="withdrawn", requester_role="victim",
                        filed_by="public", received_at=utcnow())
            session.add(case)
            session.flush()
            contact = CaseContact(case_id=case.id, signature_name="Alex R.", contact_email=EMAIL)
            session.add(contact)
            queue_case_event(session, ctx.settings, event="withdrawn", case=case, contact=contact,
                             detail={})
            return case.id
    finally:
        ctx.close()


def test_deliver_sends_webhooks_and_says_that_smtp_is_not_configured(cli_env, monkeypatch, run):
    with webhook_receiver() as partner:
        monkeypatch.setenv("DEEPSHIELD_PARTNER_WEBHOOK_URLS", partner.url)
        case_id = _queue_withdrawal()
        code, out, err = run("notifications", "deliver", "--json")
        [delivery] = partner.deliveries
    assert code == 0, (out, err)
    assert json.loads(out) == {"sent": 1, "failed": 0, "retried": 0, "pending_left": 1,
                               "waiting_for_smtp": 1}
    assert "SMTP is not configured" in err and "DEEPSHIELD_SMTP_HOST" in err
    assert json.loads(delivery.body)["case_ref"] == f"case:{case_id}"

    code, out, err = run("notifications", "deliver")
    assert code == 0 and "Sent 0, retried 0, failed 0; 1 pending." in out
    assert "SMTP is not configured" in err


def test_list_shows_masked_recipients_and_filters_by_status(cli_env, monkeypatch, run):
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: the table's cells are not cut
    case_id = _queue_withdrawal()
    code, out, _ = run("notifications", "list", "--json")
    assert code == 0
    [message] = json.loads(out)
    assert message["recipient"] == "a***@example.org" and message["case_ref"] == f"case:{case_id}"
    assert message["status"] == "pending" and EMAIL not in out
    code, out, _ = run("notifications", "list", "--status", "sent", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run("notifications", "list")
    assert code == 0 and "withdrawal" in out and "a***@example.org" in out


def test_an_unknown_status_is_a_clear_input_error(cli_env, run):
    code, out, _ = run("notifications", "list", "--status", "lost", "--json")
    assert code == 3
    assert json.loads(out) == {"error": "invalid_request",
                               "detail": "status must be one of pending, sent, failed; got 'lost'"}
