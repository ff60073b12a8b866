"""Use cases: a victim's own access to her case with its number and PIN, her status page, and
withdrawal (hers after a cool-off, a helpline's or the operator's at once).

Every way a login can fail (no such number, a wrong PIN, a locked case) answers with the same
``Unauthorized(NOT_RECOGNISED)`` after the same slow KDF, so neither the answer nor its timing
tells a guesser which case numbers exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from deepshield.cases import intake, pins
from deepshield.cases.numbers import parse_case_number
from deepshield.cases.states import CaseState, require_move
from deepshield.errors import Conflict, Forbidden, InvalidRequest, Unauthorized
from deepshield.services.access import Action, Principal, Role, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import (
    case_answers,
    case_clocks,
    case_events,
    case_lookup,
    case_reading,
    withdrawal,
)
from deepshield.services.takedown.records import NOT_RECOGNISED, CaseView, VictimStatus
from deepshield.store import audit_repository as audit
from deepshield.store import case_repository as repo
from deepshield.store.models import Case, CaseLocation


def victim_principal(ctx: ServiceContext, case_number: str, pin: str, *,
                     now: datetime | None = None) -> Principal:
    """Check a case number and PIN (slow KDF; lockout after repeated failures). Raises
    ``Unauthorized(NOT_RECOGNISED)`` for every kind of failure alike."""
    now = case_clocks.current_time(now)
    policy = ctx.settings.cases
    number = parse_case_number(case_number)
    with ctx.store.transaction() as session:
        case = repo.get_by_number(session, number) if number else None
        stored = case.pin_hash if case is not None else None
        case_id = case.id if case is not None else None
    # The KDF runs outside any transaction, and runs for unknown numbers and locked cases too.
    pin_ok = pins.verify_pin(pin if isinstance(pin, str) else "",
                             stored or pins.dummy_hash(policy.pin_kdf_log2_n))
    if case_id is None or stored is None:
        with ctx.store.transaction() as session:
            audit.record_event(session, "victim", "victim.login_failed", "", reason="unknown")
        raise Unauthorized(NOT_RECOGNISED)
    with ctx.store.transaction() as session:
        case = repo.get_by_id(session, case_id, for_update=True)
        assert case is not None
        actor = f"victim:case:{case.id}"
        if case.locked_until is not None and case.locked_until > now:
            case_events.record(session, actor, "victim.login_failed", case, reason="locked")
            success = False
        elif pin_ok:
            case.pin_failures, case.locked_until = 0, None
            case_events.record(session, actor, "victim.login", case)
            success = True
        else:
            case.pin_failures += 1
            case_events.record(session, actor, "victim.login_failed", case, reason="pin",
                          failures=case.pin_failures)
            if case.pin_failures >= policy.pin_max_failures:
                case.locked_until = now + timedelta(minutes=policy.pin_lockout_minutes)
                case.pin_failures = 0
                case_events.record(session, case_events.SYSTEM_ACTOR, "victim.locked", case, automated=True,
                              until=case.locked_until.isoformat())
            success = False
        case_number_found = case.case_number
    if not success:
        raise Unauthorized(NOT_RECOGNISED)
    return Principal(actor=actor, role=Role.VICTIM, case_number=case_number_found)


#: What her status page says of a complete request under review (before its deadline).
COMPLETE_SUMMARY = "Your request is complete and is being reviewed."
#: Where a case stands, in the words her status page uses, by state (``_summary`` adds the
#: deadline, the decision and a pending withdrawal); the web door's request page says the same.
STATE_SUMMARIES = {
    CaseState.RECEIVED.value: "Your request was received.",
    CaseState.INCOMPLETE.value: (
        "Your request is missing some details; add them with your case number and PIN. "
        "The deadline for action starts once the request is complete."),
    CaseState.REFERRED.value: (
        "Because the person depicted is under 18, this request is not handled here: "
        "please use NCMEC's Take It Down at https://takeitdown.ncmec.org/."),
    CaseState.APPEALED.value: (
        "An appeal is being looked at by a reviewer who did not make the first decision."),
    CaseState.CLOSED.value: "This case is closed.",
    CaseState.WITHDRAWN.value: (
        "This case was withdrawn: its hashes were removed from every bank and from what partners receive."),
}


def _summary(case: Case, in_danger: bool) -> str:
    if case.withdraw_effective_at is not None and case.withdrawn_at is None:
        text = ("You asked to withdraw this case. It takes effect at "
                f"{case.withdraw_effective_at:%Y-%m-%d %H:%M} UTC unless you cancel before then.")
    elif case.state == CaseState.VALID.value:
        due = f" Action is due by {case.due_at:%Y-%m-%d %H:%M} UTC." if case.due_at else ""
        text = COMPLETE_SUMMARY + due
    elif case.state == CaseState.ACTIONED.value and case.decision == "removed":
        text = "The content was removed, and copies found are being taken down and blocked from re-upload."
    elif case.state == CaseState.ACTIONED.value:
        text = "Your request was declined; the reasons are below. You can appeal."
    else:
        text = STATE_SUMMARIES.get(case.state, "Your case is being handled.")
    if in_danger and case.state != CaseState.WITHDRAWN.value:
        text = f"{intake.SAFETY_ADVICE} {text}"
    return text


def victim_status(ctx: ServiceContext, principal: Principal) -> VictimStatus:
    """Where the victim's own case stands, in plain words (no reviewer names); the read is audited."""
    authorize(principal, Action.CASE_READ)
    if principal.role is not Role.VICTIM or principal.case_number is None:
        raise Forbidden("the status page is opened with a case number and PIN")
    return _status(ctx, principal.case_number, principal)


