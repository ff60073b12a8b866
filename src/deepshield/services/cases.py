"""Use cases: takedown requests from intake to closing (issue 6). THE CONTRACT.

This file fixes the names and shapes that the doors (API, CLI), reports and benchmarks rely
on. The bodies are in ``case_intake`` (filing, completing), ``case_review`` (reading, clocks,
decisions, appeals, misuse, legal hold, the tick) and ``victim_access`` (case number and PIN,
status page, withdrawal), over the domain rules in ``deepshield.cases`` and the queries of
``store.case_repository``.

Vocabulary:
- ``form``: the request as a plain dict (JSON from the API, or a file/flags at the CLI). See
  ``deepshield.cases.intake`` for its fields.
- A case is named by its public ``case_number`` (``DS-XXXX-XXXX-XXXX``); internally by id,
  and its bank entries carry ``case_ref = "case:<id>"`` (never the number or any PII).
- Every function takes the acting ``Principal`` and authorises itself (``authorize``), and
  scopes: a victim principal (``principal.case_number``) sees only her case; a helpline sees
  only the cases it filed; platform and admin see all. Anything not visible answers exactly
  like a case that does not exist (``NotFound(NOT_VISIBLE)``), so probing learns nothing.
- Every state change and every read of a case is audit-logged (target ``case:<id>``, with
  ``automated`` set when no person decided).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deepshield.services.access import Principal
from deepshield.services.context import ServiceContext

#: The one answer for a case that does not exist or is not the caller's to see.
NOT_VISIBLE = "no case with that number is visible to you"
#: The one answer for a wrong case number, a wrong PIN or a locked case.
NOT_RECOGNISED = "the case number or PIN was not recognised, or the case is locked for a while"


@dataclass(frozen=True)
class ClockView:
    jurisdiction: str  # US, AU, UK, EU, POLICY
    duty: str  # remove / acknowledge
    started_at: datetime
    due_at: datetime
    met_at: datetime | None
    escalated_at: datetime | None
    breached_at: datetime | None
    paused: bool


@dataclass(frozen=True)
class PauseView:
    reason: str
    paused_by: str
    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class LocationView:
    id: int
    kind: str  # url / item
    location: str
    status: str  # pending / removed / declined / not_found


@dataclass(frozen=True)
class AppealView:
    id: int
    kind: str  # appeal / counter_notice
    filed_by_party: str  # requester / uploader
    statement: str
    filed_at: datetime
    reviewer: str | None
    outcome: str | None  # upheld / overturned
    outcome_reasons: str | None
    decided_at: datetime | None


@dataclass(frozen=True)
class HistoryItem:
    """One line of a case's history (from the audit log: no PII, no hash values)."""

    seq: int
    at: datetime
    actor: str
    action: str
    automated: bool
    detail: dict[str, Any]


@dataclass(frozen=True)
class CaseView:
    """A case as the doors show it. Never holds contact details or hash values."""

    case_number: str
    state: str
    requester_role: str
    jurisdictions: list[str]
    received_at: datetime
    completed_at: datetime | None
    due_at: datetime | None
    acknowledged_at: datetime | None
    decision: str | None
    decision_reasons: str | None
    decided_by: str | None
    decision_automated: bool | None
    actioned_at: datetime | None
    closed_at: datetime | None
    withdraw_requested_at: datetime | None
    withdraw_effective_at: datetime | None
    withdrawn_at: datetime | None
    legal_hold: bool
    #: What an incomplete request still lacks, one sentence per field (empty when complete).
    missing: list[str]
    #: Set for an under-18 request: where it was sent instead (NCMEC's Take It Down).
    referral: str | None
    hash_count: int
    clocks: list[ClockView] = field(default_factory=list)
    pauses: list[PauseView] = field(default_factory=list)
    locations: list[LocationView] = field(default_factory=list)
    appeals: list[AppealView] = field(default_factory=list)
    history: list[HistoryItem] = field(default_factory=list)
    #: Set when the requester answered being in immediate danger: contact emergency services.
    safety_advice: str | None = None


