"""The records the takedown use cases return, and their two fixed answers.

The use cases are in ``intake`` (filing, completing), ``review`` (reading, clocks, decisions,
appeals, misuse, legal hold, the tick) and ``victim_access`` (case number and PIN, status
page, withdrawal), over the domain rules in ``deepshield.cases`` and the queries of
``store.case_repository``. This module knows nothing of them: it holds only plain data.

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
