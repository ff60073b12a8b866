"""Use cases: the notification outbox of takedown cases.

Queueing happens inside the caller's transaction (``queue_case_event``, called by the cases
service as it changes a case), so a rolled-back change leaves no message and a committed one
leaves its messages pending: the outbox pattern. Nothing is sent inside that transaction.
Delivery (``deliver_due``) runs later, from the server's scheduler every few seconds or from
``deepshield notifications deliver``; it claims each message so that concurrent deliverers
never send one twice (``store.notification_repository``), retries with exponential backoff,
gives up after ``max_attempts``, and after a successful send keeps no PII: the recipient
becomes ``redacted:<sha256 prefix>`` and an email's body is emptied.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from deepshield.cases.references import case_reference
from deepshield.errors import InvalidRequest
from deepshield.notifications import DeliveryError, messages
from deepshield.notifications import email as email_sender
from deepshield.notifications import webhook as webhook_sender
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.settings import NotificationSettings, Settings
from deepshield.store import audit_repository as audit
from deepshield.store import notification_repository as repo
from deepshield.store.models import Case, CaseContact, Notification, utcnow

log = logging.getLogger("deepshield.notifications")

#: Who the audit log names for deliveries: the system, with no person in the loop.
ACTOR = "system:notifications"
#: How long a claim holds a message; longer than any one send can take (timeouts 10-30 s).
CLAIM_LEASE = timedelta(minutes=10)
EVENTS = frozenset({"received", "decided", "appeal_decided", "escalated", "withdrawn"})
EMAIL, WEBHOOK = "email", "webhook"
MAX_LIST = 1000
MAX_RECIPIENT = 500  # the column's width


@dataclass(frozen=True)
class DeliveryReport:
    sent: int
    failed: int  # given up on in this run (max attempts reached, or a permanent refusal)
    retried: int  # failed this time, due again after a backoff
    pending_left: int  # every message still pending after this run, due or not
    #: Emails left pending because SMTP is not configured (DEEPSHIELD_SMTP_HOST).
    waiting_for_smtp: int = 0


@dataclass(frozen=True)
class NotificationView:
    """A message as an admin sees it: the recipient masked, the body never shown."""

    id: int
    case_ref: str | None
    kind: str
    channel: str
    recipient: str
    subject: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


# --- Queueing -----------------------------------------------------------------------------------


class _Outbox:
    """The messages of one event, one row per (kind, channel, recipient)."""

    def __init__(self, session: Session, case_id: int | None) -> None:
        self._session = session
        self._case_id = case_id
        self._seen: set[tuple[str, str, str]] = set()

    @property
    def count(self) -> int:
        return len(self._seen)

    def add(self, kind: str, channel: str, recipient: str, *, subject: str = "", body: str) -> None:
        recipient = recipient.strip()
        if not recipient or (kind, channel, recipient) in self._seen:
            return
        if len(recipient) > MAX_RECIPIENT:
            # A misconfigured URL must not roll back the case change that queues the message.
            log.warning("a %s %s recipient is over %d characters; the message was not queued",
                        kind, channel, MAX_RECIPIENT)
            return
        self._seen.add((kind, channel, recipient))
        repo.add(self._session, case_id=self._case_id, kind=kind, channel=channel,
                 recipient=recipient, subject=subject, body=body)

    def email(self, kind: str, recipient: str, text: messages.EmailText) -> None:
        self.add(kind, EMAIL, recipient, subject=text.subject, body=text.body)

    def webhook(self, kind: str, recipient: str, payload: Mapping[str, Any]) -> None:
        self.add(kind, WEBHOOK, recipient, body=messages.to_json(payload))

    def requester(self, kind: str, contact: CaseContact | None, text: messages.EmailText,
                  payload: Mapping[str, Any]) -> None:
        if contact is None or contact.erased_at is not None:
            return
        if contact.contact_email:
            self.email(kind, contact.contact_email, text)
        if contact.webhook_url:
            self.webhook(kind, contact.webhook_url, payload)

    def partners(self, urls: Iterable[str], payload: Mapping[str, Any]) -> None:
        for url in urls:
            self.webhook("partner_status", url, payload)


def _iso(value: Any, fallback: datetime | None = None) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if value:
        return str(value)
    return (fallback or utcnow()).isoformat()


def queue_case_event(session: Session, settings: Settings, *, event: str, case: Case,
                     contact: CaseContact | None, detail: dict[str, Any]) -> int:
    """Queue the messages ``event`` calls for, on ``session`` (the caller's transaction).

    Returns how many were queued (0 is normal: no contact, no platform webhook...). Sends
    nothing: the messages go out after the commit, through ``deliver_due``. Raises
    ``ValueError`` for an event not in ``EVENTS``. Call it before erasing the contact details.

    ``detail`` by event (all keys optional unless said):
    - ``received``: ``missing`` (list of sentences), ``clocks`` (``[{"jurisdiction", "duty",
      "due_at"}]``, ``due_at`` a datetime or ISO text).
    - ``decided``: ``decision`` (removed/declined), ``reasons``, ``automated``, ``at``, and for the
      uploader's statement of reasons ``uploader_ref`` and ``item_ids`` (queued only on removal,
      with ``platform_webhook_url`` set, and with an uploader_ref or item ids).
    - ``appeal_decided``: ``outcome`` (upheld/overturned), ``reasons``, ``at``.
    - ``escalated``: ``jurisdiction``, ``duty``, ``due_at`` (or the same in ``detail["clock"]``).
    - ``withdrawn``: ``at``.
    Requester messages go to the contact's email and webhook (none once the contact is erased).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}; events are {', '.join(sorted(EVENTS))}")
    config = settings.notifications
    outbox = _Outbox(session, case.id)
    case_ref = case_reference(case.id)
    if event == "received":
        missing = [str(item) for item in detail.get("missing") or []]
        deadlines = messages.deadlines_from(detail.get("clocks") or [])
        outbox.requester("receipt", contact,
                         messages.receipt_email(case.case_number, case.state, missing, deadlines),
                         messages.receipt_payload(case.case_number, case.state, missing, deadlines))
    elif event == "decided":
        decision = str(detail.get("decision") or case.decision or "")
        reasons = str(detail.get("reasons") or case.decision_reasons or "")
        at = _iso(detail.get("at"), case.actioned_at)
        outbox.requester("decision", contact, messages.decision_email(case.case_number, decision, reasons),
                         messages.decision_payload(case.case_number, decision, reasons, at))
        uploader_ref = detail.get("uploader_ref")
        item_ids = [str(item) for item in detail.get("item_ids") or []]
        if decision == "removed" and config.platform_webhook_url and (uploader_ref or item_ids):
            automated = detail.get("automated", case.decision_automated)
            outbox.webhook("statement_of_reasons", config.platform_webhook_url,
                           messages.statement_of_reasons(
                               uploader_ref=str(uploader_ref) if uploader_ref else "",
                               item_ids=item_ids, decision=decision, automated=bool(automated),
                               decided_at=at))
        outbox.partners(config.partner_webhook_urls,
                        messages.partner_status("decided", case_ref, case.state, at, decision))
    elif event == "appeal_decided":
        outcome = str(detail.get("outcome") or "")
        reasons = str(detail.get("reasons") or "")
        at = _iso(detail.get("at"))
        outbox.requester("appeal_outcome", contact,
                         messages.appeal_outcome_email(case.case_number, outcome, reasons),
                         messages.appeal_outcome_payload(case.case_number, outcome, reasons, at))
    elif event == "escalated":
        clock = detail.get("clock") or detail
        if config.platform_webhook_url:
            outbox.webhook("escalation", config.platform_webhook_url,
                           messages.escalation_payload(case.case_number, str(clock.get("jurisdiction", "")),
                                                       str(clock.get("duty", "")),
                                                       _iso(clock.get("due_at"), case.due_at)))
    else:  # withdrawn
        at = _iso(detail.get("at"), case.withdrawn_at)
        outbox.partners(config.partner_webhook_urls,
                        messages.partner_status("withdrawn", case_ref, case.state, at))
        outbox.requester("withdrawal", contact, messages.withdrawal_email(case.case_number, case.state),
                         messages.withdrawal_payload(case.case_number, case.state, at))
    return outbox.count