@dataclass(frozen=True)
class FiledCase:
    case: CaseView
    #: The victim's PIN, shown once, never stored (only its KDF hash is). None when the
    #: request was refused as a duplicate of an idempotent retry (the PIN was shown before).
    pin: str | None


@dataclass(frozen=True)
class VictimStatus:
    """What a victim sees with her case number and PIN: plain words, no reviewer names."""

    case_number: str
    state: str
    summary: str  # one plain-language sentence about where the case stands
    received_at: datetime
    due_at: datetime | None
    decision: str | None
    decision_reasons: str | None
    withdraw_effective_at: datetime | None
    locations_removed: int
    locations_total: int
    copies_found: int  # items the copy sweep listed


@dataclass(frozen=True)
class DueItem:
    case_number: str
    state: str
    jurisdiction: str
    duty: str
    due_at: datetime
    remaining: timedelta  # negative once breached
    escalated: bool
    breached: bool


@dataclass(frozen=True)
class Decision:
    case: CaseView
    #: The copy sweep's result on removal (``copy_sweep.SweepResult``), None when declined.
    sweep: Any | None


@dataclass(frozen=True)
class StrikeView:
    subject_kind: str  # uploader / reporter
    subject_ref: str
    kind: str  # warning / suspension
    reason: str
    at: datetime
    by: str
    automated: bool
    until: datetime | None


@dataclass(frozen=True)
class ContactView:
    signature_name: str
    contact_email: str
    webhook_url: str


@dataclass(frozen=True)
class TickReport:
    escalated: int
    breached: int
    withdrawals_applied: int


def file_request(ctx: ServiceContext, form: dict[str, Any], principal: Principal | None, *,
                 request_key: str | None = None, now: datetime | None = None,
                 address: str | None = None) -> FiledCase:
    """Take a request. ``principal`` None is a victim or representative filing without a key,
    from ``address`` (counted against the public door's daily cap per address)."""
    return case_intake.file_request(ctx, form, principal, request_key=request_key, now=now, address=address)


def update_request(ctx: ServiceContext, case_number: str, changes: dict[str, Any],
                   principal: Principal, *, now: datetime | None = None) -> CaseView:
    """Add what an incomplete request lacked; the clocks start when it becomes complete."""
    return case_intake.update_request(ctx, case_number, changes, principal, now=now)


def get_case(ctx: ServiceContext, case_number: str, principal: Principal) -> CaseView:
    return case_review.get_case(ctx, case_number, principal)


def list_cases(ctx: ServiceContext, principal: Principal, *, state: str | None = None,
               limit: int = 100) -> list[CaseView]:
    return case_review.list_cases(ctx, principal, state=state, limit=limit)


def due_cases(ctx: ServiceContext, principal: Principal, *, within: timedelta,
              now: datetime | None = None) -> list[DueItem]:
    return case_review.due_cases(ctx, principal, within=within, now=now)


def acknowledge(ctx: ServiceContext, case_number: str, principal: Principal, *,
                now: datetime | None = None) -> CaseView:
    return case_review.acknowledge(ctx, case_number, principal, now=now)


def pause_clocks(ctx: ServiceContext, case_number: str, reason: str, principal: Principal, *,
                 now: datetime | None = None) -> CaseView:
    return case_review.pause_clocks(ctx, case_number, reason, principal, now=now)


def resume_clocks(ctx: ServiceContext, case_number: str, principal: Principal, *,
                  now: datetime | None = None) -> CaseView:
    return case_review.resume_clocks(ctx, case_number, principal, now=now)


