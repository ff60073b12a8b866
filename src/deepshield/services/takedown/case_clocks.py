"""A case's clocks as stored: starting them, meeting them, and the earliest open deadline
kept on the case. The rules (which clocks, how long) are ``deepshield.cases.clocks``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from deepshield.cases import clocks as clock_rules
from deepshield.cases import intake
from deepshield.errors import InvalidRequest
from deepshield.settings import Settings
from deepshield.store import case_repository as repo
from deepshield.store.models import Case, CaseClock, utcnow


def current_time(now: datetime | None) -> datetime:
    """``now`` (UTC-aware, as tests pass it) or the clock's time."""
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise InvalidRequest("times must carry a time zone (UTC)")
    return now.astimezone(UTC)


def clock_times(clock: CaseClock) -> clock_rules.ClockTimes:
    return clock_rules.ClockTimes(clock.started_at, clock.due_at, clock.met_at, clock.escalated_at,
                                  clock.breached_at)


def start_clocks(session: Session, settings: Settings, case: Case, form: intake.RequestForm,
                 at: datetime) -> list[CaseClock]:
    """Start the clocks a complete request's jurisdiction answers call for, from ``at``."""
    plans = clock_rules.plan_clocks(form.countries, settings.cases)
    clocks = [repo.add_clock(session, case.id, jurisdiction=plan.jurisdiction, duty=plan.duty,
                             started_at=at, due_at=clock_rules.due_at(plan, at)) for plan in plans]
    case.jurisdictions = ",".join(sorted(plan.jurisdiction for plan in plans))
    refresh_due(session, case)
    return clocks


def meet_clocks(session: Session, case: Case, act: str, at: datetime) -> list[CaseClock]:
    """Mark the clocks ``act`` fulfils as met at ``at``; returns those newly met."""
    duties = clock_rules.duties_met_by(act)
    met = []
    for clock in repo.clocks_of(session, case.id):
        if clock.met_at is None and clock.duty in duties:
            clock.met_at = at
            met.append(clock)
    refresh_due(session, case)
    return met


def refresh_due(session: Session, case: Case) -> None:
    session.flush()
    case.due_at = clock_rules.earliest_open_due(clock_times(c) for c in repo.clocks_of(session, case.id))


def paused_total(pauses: Iterable[Any]) -> timedelta:
    """How long the case's ended pauses lasted, together."""
    return sum((p.ended_at - p.started_at for p in pauses if p.ended_at is not None), timedelta(0))
