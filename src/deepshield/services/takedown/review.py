"""Use cases: reviewing takedown cases. Read and list them, watch the clocks, acknowledge,
pause, decide (removal runs the copy sweep), appeal, close, record misuse, legal hold, and the
``tick`` that escalates, marks breaches and applies withdrawals whose cool-off ended.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from deepshield.cases import clocks as clock_rules
from deepshield.cases import misuse
from deepshield.cases.states import (
    APPEAL_OUTCOMES,
    CLOCKED,
    DECISIONS,
    MIN_REASON_CHARS,
    NOT_A_GROUND_TO_DECLINE,
    CaseState,
    fake_is_the_ground,
    flipped,
    require_move,
    require_state,
)
from deepshield.errors import Conflict, Forbidden, InvalidRequest, NotFound
from deepshield.services.access import Action, Principal, Role, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.spread.banks import SignalInput
from deepshield.services.spread.copy_sweep import sweep_for_case
from deepshield.services.takedown import (
    case_answers,
    case_clocks,
    case_events,
    case_hashes,
    case_lookup,
    case_reading,
    withdrawal,
)
from deepshield.services.takedown.records import (
    CaseView,
    ContactView,
    Decision,
    DueItem,
    StrikeView,
    TickReport,
)
from deepshield.store import audit_repository as audit
from deepshield.store import bank_repository
from deepshield.store import case_repository as repo
from deepshield.store.models import Appeal, Case, MisuseStrike

_MAX_REASON_CHARS = 5000
#: An appeal's outcome needs reasons too, if shorter ones (it answers a statement on file).
_MIN_APPEAL_REASON_CHARS = 3
_MAX_LIST = 1000
#: The largest review action (JSON) a door reads, in bytes: a pause, decision, appeal, withdrawal,
#: legal hold or strike holds a few short texts, the longest ``_MAX_REASON_CHARS``.
MAX_ACTION_BODY_BYTES = 64 * 1024


# --- reading ------------------------------------------------------------------------------------


def get_case(ctx: ServiceContext, case_number: str, principal: Principal) -> CaseView:
    """One case with its clocks, pauses, locations, appeals and history; the read is audited."""
    authorize(principal, Action.CASE_READ)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal)
        case_events.record(session, principal.actor, "case.read", case)
        return case_reading.read_case(session, ctx.settings, case)


def list_cases(ctx: ServiceContext, principal: Principal, *, state: str | None = None,
               limit: int = 100) -> list[CaseView]:
    """Cases newest first (a helpline's own only), without pauses, appeals and history."""
    authorize(principal, Action.CASE_LIST)
    _check_state(state)
    if not 1 <= limit <= _MAX_LIST:
        raise InvalidRequest(f"limit: between 1 and {_MAX_LIST}")
    with ctx.store.transaction() as session:
        cases = repo.list_cases(session, filed_by=_scope(principal), state=state, limit=limit)
        audit.record_event(session, principal.actor, "case.list", "", state=state, cases=len(cases))
        # One batch read: a constant number of queries however many cases are listed.
        return case_reading.read_cases(session, ctx.settings, cases)


def count_cases(ctx: ServiceContext, principal: Principal, *, state: str | None = None) -> int:
    """How many cases ``list_cases`` would list with no limit (a helpline's own only), without
    reading them; audited as a list is."""
    authorize(principal, Action.CASE_LIST)
    _check_state(state)
    with ctx.store.transaction() as session:
        counted = repo.count_cases(session, filed_by=_scope(principal), state=state)
        audit.record_event(session, principal.actor, "case.list", "", state=state, cases=counted,
                           counted_only=True)
        return counted


def _check_state(state: str | None) -> None:
    if state is not None and state not in {s.value for s in CaseState}:
        raise InvalidRequest(f"state: one of {', '.join(s.value for s in CaseState)}")


def due_cases(ctx: ServiceContext, principal: Principal, *, within: timedelta,
              now: datetime | None = None) -> list[DueItem]:
    """Unmet clocks of cases under review due within ``within`` of now (or overdue), soonest first."""
    authorize(principal, Action.CASE_LIST)
    now = case_clocks.current_time(now)
    if within < timedelta(0):
        raise InvalidRequest("within: a duration of zero or more")
    with ctx.store.transaction() as session:
        rows = repo.open_clocks_due(session, states=[s.value for s in CLOCKED], before=now + within,
                                    filed_by=_scope(principal))
        audit.record_event(session, principal.actor, "case.list", "", due_within_s=within.total_seconds(),
                                  clocks=len(rows))
        return [DueItem(number, state, clock.jurisdiction, clock.duty, clock.due_at,
                        clock.due_at - now, clock.escalated_at is not None,
                        clock.breached_at is not None or clock.due_at <= now)
                for clock, number, state in rows]


def _scope(principal: Principal) -> str | None:
    """The filer whose cases ``principal`` may list (None: all)."""
    return principal.actor if principal.role is Role.HELPLINE else None


# --- clocks -------------------------------------------------------------------------------------


def acknowledge(ctx: ServiceContext, case_number: str, principal: Principal, *,
                now: datetime | None = None) -> CaseView:
    """Acknowledge a valid request: its acknowledge clocks (UK, EU) are met. Repeating it changes nothing."""
    authorize(principal, Action.CASE_REVIEW)
    now = case_clocks.current_time(now)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        if case.acknowledged_at is None:
            require_state(case.state, CLOCKED, "be acknowledged")
            case.acknowledged_at = now
            met = case_clocks.meet_clocks(session, case, "acknowledge", now)
            case_events.record(session, principal.actor, "case.acknowledge", case,
                          clocks_met=[c.jurisdiction for c in met])
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


def pause_clocks(ctx: ServiceContext, case_number: str, reason: str, principal: Principal, *,
                 now: datetime | None = None) -> CaseView:
    """Pause a valid case's clocks, with a reason (e.g. no location works). While paused they
    neither escalate nor breach; resuming moves their deadlines later by the pause's length."""
    authorize(principal, Action.CASE_REVIEW)
    now = case_clocks.current_time(now)
    reason = case_answers.check_text(reason, "reason", min_chars=3, max_chars=500)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        require_state(case.state, CLOCKED, "have its clocks paused")
        if repo.open_pause(session, case.id) is not None:
            raise Conflict("the clocks of this case are already paused")
        repo.add_pause(session, case.id, reason=reason, paused_by=principal.actor[:64], at=now)
        case_events.record(session, principal.actor, "case.pause", case, reason=reason)
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


def resume_clocks(ctx: ServiceContext, case_number: str, principal: Principal, *,
                  now: datetime | None = None) -> CaseView:
    """End the pause: every unmet deadline moves later by how long it lasted."""
    authorize(principal, Action.CASE_REVIEW)
    now = case_clocks.current_time(now)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        pause = repo.open_pause(session, case.id)
        if pause is None:
            raise Conflict("the clocks of this case are not paused")
        length = max(now - pause.started_at, timedelta(0))
        pause.ended_at = pause.started_at + length
        for clock in repo.clocks_of(session, case.id):
            if clock.met_at is None:
                clock.due_at = clock.due_at + length
        case_clocks.refresh_due(session, case)
        case_events.record(session, principal.actor, "case.resume", case, paused_s=length.total_seconds())
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


# --- decisions ----------------------------------------------------------------------------------


def _check_reasons(decision: str, reasons: Any) -> str:
    if decision not in DECISIONS:
        raise InvalidRequest(f"decision: one of {', '.join(DECISIONS)}")
    text = case_answers.check_text(reasons, "reasons", min_chars=MIN_REASON_CHARS,
                                   max_chars=_MAX_REASON_CHARS)
    if decision == "declined" and fake_is_the_ground(text):
        raise InvalidRequest(NOT_A_GROUND_TO_DECLINE)
    return text


def decide(ctx: ServiceContext, case_number: str, decision: str, reasons: str,
           principal: Principal, *, automated: bool = False, uploader_ref: str | None = None,
           baseless: bool = False, now: datetime | None = None) -> Decision:
    """Remove or decline a valid request, with reasons; every clock is met. On removal the
    locations are marked removed, the case's hashes enter the block bank (re-uploads are
    blocked) and, once the decision is committed, the copy sweep lists matching items.

    Misuse is handled on the way (DSA Art. 23): a removal naming its ``uploader_ref`` strikes
    that uploader, and a decline marked ``baseless`` strikes the reporter; the policy warns
    first and suspends repeat offenders (``record_strike``). Those strikes are automated."""
    authorize(principal, Action.CASE_REVIEW)
    now = case_clocks.current_time(now)
    reasons = _check_reasons(decision, reasons)
    if baseless and decision != "declined":
        raise InvalidRequest("baseless: only a declined request can be found baseless")
    if uploader_ref is not None:
        uploader_ref = case_answers.check_text(uploader_ref, "uploader_ref", min_chars=1, max_chars=200)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        require_move(case.state, CaseState.ACTIONED.value, f"be {decision}")
        case.state = CaseState.ACTIONED.value
        case.decision, case.decision_reasons = decision, reasons
        case.decided_by, case.decision_automated = principal.actor[:64], automated
        case.actioned_at = now
        pause = repo.open_pause(session, case.id)
        if pause is not None:  # a decision ends the wait the pause was for
            pause.ended_at = now
        met = case_clocks.meet_clocks(session, case, "decide", now)
        case_events.record(session, principal.actor, "case.decide", case, automated=automated,
                           decision=decision,
                      clocks_met=[c.jurisdiction for c in met], breached=[c.jurisdiction for c in met
                                                                           if c.breached_at is not None])
        signals, item_ids = _apply_decision(session, ctx, case, decision, now)
        case_events.notify(session, ctx.settings, "decided", case, repo.get_contact(session, case.id),
                      {"decision": decision, "reasons": reasons, "uploader_ref": uploader_ref,
                       "item_ids": item_ids, "automated": automated, "at": now})
        case_id = case.id
    sweep = _sweep(ctx, case_id, signals, item_ids, principal) if decision == "removed" else None
    if decision == "removed" and uploader_ref is not None:
        record_strike(ctx, "uploader", uploader_ref, "shared content removed as a non-consensual "
                      "intimate image", principal, case_number=case_number, automated=True, now=now)
    if baseless:
        record_strike(ctx, "reporter", "", "filed a takedown request found baseless", principal,
                      case_number=case_number, automated=True, now=now)
    return Decision(case_reading.read_case_by_id(ctx, case_id), sweep)


def _apply_decision(session: Session, ctx: ServiceContext, case: Case, decision: str,
                    now: datetime) -> tuple[list[SignalInput], list[str]]:
    """Mark the locations with the decision. Returns what the copy sweep of a removal gets:
    the case's active hashes (from the reports bank) and its item ids."""
    repo.set_location_status(session, case.id, decision, now)
    item_ids = [row.location for row in repo.locations_of(session, case.id) if row.kind == "item"]
    if decision != "removed":
        return [], item_ids
    return case_hashes.active_case_signals(session, case, ctx.settings.cases.reports_bank), item_ids


def _sweep(ctx: ServiceContext, case_id: int, signals: list[SignalInput], item_ids: list[str],
           principal: Principal) -> Any:
    """Run the copy sweep of a removal, after the decision committed: it puts the content's
    hashes in the block bank (re-uploads are refused) and lists registered copies. None when
    there is nothing to sweep for: no hashes, and no item id the platform's registry knows."""
    if not signals and not item_ids:
        return None
    try:
        return sweep_for_case(ctx, case_id, signals, item_ids=item_ids, actor=principal.actor)
    except InvalidRequest:
        # The sweep's one InvalidRequest: no content at all (the hashes, valid when banked,
        # would raise InvalidSignal). The decision stands; there is simply nothing to list.
        return None


def close_case(ctx: ServiceContext, case_number: str, reason: str, principal: Principal, *,
               now: datetime | None = None) -> CaseView:
    """Close an actioned case (no appeal pending), with a reason."""
    authorize(principal, Action.CASE_REVIEW)
    now = case_clocks.current_time(now)
    reason = case_answers.check_text(reason, "reason", min_chars=3, max_chars=500)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        require_move(case.state, CaseState.CLOSED.value, "be closed")
        if case.withdraw_effective_at is not None and case.withdrawn_at is None:
            # A closed case can no longer be withdrawn: the requester's withdrawal goes first.
            raise Conflict("a withdrawal of this case is pending: it cannot be closed until the "
                           "withdrawal takes effect or is cancelled")
        case.state = CaseState.CLOSED.value
        case.closed_at = now
        case_events.record(session, principal.actor, "case.close", case, reason=reason)
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


# --- appeals ------------------------------------------------------------------------------------


_REQUESTER_ROLES = (Role.VICTIM, Role.HELPLINE, Role.ADMIN)
_UPLOADER_ROLES = (Role.PLATFORM, Role.ADMIN)


def file_appeal(ctx: ServiceContext, case_number: str, statement: str, principal: Principal, *,
                party: str = "requester", kind: str = "appeal",
                now: datetime | None = None) -> CaseView:
    """Appeal an actioned case: the requester (victim, her helpline, the operator) or the
    uploader (through the platform). A counter-notice comes only from the uploader's side."""
    authorize(principal, Action.CASE_APPEAL)
    now = case_clocks.current_time(now)
    if party not in ("requester", "uploader"):
        raise InvalidRequest("party: requester or uploader")
    if kind not in ("appeal", "counter_notice"):
        raise InvalidRequest("kind: appeal or counter_notice")
    if kind == "counter_notice" and party != "uploader":
        raise InvalidRequest("kind: a counter-notice comes from the uploader's side")
    if party == "requester" and principal.role not in _REQUESTER_ROLES:
        raise Forbidden(f"the {principal.role.value} role may not appeal for the requester")
    if party == "uploader" and principal.role not in _UPLOADER_ROLES:
        raise Forbidden(f"the {principal.role.value} role may not appeal for the uploader")
    statement = case_answers.check_text(statement, "statement", min_chars=MIN_REASON_CHARS,
                                  max_chars=_MAX_REASON_CHARS)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        require_move(case.state, CaseState.APPEALED.value, "be appealed")
        appeal = repo.add_appeal(session, Appeal(case_id=case.id, kind=kind, filed_by_party=party,
                                                 filed_by=principal.actor[:64], statement=statement,
                                                 filed_at=now))
        case.state = CaseState.APPEALED.value
        case_events.record(session, principal.actor, "case.appeal", case, appeal_id=appeal.id, kind=kind,
                      party=party, decision=case.decision)
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


def decide_appeal(ctx: ServiceContext, case_number: str, appeal_id: int, outcome: str,
                  reasons: str, principal: Principal, *, now: datetime | None = None) -> CaseView:
    """Decide an appeal: ``upheld`` keeps the decision, ``overturned`` flips it (a removal
    overturned withdraws the case's block-bank entries; a decline overturned runs the removal).
    ``Forbidden`` when ``principal`` made the decision appealed against."""
    authorize(principal, Action.CASE_APPEAL_DECIDE)
    now = case_clocks.current_time(now)
    if outcome not in APPEAL_OUTCOMES:
        raise InvalidRequest(f"outcome: one of {', '.join(APPEAL_OUTCOMES)}")
    reasons = case_answers.check_text(reasons, "reasons", min_chars=_MIN_APPEAL_REASON_CHARS,
                                max_chars=_MAX_REASON_CHARS)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        require_move(case.state, CaseState.ACTIONED.value, "have an appeal decided: it is not under appeal")
        appeal = repo.get_appeal(session, case.id, appeal_id) if isinstance(appeal_id, int) else None
        if appeal is None:
            raise NotFound(f"this case has no appeal {appeal_id}")
        if appeal.decided_at is not None:
            raise Conflict(f"appeal {appeal.id} was decided already")
        if case.decided_by == principal.actor:
            raise Forbidden("an appeal goes to a different reviewer")
        decision = case.decision or "declined"
        signals: list[SignalInput] = []
        item_ids: list[str] = []
        withdrawn = 0
        if outcome == "overturned":
            decision = flipped(decision)
            if decision == "declined":
                if fake_is_the_ground(reasons):
                    raise InvalidRequest(NOT_A_GROUND_TO_DECLINE)
                withdrawn = _unblock(session, ctx, case, now)
                repo.set_location_status(session, case.id, "declined", now)
            else:
                signals, item_ids = _apply_decision(session, ctx, case, "removed", now)
            case.decision, case.decision_reasons = decision, reasons
            case.decided_by, case.decision_automated = principal.actor[:64], False
            case.actioned_at = now
        appeal.reviewer, appeal.outcome, appeal.outcome_reasons = principal.actor[:64], outcome, reasons
        appeal.decided_at = now
        case.state = CaseState.ACTIONED.value
        case_events.record(session, principal.actor, "case.appeal_decide", case, appeal_id=appeal.id,
                      outcome=outcome, decision=decision, block_entries_withdrawn=withdrawn)
        case_events.notify(session, ctx.settings, "appeal_decided", case, repo.get_contact(session, case.id),
                      {"appeal_id": appeal.id, "kind": appeal.kind, "party": appeal.filed_by_party,
                       "outcome": outcome, "reasons": reasons, "decision": decision, "at": now})
        case_id, run_sweep = case.id, outcome == "overturned" and decision == "removed"
    if run_sweep:
        _sweep(ctx, case_id, signals, item_ids, principal)
    with ctx.store.transaction() as session:
        case = repo.get_by_id(session, case_id)
        assert case is not None
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


def _unblock(session: Session, ctx: ServiceContext, case: Case, now: datetime) -> int:
    """Withdraw the case's entries in the block bank (a removal was overturned)."""
    entries = repo.entries_for_case(session, case.id, bank_name=ctx.settings.cases.block_bank)
    for entry, _ in entries:
        bank_repository.withdraw_entry(session, entry, now)
    return len(entries)


# --- misuse -------------------------------------------------------------------------------------


def record_strike(ctx: ServiceContext, subject_kind: str, subject_ref: str, reason: str,
                  principal: Principal, *, case_number: str | None = None,
                  automated: bool = False, now: datetime | None = None) -> StrikeView:
    """Warn first; suspend once the policy's number of strikes is reached (see ``cases.misuse``).

    For a reporter, ``subject_ref`` may be left empty with ``case_number`` given: the case's
    filer is struck (a key's actor, or a public filer's hashed email; never the email itself).
    """
    authorize(principal, Action.MISUSE_MANAGE)
    now = case_clocks.current_time(now)
    if subject_kind not in misuse.SUBJECT_KINDS:
        raise InvalidRequest(f"subject_kind: one of {', '.join(misuse.SUBJECT_KINDS)}")
    reason = case_answers.check_text(reason, "reason", min_chars=3, max_chars=500)
    policy = ctx.settings.cases
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal) if case_number else None
        if not subject_ref and subject_kind == "reporter" and case is not None:
            subject_ref = _reporter_of(session, case)
        subject_ref = case_answers.check_text(subject_ref, "subject_ref", min_chars=1, max_chars=200)
        earlier = repo.strikes_for(session, subject_kind, subject_ref)
        decision = misuse.next_strike([misuse.PastStrike(s.kind, s.at, s.until) for s in earlier], now,
                                      strikes_before_suspension=policy.strikes_before_suspension,
                                      suspension_days=policy.suspension_days)
        strike = repo.add_strike(session, MisuseStrike(
            subject_kind=subject_kind, subject_ref=subject_ref, kind=decision.kind, reason=reason,
            case_id=case.id if case is not None else None, at=now, by=principal.actor[:64],
            automated=automated, until=decision.until))
        target = repo.case_ref(case.id) if case is not None else f"{subject_kind}:{subject_ref}"
        audit.record_event(session, principal.actor, f"misuse.{decision.kind}", target,
                                  automated=automated, subject_kind=subject_kind, strike_id=strike.id,
                                  until=decision.until.isoformat() if decision.until else None)
        return _strike_view(strike)