def decide(ctx: ServiceContext, case_number: str, decision: str, reasons: str,
           principal: Principal, *, automated: bool = False, uploader_ref: str | None = None,
           baseless: bool = False, now: datetime | None = None) -> Decision:
    """``removed`` or ``declined``, with reasons. Removal banks the hashes for blocking and
    runs the copy sweep; the requester gets the decision and the uploader a statement of
    reasons that never identifies the victim. A removal naming ``uploader_ref`` strikes the
    uploader, and a decline marked ``baseless`` the reporter (warn, then suspend)."""
    return case_review.decide(ctx, case_number, decision, reasons, principal, automated=automated,
                              uploader_ref=uploader_ref, baseless=baseless, now=now)


def close_case(ctx: ServiceContext, case_number: str, reason: str, principal: Principal, *,
               now: datetime | None = None) -> CaseView:
    return case_review.close_case(ctx, case_number, reason, principal, now=now)


def file_appeal(ctx: ServiceContext, case_number: str, statement: str, principal: Principal, *,
                party: str = "requester", kind: str = "appeal",
                now: datetime | None = None) -> CaseView:
    return case_review.file_appeal(ctx, case_number, statement, principal, party=party, kind=kind, now=now)


def decide_appeal(ctx: ServiceContext, case_number: str, appeal_id: int, outcome: str,
                  reasons: str, principal: Principal, *, now: datetime | None = None) -> CaseView:
    """Refused (``Forbidden``) when ``principal`` made the decision appealed against."""
    return case_review.decide_appeal(ctx, case_number, appeal_id, outcome, reasons, principal, now=now)


def record_strike(ctx: ServiceContext, subject_kind: str, subject_ref: str, reason: str,
                  principal: Principal, *, case_number: str | None = None,
                  automated: bool = False, now: datetime | None = None) -> StrikeView:
    """Warn first; suspend once the policy's number of strikes is reached."""
    return case_review.record_strike(ctx, subject_kind, subject_ref, reason, principal,
                                     case_number=case_number, automated=automated, now=now)


def strikes_for(ctx: ServiceContext, subject_kind: str, subject_ref: str,
                principal: Principal) -> list[StrikeView]:
    return case_review.strikes_for(ctx, subject_kind, subject_ref, principal)


def set_legal_hold(ctx: ServiceContext, case_number: str, hold: bool,
                   principal: Principal) -> CaseView:
    return case_review.set_legal_hold(ctx, case_number, hold, principal)


def read_contact(ctx: ServiceContext, case_number: str, principal: Principal) -> ContactView:
    """The requester's contact details (admin only; the read is audit-logged)."""
    return case_review.read_contact(ctx, case_number, principal)


def victim_principal(ctx: ServiceContext, case_number: str, pin: str, *,
                     now: datetime | None = None) -> Principal:
    """Check a case number and PIN (slow KDF; lockout after repeated failures). Raises
    ``Unauthorized(NOT_RECOGNISED)`` for every kind of failure alike."""
    return victim_access.victim_principal(ctx, case_number, pin, now=now)


def victim_status(ctx: ServiceContext, principal: Principal) -> VictimStatus:
    return victim_access.victim_status(ctx, principal)


def request_withdrawal(ctx: ServiceContext, case_number: str, principal: Principal, *,
                       cool_off: timedelta | None = None, now: datetime | None = None) -> CaseView:
    """Withdraw: after the cool-off (settings default) the case's hashes leave every bank and
    partner export. With no cool-off it takes effect at once."""
    return victim_access.request_withdrawal(ctx, case_number, principal, cool_off=cool_off, now=now)


def cancel_withdrawal(ctx: ServiceContext, case_number: str, principal: Principal) -> CaseView:
    return victim_access.cancel_withdrawal(ctx, case_number, principal)


def tick(ctx: ServiceContext, *, now: datetime | None = None) -> TickReport:
    """Escalate clocks near their deadline, mark breaches, apply withdrawals whose cool-off
    ended. Idempotent; ``serve`` runs it every few seconds and ``deepshield cases tick`` once."""
    return case_review.tick(ctx, now=now)


# The bodies live in three modules (intake, review, the victim's access) that import the
# dataclasses above; they are bound here last so either side may be imported first.
from deepshield.services import case_intake, case_review, victim_access  # noqa: E402
