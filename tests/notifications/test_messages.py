"""The words of notifications, the webhook signature and URL policy, the email's headers."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, datetime

import pytest

from deepshield.notifications import DeliveryError, messages
from deepshield.notifications.email import address_problem, build_message, send_email
from deepshield.notifications.webhook import post_json, sign, url_problem, verify_signature
from deepshield.settings import NotificationSettings

NUMBER = "DS-AB12-CD34-EF56"
DEADLINES = messages.deadlines_from([
    {"jurisdiction": "AU", "duty": "remove", "due_at": datetime(2026, 6, 1, 8, 0, tzinfo=UTC)},
    {"jurisdiction": "EU", "duty": "acknowledge", "due_at": "2026-06-01T20:15:00+00:00"},
])


def test_a_receipt_for_a_complete_request_gives_the_number_the_deadlines_and_the_way_back():
    text = messages.receipt_email(NUMBER, "valid", [], DEADLINES)
    assert text.subject == f"Case {NUMBER}: request received"
    assert f"Your case number is {NUMBER}." in text.body
    assert "Your request is complete, and being reviewed." in text.body
    assert ("Australia (eSafety image-based abuse scheme): remove the content by 2026-06-01 08:00 UTC"
            in text.body)
    assert ("European Union (Digital Services Act): acknowledge your request by 2026-06-01 20:15 UTC"
            in text.body)
    assert "not complete" not in text.body
    assert messages.STATUS_HOW_TO in text.body and messages.SAFETY_NOTE in text.body


def test_a_receipt_for_an_incomplete_request_lists_what_is_missing_and_says_no_clock_runs():
    missing = ["A good-faith statement.", "A signature."]
    text = messages.receipt_email(NUMBER, "incomplete", missing, [])
    assert "the legal deadlines have not started" in text.body
    assert "- A good-faith statement.\n- A signature.\n" in text.body
    assert "deadlines that apply" not in text.body
    payload = messages.receipt_payload(NUMBER, "incomplete", missing, [])
    assert payload["missing"] == missing and payload["clocks"] == []


def test_no_message_builder_can_take_a_pin():
    builders = [messages.receipt_email, messages.receipt_payload, messages.decision_email,
                messages.decision_payload, messages.appeal_outcome_email, messages.withdrawal_email,
                messages.withdrawal_payload, messages.escalation_payload, messages.partner_status,
                messages.statement_of_reasons]
    for builder in builders:
        assert not any("pin" in name.lower() for name in inspect.signature(builder).parameters), builder


def test_the_statement_of_reasons_has_every_element_of_dsa_article_17():
    statement = messages.statement_of_reasons(uploader_ref="acct-9", item_ids=["i-1"], decision="removed",
                                              automated=True, decided_at="2026-06-01T10:00:00+00:00")
    assert set(inspect.signature(messages.statement_of_reasons).parameters) == {
        "uploader_ref", "item_ids", "decision", "automated", "decided_at"}
    assert statement["restriction"].startswith("removal")  # (a) the restriction
    assert "without their consent" in statement["facts_and_circumstances"]  # (b) facts
    assert statement["notice_based"] is True
    assert statement["automated_decision"] is True  # (c) automated means
    assert "automated means" in statement["automated_means"]
    assert statement["ground"] == "non-consensual intimate image"  # (d)/(e) grounds
    assert any("terms of service" in ground for ground in statement["legal_grounds"])
    assert set(statement["redress"]) == {"internal_complaint", "counter_notice", "out_of_court",
                                         "judicial"}  # (f) redress
    human = messages.statement_of_reasons(uploader_ref="", item_ids=[], decision="removed",
                                          automated=False, decided_at="")
    assert human["automated_decision"] is False and "A person reviewed" in human["automated_means"]


def test_decision_and_appeal_texts_say_what_happened_in_plain_words():
    removed = messages.decision_email(NUMBER, "removed", "Matches the reported image.")
    assert removed.body.startswith("The content you reported was removed.")
    assert "Matches the reported image." in removed.body and "appeal" in removed.body
    declined = messages.decision_email(NUMBER, "declined", "")
    assert declined.body.startswith("The content you reported was not removed.")
    assert "(none given)" in declined.body
    upheld = messages.appeal_outcome_email(NUMBER, "upheld", "Reviewed again.")
    assert "the original decision stands" in upheld.body


def test_partner_status_holds_only_an_opaque_reference_and_the_state():
    status = messages.partner_status("withdrawn", "case:12", "withdrawn", "2026-06-01T00:00:00+00:00")
    assert status == {"event": "withdrawn", "case_ref": "case:12", "state": "withdrawn",
                      "at": "2026-06-01T00:00:00+00:00"}


def test_webhook_bodies_are_compact_sorted_json():
    body = messages.to_json({"b": 1, "a": datetime(2026, 1, 1, tzinfo=UTC)})
    assert body == '{"a":"2026-01-01 00:00:00+00:00","b":1}'
    assert json.loads(body)["b"] == 1


def test_signatures_verify_only_with_the_same_secret_and_body():
    body = b'{"event":"withdrawn"}'
    header = sign(body, "secret")
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify_signature(body, header, "secret")
    assert not verify_signature(body, header, "Secret")
    assert not verify_signature(body + b"\n", header, "secret")
    assert not verify_signature(body, None, "secret") and not verify_signature(body, "", "secret")


@pytest.mark.parametrize("url", ["https://hooks.example.org/x", "http://127.0.0.1:8080/h",
                                 "http://localhost/h", "http://10.1.2.3/h", "http://[::1]:9000/h",
                                 "http://192.168.0.5/h"])
def test_https_anywhere_and_http_to_local_addresses_are_allowed(url):
    assert url_problem(url) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("http://hooks.example.org/x", "use https"),
    ("http://8.8.8.8/x", "use https"),
    ("http://internal.corp/x", "use https"),  # names are not resolved: refused over http
    ("ftp://127.0.0.1/x", "http(s) URL"),
    ("https:///nohost", "http(s) URL"),
    ("javascript:alert(1)", "http(s) URL"),
])
def test_other_webhook_urls_are_refused_with_a_reason(url, reason):
    problem = url_problem(url)
    assert problem is not None and reason in problem
    assert "example.org" not in problem and "8.8.8.8" not in problem


def test_a_refused_url_fails_delivery_for_good_without_a_connection():
    with pytest.raises(DeliveryError) as caught:
        post_json("http://hooks.example.org/x", "{}", secret="", delivery_id="1")
    assert caught.value.permanent and "hooks.example.org" not in caught.value.reason


@pytest.mark.parametrize("address", ["a@example.org", "first.last+tag@mail.example.co.uk"])
def test_plain_email_addresses_are_accepted(address):
    assert address_problem(address) is None


@pytest.mark.parametrize("address", ["", "no-at-sign", "a@b", "two@@example.org", "a b@example.org",
                                     "x@example.org\r\nBcc: y@example.org", "<a@example.org>"])
def test_malformed_email_addresses_are_refused(address):
    assert address_problem(address) is not None


def test_an_email_carries_its_delivery_id_and_auto_submitted_headers():
    settings = NotificationSettings(smtp_from="Cases <cases@deepshield.example>")
    message = build_message(settings, to="a@example.org", subject="Case X: decision", body="Hello\n",
                            delivery_id="42")
    assert message["From"] == "Cases <cases@deepshield.example>" and message["To"] == "a@example.org"
    assert message["X-DeepShield-Delivery"] == "42" and message["Auto-Submitted"] == "auto-generated"
    assert "notification-42" in message["Message-ID"] and message["Date"]
    assert message.get_content() == "Hello\n"


def test_email_without_smtp_configured_or_to_a_bad_address_is_not_sent():
    with pytest.raises(DeliveryError, match="SMTP is not configured") as unconfigured:
        send_email(NotificationSettings(), to="a@example.org", subject="s", body="b", delivery_id="1")
    assert not unconfigured.value.permanent
    with pytest.raises(DeliveryError) as bad:
        send_email(NotificationSettings(smtp_host="127.0.0.1"), to="not-an-address", subject="s",
                   body="b", delivery_id="1")
    assert bad.value.permanent and "not-an-address" not in bad.value.reason