def _reporter_of(session: Session, case: Case) -> str:
    if case.filed_by != case_events.PUBLIC_FILER:
        return case.filed_by
    contact = repo.get_contact(session, case.id)
    if contact is None or not contact.contact_email:
        raise InvalidRequest("subject_ref: this case's public filer left no contact to identify them by")
    return misuse.reporter_ref_for_email(contact.contact_email)


def strikes_for(ctx: ServiceContext, subject_kind: str, subject_ref: str,
                principal: Principal) -> list[StrikeView]:
    """A subject's warnings and suspensions, oldest first."""
    authorize(principal, Action.MISUSE_MANAGE)
    if subject_kind not in misuse.SUBJECT_KINDS:
        raise InvalidRequest(f"subject_kind: one of {', '.join(misuse.SUBJECT_KINDS)}")
    with ctx.store.transaction() as session:
        strikes = repo.strikes_for(session, subject_kind, subject_ref)
        audit.record_event(session, principal.actor, "misuse.read", f"{subject_kind}:{subject_ref}"[:200],
                                  strikes=len(strikes))
        return [_strike_view(strike) for strike in strikes]


def _strike_view(strike: MisuseStrike) -> StrikeView:
    return StrikeView(strike.subject_kind, strike.subject_ref, strike.kind, strike.reason, strike.at,
                      strike.by, strike.automated, strike.until)