def status_as_victim_sees_it(ctx: ServiceContext, case_number: str, principal: Principal) -> VictimStatus:
    """The victim's status page of ``case_number``, for the staff who may read the case (a
    helpline its own cases, the operator any): the same words she reads, so a helpline can talk her
    through them. Scoped and audited like any read of the case."""
    authorize(principal, Action.CASE_READ)
    return _status(ctx, case_number, principal)


def _status(ctx: ServiceContext, case_number: str, principal: Principal) -> VictimStatus:
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal)
        locations = repo.locations_of(session, case.id)
        in_danger = case_answers.in_danger(case)
        case_events.record(session, principal.actor, "case.read", case, page="status")
        return VictimStatus(
            case_number=case.case_number,
            state=case.state,
            summary=_summary(case, in_danger),
            received_at=case.received_at,
            due_at=case.due_at,
            decision=case.decision,
            decision_reasons=case.decision_reasons,
            withdraw_effective_at=case.withdraw_effective_at if case.withdrawn_at is None else None,
            locations_removed=sum(1 for row in locations if _removed(row)),
            locations_total=len(locations),
            copies_found=repo.count_content_items(session, case.id),
        )


def _removed(location: CaseLocation) -> bool:
    return location.status == "removed"


def request_withdrawal(ctx: ServiceContext, case_number: str, principal: Principal, *,
                       cool_off: timedelta | None = None, now: datetime | None = None) -> CaseView:
    """Withdraw a case. A victim's withdrawal takes effect after the cool-off (``cool_off`` or
    the settings' default; zero: at once), because abusers coerce withdrawals; the ``tick``
    applies it. A helpline (its own case) or the operator withdraws at once, and so confirms a
    victim's pending withdrawal early. Once applied, the case's hashes have left every bank:
    they no longer match, and partners' feeds list them as deleted."""
    authorize(principal, Action.CASE_WITHDRAW)
    now = case_clocks.current_time(now)
    if principal.role is Role.VICTIM:
        default = timedelta(hours=ctx.settings.cases.withdrawal_cool_off_hours)
        wait = cool_off if cool_off is not None else default
    else:
        wait = timedelta(0)
    if wait < timedelta(0):
        raise InvalidRequest("cool_off: a duration of zero or more")
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        require_move(case.state, CaseState.WITHDRAWN.value, "be withdrawn")
        pending = case.withdraw_effective_at is not None and case.withdrawn_at is None
        if wait == timedelta(0):
            withdrawal.apply_withdrawal(session, ctx.settings, case, actor=principal.actor, at=now,
                                    automated=False)
        elif pending:
            pass  # asked again during the cool-off: the first request's time stands
        else:
            case.withdraw_requested_at = now
            case.withdraw_effective_at = now + wait
            case_events.record(session, principal.actor, "case.withdraw_request", case,
                          effective_at=case.withdraw_effective_at.isoformat(),
                          cool_off_s=wait.total_seconds())
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)


def cancel_withdrawal(ctx: ServiceContext, case_number: str, principal: Principal) -> CaseView:
    """Cancel a withdrawal still in its cool-off; ``Conflict`` when none is pending."""
    authorize(principal, Action.CASE_WITHDRAW)
    with ctx.store.transaction() as session:
        case = case_lookup.load_visible(session, case_number, principal, for_update=True)
        if case.withdraw_effective_at is None or case.withdrawn_at is not None:
            raise Conflict("this case has no pending withdrawal to cancel")
        effective_at = case.withdraw_effective_at
        case.withdraw_requested_at, case.withdraw_effective_at = None, None
        case_events.record(session, principal.actor, "case.withdraw_cancel", case,
                      was_effective_at=effective_at.isoformat())
        case_id = case.id
    return case_reading.read_case_by_id(ctx, case_id)