# --- Delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """What one delivery needs, copied out of the claim's transaction."""

    id: int
    kind: str
    channel: str
    recipient: str
    subject: str
    body: str
    token: datetime  # the claim: the row's next_attempt_at as the claim wrote it


def _send(config: NotificationSettings, job: _Job) -> DeliveryError | None:
    try:
        if job.channel == EMAIL:
            email_sender.send_email(config, to=job.recipient, subject=job.subject, body=job.body,
                                    delivery_id=str(job.id))
        elif job.channel == WEBHOOK:
            webhook_sender.post_json(job.recipient, job.body, secret=config.webhook_secret,
                                     delivery_id=str(job.id), event=job.kind)
        else:
            return DeliveryError(f"unknown channel {job.channel!r}", permanent=True)
    except DeliveryError as error:
        return error
    except Exception as error:  # a bug in a sender must cost one message a retry, not the round
        log.exception("notification %s: unexpected error while sending", job.id)
        return DeliveryError(f"unexpected error ({type(error).__name__})")
    return None


def redacted(recipient: str) -> str:
    """What a sent message keeps of its recipient: enough to match a complaint, not to read."""
    return "redacted:" + hashlib.sha256(recipient.encode("utf-8")).hexdigest()[:16]


def _record(ctx: ServiceContext, job: _Job, error: DeliveryError | None, at: datetime) -> str | None:
    """Store the outcome; returns sent/failed/retried, or None when our claim was lost."""
    with ctx.store.transaction() as session:
        row = repo.held(session, job.id, job.token)
        if row is None:
            # The lease ran out and another deliverer claimed it: its outcome will count.
            log.warning("notification %s: claim lost before its outcome was recorded", job.id)
            return None
        target = f"notification:{row.id}"
        if error is None:
            row.status, row.sent_at, row.last_error = repo.SENT, at, None
            row.attempts += 1
            row.recipient = redacted(row.recipient)
            if row.channel == EMAIL:
                row.body = ""
            audit.record_event(session, ACTOR, "notification.sent", target, automated=True,
                               kind=row.kind, channel=row.channel)
            return "sent"
        row.attempts += 1
        row.last_error = error.reason[:500]
        if error.permanent or row.attempts >= ctx.settings.notifications.max_attempts:
            row.status = repo.FAILED
            audit.record_event(session, ACTOR, "notification.failed", target, automated=True,
                               kind=row.kind, channel=row.channel)
            return "failed"
        row.next_attempt_at = at + repo.backoff(row.attempts)
        return "retried"