# --- legal hold and contact ---------------------------------------------------------------------


def set_legal_hold(ctx: ServiceContext, case_number: str, hold: bool,
                   principal: Principal) -> CaseView:
    """Keep (or stop keeping) the case's contact details against erasure. Releasing the hold
    on a withdrawn case erases them then. Hashes are withdrawn regardless of a hold."""
    authorize(principal, Action.CASE_LEGAL_HOLD)
    if not isinstance(hold, bool):
        raise InvalidRequest("hold: true or false")
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        case.legal_hold = hold
        erased = False
        if not hold and case.state == CaseState.WITHDRAWN.value:
            erased = repo.erase_contact(session, case.id, case_clocks.current_time(None))
        case_events.record(session, principal.actor, "case.legal_hold", case, hold=hold,
                           contact_erased=erased)
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


def read_contact(ctx: ServiceContext, case_number: str, principal: Principal) -> ContactView:
    """The requester's contact details (admin only); the read is audit-logged. ``NotFound``
    when none are kept (never given, a referral, or erased)."""
    authorize(principal, Action.CASE_READ_CONTACT)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal)
        contact = repo.get_contact(session, case.id)
        if contact is None or contact.erased_at is not None:
            raise NotFound("this case keeps no contact details (none given, or erased)")
        case_events.record(session, principal.actor, "case.read_contact", case)
        return ContactView(contact.signature_name, contact.contact_email, contact.webhook_url)


