"""Legal clocks: which jurisdictions start which deadline, escalation before breach, pauses."""

from datetime import UTC, datetime, timedelta

from deepshield.cases import clocks
from deepshield.settings import CaseSettings

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = CaseSettings(uk_acknowledge_hours=12.0, eu_acknowledge_hours=36.0, policy_remove_hours=72.0)


def plans(*countries):
    return [(p.jurisdiction, p.duty, p.hours) for p in clocks.plan_clocks(countries, POLICY)]


def test_each_jurisdiction_starts_its_own_clock():
    assert plans("US") == [("US", "remove", 48.0)]
    assert plans("AU") == [("AU", "remove", 24.0)]
    # An acknowledgement alone leaves removal untimed: the operator's policy clock joins it.
    assert plans("GB") == [("UK", "acknowledge", 12.0), ("POLICY", "remove", 72.0)]
    assert plans("FR") == [("EU", "acknowledge", 36.0), ("POLICY", "remove", 72.0)]
    assert plans("EU") == [("EU", "acknowledge", 36.0), ("POLICY", "remove", 72.0)]
    assert plans("GB", "US") == [("US", "remove", 48.0), ("UK", "acknowledge", 12.0)]
    assert plans("BR") == [("POLICY", "remove", 72.0)]
    assert plans() == [("POLICY", "remove", 72.0)]


def test_several_jurisdictions_run_every_clock_that_applies_once():
    assert plans("US", "AU", "GB", "DE", "FR", "US") == [
        ("AU", "remove", 24.0), ("US", "remove", 48.0), ("UK", "acknowledge", 12.0),
        ("EU", "acknowledge", 36.0)]


def test_escalation_comes_before_the_deadline_and_at_most_half_way():
    us = clocks.ClockTimes(T0, T0 + timedelta(hours=48))
    assert clocks.escalation_at(us, 6.0) == T0 + timedelta(hours=42)
    short = clocks.ClockTimes(T0, T0 + timedelta(hours=2))
    assert clocks.escalation_at(short, 6.0) == T0 + timedelta(hours=1)
    # A 10-hour pause moved the deadline on; the running time is still 2 hours.
    paused = clocks.ClockTimes(T0, T0 + timedelta(hours=12))
    assert clocks.escalation_at(paused, 6.0, timedelta(hours=10)) == T0 + timedelta(hours=11)


def test_due_events_escalate_then_breach_each_once():
    clock = clocks.ClockTimes(T0, T0 + timedelta(hours=24))
    assert clocks.due_events(clock, T0 + timedelta(hours=17), 6.0, paused=False) == (False, False)
    assert clocks.due_events(clock, T0 + timedelta(hours=18), 6.0, paused=False) == (True, False)
    escalated = clocks.ClockTimes(T0, clock.due_at, escalated_at=T0 + timedelta(hours=18))
    assert clocks.due_events(escalated, T0 + timedelta(hours=20), 6.0, paused=False) == (False, False)
    assert clocks.due_events(escalated, T0 + timedelta(hours=24), 6.0, paused=False) == (False, True)
    done = clocks.ClockTimes(T0, clock.due_at, escalated_at=T0, breached_at=T0 + timedelta(hours=24))
    assert clocks.due_events(done, T0 + timedelta(hours=30), 6.0, paused=False) == (False, False)


def test_a_clock_first_seen_past_its_deadline_escalates_and_breaches_together():
    clock = clocks.ClockTimes(T0, T0 + timedelta(hours=24))
    assert clocks.due_events(clock, T0 + timedelta(hours=25), 6.0, paused=False) == (True, True)


def test_met_and_paused_clocks_neither_escalate_nor_breach():
    met = clocks.ClockTimes(T0, T0 + timedelta(hours=24), met_at=T0 + timedelta(hours=1))
    late = T0 + timedelta(hours=30)
    assert clocks.due_events(met, late, 6.0, paused=False) == (False, False)
    running = clocks.ClockTimes(T0, T0 + timedelta(hours=24))
    assert clocks.due_events(running, late, 6.0, paused=True) == (False, False)


def test_acts_meet_the_duties_they_fulfil_and_the_earliest_open_deadline_leads():
    assert clocks.duties_met_by("acknowledge") == {"acknowledge"}
    assert clocks.duties_met_by("decide") == {"acknowledge", "remove"}
    open_clocks = [clocks.ClockTimes(T0, T0 + timedelta(hours=12), met_at=T0),
                   clocks.ClockTimes(T0, T0 + timedelta(hours=48)),
                   clocks.ClockTimes(T0, T0 + timedelta(hours=24))]
    assert clocks.earliest_open_due(open_clocks) == T0 + timedelta(hours=24)
    assert clocks.earliest_open_due(open_clocks[:1]) is None