def deliver_due(ctx: ServiceContext, *, now: datetime | None = None, limit: int = 100) -> DeliveryReport:
    """Send up to ``limit`` messages that are due at ``now`` (default: the current time).

    Safe to run in several threads and processes at once: each message is claimed before it
    is sent, so none is sent twice (unless a deliverer dies mid-send; see the repository).
    Emails wait, pending, while SMTP is not configured; that is not an error.
    """
    config = ctx.settings.notifications
    channels = [WEBHOOK, EMAIL] if config.smtp_host else [WEBHOOK]
    outcomes = {"sent": 0, "failed": 0, "retried": 0}
    for _ in range(max(limit, 0)):
        at = now or utcnow()
        with ctx.store.transaction() as session:
            row = repo.claim_next(session, now=at, lease_until=at + CLAIM_LEASE, channels=channels)
            if row is None:
                break
            job = _Job(row.id, row.kind, row.channel, row.recipient, row.subject, row.body,
                       row.next_attempt_at)
        error = _send(config, job)
        if error is not None:
            log.info("notification %s (%s by %s) not delivered: %s", job.id, job.kind, job.channel,
                     error.reason)
        outcome = _record(ctx, job, error, now or utcnow())
        if outcome is not None:
            outcomes[outcome] += 1
    with ctx.store.transaction() as session:
        pending_left = repo.count(session, status=repo.PENDING)
        waiting = 0 if config.smtp_host else repo.count(session, status=repo.PENDING, channel=EMAIL)
    return DeliveryReport(outcomes["sent"], outcomes["failed"], outcomes["retried"], pending_left,
                          waiting)