# --- the tick -----------------------------------------------------------------------------------


def tick(ctx: ServiceContext, *, now: datetime | None = None) -> TickReport:
    """Escalate clocks near their deadline, mark breaches, apply withdrawals whose cool-off
    ended. Idempotent, and safe in several processes at once (each case is locked while it
    is looked at). Every act is audited as automated."""
    now = case_clocks.current_time(now)
    policy = ctx.settings.cases
    horizon = now + timedelta(hours=policy.escalate_before_hours)
    with ctx.store.transaction() as session:
        clocked = repo.cases_with_clocks_to_check(session, states=[s.value for s in CLOCKED], horizon=horizon)
        withdrawals = repo.withdrawals_due(session, now)
    escalated = breached = applied = 0
    for case_id in clocked:
        with ctx.store.transaction() as session:
            case = repo.get_by_id(session, case_id, for_update=True)
            if case is not None:
                escalations, breaches = _tick_clocks(session, ctx, case, now)
                escalated, breached = escalated + escalations, breached + breaches
    for case_id in withdrawals:
        with ctx.store.transaction() as session:
            case = repo.get_by_id(session, case_id, for_update=True)
            # Looked at again under the lock: another process may have applied or cancelled it.
            if (case is None or case.withdrawn_at is not None or case.withdraw_effective_at is None
                    or case.withdraw_effective_at > now or case.state == CaseState.CLOSED.value):
                continue
            withdrawal.apply_withdrawal(session, ctx.settings, case, actor=case_events.SYSTEM_ACTOR, at=now,
                                    automated=True)
            applied += 1
    return TickReport(escalated, breached, applied)


