"""Reading a case into the record the doors show (``records.CaseView``): its state, clocks,
locations and, in full, its pauses, appeals and history. No contact details, no hash values."""

from __future__ import annotations

import json
from dataclasses import replace

from sqlalchemy.orm import Session

from deepshield.cases import intake
from deepshield.cases.states import CaseState
from deepshield.errors import NotFound
from deepshield.services.access import NOT_VISIBLE
from deepshield.services.context import ServiceContext
from deepshield.services.takedown.case_answers import in_danger, pending_hashes, stored_form
from deepshield.services.takedown.case_events import READ_ACTIONS
from deepshield.services.takedown.records import (
    AppealView,
    CaseView,
    ClockView,
    HistoryItem,
    LocationView,
    PauseView,
)
from deepshield.settings import Settings
from deepshield.store import audit_repository as audit
from deepshield.store import case_repository as repo
from deepshield.store.models import Case


def read_case(session: Session, settings: Settings, case: Case, *, full: bool = True) -> CaseView:
    """The case as the doors show it (no contact details, no hash values). ``full`` adds
    pauses, appeals and history (a list leaves them out)."""
    open_pause = repo.open_pause(session, case.id)
    clock_rows = repo.clocks_of(session, case.id)
    missing: list[str] = []
    if case.state in (CaseState.RECEIVED.value, CaseState.INCOMPLETE.value):
        missing = intake.missing(stored_form(session, case))
    if case.state == CaseState.WITHDRAWN.value:
        hash_count = 0
    elif case.completed_at is not None:
        hash_count = repo.count_active_entries(session, case.id, settings.cases.reports_bank)
    else:
        hash_count = len(pending_hashes(case))
    view = CaseView(
        case_number=case.case_number,
        state=case.state,
        requester_role=case.requester_role,
        jurisdictions=[j for j in case.jurisdictions.split(",") if j],
        received_at=case.received_at,
        completed_at=case.completed_at,
        due_at=case.due_at,
        acknowledged_at=case.acknowledged_at,
        decision=case.decision,
        decision_reasons=case.decision_reasons,
        decided_by=case.decided_by,
        decision_automated=case.decision_automated,
        actioned_at=case.actioned_at,
        closed_at=case.closed_at,
        withdraw_requested_at=case.withdraw_requested_at,
        withdraw_effective_at=case.withdraw_effective_at,
        withdrawn_at=case.withdrawn_at,
        legal_hold=case.legal_hold,
        missing=missing,
        referral=intake.UNDER_18_REFERRAL if case.state == CaseState.REFERRED.value else None,
        hash_count=hash_count,
        clocks=[ClockView(c.jurisdiction, c.duty, c.started_at, c.due_at, c.met_at, c.escalated_at,
                          c.breached_at, open_pause is not None and c.met_at is None) for c in clock_rows],
        locations=[LocationView(row.id, row.kind, row.location, row.status)
                   for row in repo.locations_of(session, case.id)],
        safety_advice=intake.SAFETY_ADVICE if in_danger(case) else None,
    )
    if not full:
        return view
    return replace(
        view,
        pauses=[PauseView(p.reason, p.paused_by, p.started_at, p.ended_at)
                for p in repo.pauses_of(session, case.id)],
        appeals=[AppealView(a.id, a.kind, a.filed_by_party, a.statement, a.filed_at, a.reviewer, a.outcome,
                            a.outcome_reasons, a.decided_at) for a in repo.appeals_of(session, case.id)],
        history=history_of(session, case),
    )


def read_case_by_id(ctx: ServiceContext, case_id: int) -> CaseView:
    """The case's view read after a change committed, so its history holds that change."""
    with ctx.store.transaction() as session:
        case = repo.get_by_id(session, case_id)
        if case is None:  # pragma: no cover - cases are never deleted
            raise NotFound(NOT_VISIBLE)
        return read_case(session, ctx.settings, case)


def history_of(session: Session, case: Case) -> list[HistoryItem]:
    """The case's state changes from the audit log, oldest first (reads left out)."""
    items = []
    for event in audit.events_for_target(session, repo.case_ref(case.id)):
        if event.action in READ_ACTIONS:
            continue
        try:
            detail = json.loads(event.detail or "{}")
        except ValueError:
            detail = {}
        items.append(HistoryItem(int(event.seq), event.at, event.actor, event.action, bool(event.automated),
                                 detail if isinstance(detail, dict) else {}))
    return items