def deliver(ctx: ServiceContext, principal: Principal, *, now: datetime | None = None,
            limit: int = 100) -> DeliveryReport:
    """``deliver_due`` on an admin's request (the doors' ``deliver``)."""
    authorize(principal, Action.NOTIFICATIONS_MANAGE)
    if not 1 <= limit <= MAX_LIST:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIST}; got {limit}")
    return deliver_due(ctx, now=now, limit=limit)


# --- Reading ------------------------------------------------------------------------------------


def mask_recipient(channel: str, recipient: str) -> str:
    """An address or URL shown without what would identify or authorise: ``j***@example.org``,
    ``https://hooks.example.org/…`` (paths and queries often carry tokens)."""
    if recipient.startswith("redacted:"):
        return recipient
    if channel == EMAIL:
        local, _, domain = recipient.partition("@")
        return f"{local[:1]}***@{domain}" if domain else "***"
    parts = urlsplit(recipient)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…" if parts.hostname else "***"


def _view(row: Notification) -> NotificationView:
    return NotificationView(
        id=row.id, case_ref=case_reference(row.case_id) if row.case_id is not None else None,
        kind=row.kind, channel=row.channel, recipient=mask_recipient(row.channel, row.recipient),
        subject=row.subject, status=row.status, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error,
        created_at=row.created_at, sent_at=row.sent_at)


def list_notifications(ctx: ServiceContext, principal: Principal, status: str | None = None, *,
                       limit: int = 100) -> list[NotificationView]:
    """The outbox, newest first, for admins (``Action.NOTIFICATIONS_MANAGE``). Recipients are
    masked and bodies never shown. The read is audit-logged."""
    authorize(principal, Action.NOTIFICATIONS_MANAGE)
    if status is not None and status not in repo.STATUSES:
        raise InvalidRequest(f"status must be one of {', '.join(repo.STATUSES)}; got {status!r}")
    if not 1 <= limit <= MAX_LIST:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIST}; got {limit}")
    with ctx.store.transaction() as session:
        views = [_view(row) for row in repo.list_notifications(session, status=status, limit=limit)]
        audit.record_event(session, principal.actor, "notification.list", "notifications",
                           status=status, count=len(views))
    return views


def notification_view(view: NotificationView) -> dict[str, Any]:
    """A plain dict for the doors (``--json`` and the API)."""
    return {
        "id": view.id, "case_ref": view.case_ref, "kind": view.kind, "channel": view.channel,
        "recipient": view.recipient, "subject": view.subject, "status": view.status,
        "attempts": view.attempts, "next_attempt_at": view.next_attempt_at.isoformat(),
        "last_error": view.last_error, "created_at": view.created_at.isoformat(),
        "sent_at": view.sent_at.isoformat() if view.sent_at else None,
    }


def report_view(report: DeliveryReport) -> dict[str, int]:
    return {"sent": report.sent, "failed": report.failed, "retried": report.retried,
            "pending_left": report.pending_left, "waiting_for_smtp": report.waiting_for_smtp}