def _tick_clocks(session: Session, ctx: ServiceContext, case: Case, now: datetime) -> tuple[int, int]:
    """Escalate and breach the case's clocks that are due to; returns how many of each."""
    if case.state not in {s.value for s in CLOCKED} or repo.open_pause(session, case.id) is not None:
        return 0, 0
    paused_total = case_clocks.paused_total(repo.pauses_of(session, case.id))
    escalated = breached = 0
    for clock in repo.clocks_of(session, case.id):
        escalate, breach = clock_rules.due_events(case_clocks.clock_times(clock), now,
                                                  ctx.settings.cases.escalate_before_hours, paused=False,
                                                  paused_total=paused_total)
        detail = {"jurisdiction": clock.jurisdiction, "duty": clock.duty, "due_at": clock.due_at.isoformat()}
        if escalate:
            clock.escalated_at = now
            escalated += 1
            case_events.record(session, case_events.SYSTEM_ACTOR, "case.escalate", case, automated=True,
                               **detail)
            contact = repo.get_contact(session, case.id)
            case_events.notify(session, ctx.settings, "escalated", case, contact, detail)
        if breach:
            clock.breached_at = now
            breached += 1
            case_events.record(session, case_events.SYSTEM_ACTOR, "case.breach", case, automated=True,
                               **detail)
    return escalated, breached
