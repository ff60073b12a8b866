"""Reading a case into the record the doors show (``records.CaseView``): its state, clocks,
locations and, in full, its pauses, appeals and history. No contact details, no hash values."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

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
from deepshield.store.models import Case, CaseClock, CaseContact, CaseLocation


@dataclass(frozen=True)
class _ListRows:
    """What a case's list view needs besides the case row, loaded for one case or for many."""

    paused: bool
    clocks: list[CaseClock]
    locations: list[CaseLocation]
    #: Active entries in the reports bank (read only for a completed case not withdrawn).
    active_entries: int
    #: The contact row, read only for a received or incomplete case (what it lacks needs it).
    contact: CaseContact | None


_DRAFT_STATES = (CaseState.RECEIVED.value, CaseState.INCOMPLETE.value)


def _counts_banked_entries(case: Case) -> bool:
    return case.state != CaseState.WITHDRAWN.value and case.completed_at is not None


def _load_list_rows(session: Session, settings: Settings, cases: Sequence[Case]) -> dict[int, _ListRows]:
    """Every case's ``_ListRows``, keyed by case id, in a constant number of queries (one per
    table and ``repo.IN_CHUNK`` cases; the entry and contact queries run only when some case
    needs them)."""
    ids = [case.id for case in cases]
    paused = repo.paused_case_ids(session, ids)
    clocks = repo.clocks_of_cases(session, ids)
    locations = repo.locations_of_cases(session, ids)
    counted = [case.id for case in cases if _counts_banked_entries(case)]
    entries = (repo.count_active_entries_of_cases(session, counted, settings.cases.reports_bank)
               if counted else {})
    drafts = [case.id for case in cases if case.state in _DRAFT_STATES]
    contacts = repo.contacts_of_cases(session, drafts) if drafts else {}
    return {case_id: _ListRows(case_id in paused, clocks.get(case_id, []), locations.get(case_id, []),
                               entries.get(case_id, 0), contacts.get(case_id))
            for case_id in ids}


def _missing(session: Session, case: Case, rows: _ListRows) -> list[str]:
    """What a draft request still lacks (``intake.missing`` of ``case_answers.stored_form``),
    from rows already loaded."""
    if case.state not in _DRAFT_STATES:
        return []
    return intake.missing(stored_form(session, case, rows.contact, rows.locations))


def _list_view(session: Session, case: Case, rows: _ListRows) -> CaseView:
    """The case's view without pauses, appeals and history, from its loaded rows: the one
    mapping both ``read_case`` and ``read_cases`` use."""
    if case.state == CaseState.WITHDRAWN.value:
        hash_count = 0
    elif case.completed_at is not None:
        hash_count = rows.active_entries
    else:
        hash_count = len(pending_hashes(case))
    return CaseView(
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
        missing=_missing(session, case, rows),
        referral=intake.UNDER_18_REFERRAL if case.state == CaseState.REFERRED.value else None,
        hash_count=hash_count,
        clocks=[ClockView(c.jurisdiction, c.duty, c.started_at, c.due_at, c.met_at, c.escalated_at,
                          c.breached_at, rows.paused and c.met_at is None) for c in rows.clocks],
        locations=[LocationView(row.id, row.kind, row.location, row.status) for row in rows.locations],
        safety_advice=intake.SAFETY_ADVICE if in_danger(case) else None,
    )


def read_case(session: Session, settings: Settings, case: Case, *, full: bool = True) -> CaseView:
    """The case as the doors show it (no contact details, no hash values). ``full`` adds
    pauses, appeals and history (a list leaves them out; a list of many reads ``read_cases``)."""
    view = _list_view(session, case, _load_list_rows(session, settings, [case])[case.id])
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


def read_cases(session: Session, settings: Settings, cases: Sequence[Case]) -> list[CaseView]:
    """The views ``read_case(..., full=False)`` gives, one per case, in the cases' order, read
    with a number of queries that does not grow with the number of cases (one per table and
    ``repo.IN_CHUNK`` cases), where reading them one by one takes about five per case."""
    if not cases:
        return []
    rows = _load_list_rows(session, settings, cases)
    return [_list_view(session, case, rows[case.id]) for case in cases]


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
