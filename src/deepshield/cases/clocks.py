"""Legal clocks: which deadlines a complete request starts, when to escalate, and pauses.

- US (TAKE IT DOWN Act): remove within 48 hours of a valid request.
- AU (eSafety removal notice): remove within 24 hours.
- UK (Online Safety Act, priority offence): act "swiftly"; taken as acknowledging within
  ``uk_acknowledge_hours``.
- EU (DSA Art. 16): "timely" handling; taken as acknowledging within ``eu_acknowledge_hours``.
- No removal clock from any of these (none applies, or only the UK's or the EU's
  acknowledgement): the operator's own policy, remove within ``policy_remove_hours``, so
  every complete request has a removal deadline.

A request answering several jurisdictions runs every clock that applies. Clocks start when
the request becomes complete, never at receipt of an incomplete one. A pause moves every
unmet deadline later by its length when it ends; while paused a clock neither escalates nor
breaches.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from deepshield.settings import CaseSettings

EU_MEMBER_STATES = frozenset([
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
    "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
])
#: The order clocks are listed in (the shortest legal deadlines first).
JURISDICTIONS = ("AU", "US", "UK", "EU", "POLICY")
REMOVE, ACKNOWLEDGE = "remove", "acknowledge"


@dataclass(frozen=True)
class ClockPlan:
    jurisdiction: str  # US, AU, UK, EU, POLICY
    duty: str  # remove / acknowledge
    hours: float


@dataclass(frozen=True)
class ClockTimes:
    """The times of one clock that decide what a tick does with it."""

    started_at: datetime
    due_at: datetime
    met_at: datetime | None = None
    escalated_at: datetime | None = None
    breached_at: datetime | None = None


def jurisdictions_for(countries: Iterable[str]) -> list[str]:
    """The clock jurisdictions that ISO 3166 alpha-2 ``countries`` bring in, in ``JURISDICTIONS``
    order; ``["POLICY"]`` when none has a legal clock. ``EU`` itself counts as a member state."""
    found = set()
    for country in countries:
        if country == "US":
            found.add("US")
        elif country == "AU":
            found.add("AU")
        elif country == "GB":
            found.add("UK")
        elif country in EU_MEMBER_STATES or country == "EU":
            found.add("EU")
    return [name for name in JURISDICTIONS if name in found] or ["POLICY"]


def plan_clocks(countries: Iterable[str], policy: CaseSettings) -> list[ClockPlan]:
    """The clocks a complete request with these jurisdiction answers starts."""
    plans = {
        "US": ClockPlan("US", REMOVE, 48.0),
        "AU": ClockPlan("AU", REMOVE, 24.0),
        "UK": ClockPlan("UK", ACKNOWLEDGE, policy.uk_acknowledge_hours),
        "EU": ClockPlan("EU", ACKNOWLEDGE, policy.eu_acknowledge_hours),
        "POLICY": ClockPlan("POLICY", REMOVE, policy.policy_remove_hours),
    }
    chosen = [plans[name] for name in jurisdictions_for(countries)]
    if not any(plan.duty == REMOVE for plan in chosen):
        chosen.append(plans["POLICY"])  # an acknowledgement alone would leave removal untimed
    return chosen


def due_at(plan: ClockPlan, started_at: datetime) -> datetime:
    return started_at + timedelta(hours=plan.hours)


def escalation_at(clock: ClockTimes, escalate_before_hours: float,
                  paused_total: timedelta = timedelta(0)) -> datetime:
    """When the clock escalates: ``escalate_before_hours`` before its deadline, but never
    earlier than half way through its running time (pauses not counted), so a 24-hour clock
    with a 6-hour warning escalates at 18 hours and a 2-hour one at 1 hour."""
    running = clock.due_at - clock.started_at - paused_total
    window = min(timedelta(hours=escalate_before_hours), max(running, timedelta(0)) / 2)
    return clock.due_at - window


def due_events(clock: ClockTimes, now: datetime, escalate_before_hours: float, *,
               paused: bool, paused_total: timedelta = timedelta(0)) -> tuple[bool, bool]:
    """``(escalate, breach)``: what a tick at ``now`` must record for this clock. Each happens
    once (a clock already escalated or breached says False again); a met or paused clock says
    neither. A clock first looked at past its deadline escalates and breaches together, so
    someone is alerted even if no tick ran in the escalation window."""
    if clock.met_at is not None or paused:
        return False, False
    breach = clock.breached_at is None and now >= clock.due_at
    escalate = clock.escalated_at is None and (
        breach or now >= escalation_at(clock, escalate_before_hours, paused_total))
    return escalate, breach


def duties_met_by(act: str) -> frozenset[str]:
    """The duties an act fulfils: an acknowledgement meets acknowledge clocks; a decision
    (removed or declined) meets every clock."""
    if act == "acknowledge":
        return frozenset({ACKNOWLEDGE})
    if act == "decide":
        return frozenset({ACKNOWLEDGE, REMOVE})
    raise ValueError(f"unknown act {act!r}")


def earliest_open_due(clocks: Iterable[ClockTimes]) -> datetime | None:
    """The soonest deadline of the clocks not yet met (None when all are met)."""
    open_dues = [clock.due_at for clock in clocks if clock.met_at is None]
    return min(open_dues) if open_dues else None
