"""The transparency report: aggregate counts over a period, from plain records.

What the law and the DSA ask a platform to publish: how many takedown requests came in, from
whom, where, what was decided and how fast, how often a deadline was missed, how many decisions
were automated, appeals and their outcomes, counter-notices, and warnings and suspensions.

It holds counts, times and the audit chain's head hash only: no case number, no name or contact
detail, no content hash, no URL. ``build_report`` takes plain records (``services.reporting``
reads them from the store) so it can be tested and reused without a database.

Which records fall into the period ``[since, until)``:

* cases by when they were **received** (state, requester role, source, jurisdiction);
* decisions and handling times by when the case was **actioned** (handling time runs from the
  moment the request was complete, when the clocks started, to the action);
* clocks by when they **started**; appeals and counter-notices by when they were **filed**;
* warnings and suspensions, and audit events, by when they happened.

A case answering several jurisdictions counts once under each of them.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

#: Where a case came from: a victim or representative filing without a key, or a key's role.
PUBLIC_SOURCE = "public"


@dataclass(frozen=True)
class CaseRecord:
    state: str
    requester_role: str
    source: str  # public, or the filing key's role (helpline, admin...), or "cli"
    jurisdictions: tuple[str, ...]
    received_at: datetime
    completed_at: datetime | None
    actioned_at: datetime | None
    decision: str | None
    decision_automated: bool | None


@dataclass(frozen=True)
class ClockRecord:
    jurisdiction: str
    duty: str
    started_at: datetime
    met_at: datetime | None
    breached_at: datetime | None


@dataclass(frozen=True)
class AppealRecord:
    kind: str  # appeal / counter_notice
    filed_by_party: str
    filed_at: datetime
    outcome: str | None  # upheld / overturned / None (pending)


@dataclass(frozen=True)
class StrikeRecord:
    subject_kind: str  # uploader / reporter
    kind: str  # warning / suspension
    at: datetime
    automated: bool


@dataclass(frozen=True)
class AuditCount:
    """How many audit events of one action, automated or not, fell in the period."""

    action: str
    automated: bool
    count: int


@dataclass(frozen=True)
class TransparencyInput:
    since: datetime | None
    until: datetime | None
    generated_at: datetime
    generator: str
    cases: list[CaseRecord] = field(default_factory=list)
    clocks: list[ClockRecord] = field(default_factory=list)
    appeals: list[AppealRecord] = field(default_factory=list)
    strikes: list[StrikeRecord] = field(default_factory=list)
    audit: list[AuditCount] = field(default_factory=list)
    chain_head_seq: int = 0
    chain_head_hash: str = ""
    chain_verified: bool | None = None


def in_period(at: datetime | None, since: datetime | None, until: datetime | None) -> bool:
    """``since <= at < until``, either bound open when None; an unset time is never in it."""
    if at is None:
        return False
    return (since is None or at >= since) and (until is None or at < until)


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


def _hours(seconds: float) -> float:
    return round(seconds / 3600, 2)


def _times(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median": None, "slowest": None}
    return {"count": len(values), "median": _hours(statistics.median(values)), "slowest": _hours(max(values))}


def _monday(at: datetime) -> str:
    """The ISO date of the Monday (UTC) of the week of ``at``."""
    day = at.astimezone(UTC).date()
    return (day - timedelta(days=day.weekday())).isoformat()


def _sorted(counter: Counter[str]) -> dict[str, int]:
    return {key: counter[key] for key in sorted(counter)}


def _jurisdictions(case: CaseRecord) -> tuple[str, ...]:
    return case.jurisdictions or ("none",)


def _clock_outcome(clock: ClockRecord) -> str:
    if clock.breached_at is not None:
        return "met_late" if clock.met_at is not None else "breached"
    return "met" if clock.met_at is not None else "open"


def _appeal_counts(appeals: Iterable[AppealRecord]) -> dict[str, int]:
    counts = {"filed": 0, "upheld": 0, "overturned": 0, "pending": 0}
    for appeal in appeals:
        counts["filed"] += 1
        counts[appeal.outcome if appeal.outcome in ("upheld", "overturned") else "pending"] += 1
    return counts


def build_report(data: TransparencyInput) -> dict[str, Any]:
    """The report as nested plain values (the JSON form). Records outside the period are left out
    here, so callers may pass a superset."""
    since, until = data.since, data.until
    cases = [case for case in data.cases if in_period(case.received_at, since, until)]
    decided = [case for case in data.cases
               if case.decision is not None and in_period(case.actioned_at, since, until)]
    clocks = [clock for clock in data.clocks if in_period(clock.started_at, since, until)]
    appeals = [appeal for appeal in data.appeals if in_period(appeal.filed_at, since, until)]
    strikes = [strike for strike in data.strikes if in_period(strike.at, since, until)]

    by_jurisdiction: Counter[str] = Counter()
    for case in cases:
        by_jurisdiction.update(_jurisdictions(case))

    handling: list[float] = []
    handling_by_jurisdiction: dict[str, list[float]] = {}
    for case in decided:
        if case.completed_at is None or case.actioned_at is None:
            continue
        seconds = max(0.0, (case.actioned_at - case.completed_at).total_seconds())
        handling.append(seconds)
        for jurisdiction in _jurisdictions(case):
            handling_by_jurisdiction.setdefault(jurisdiction, []).append(seconds)

    clock_totals: Counter[str] = Counter()
    clock_by_jurisdiction: dict[str, Counter[str]] = {}
    for clock in clocks:
        outcome = _clock_outcome(clock)
        clock_totals[outcome] += 1
        clock_by_jurisdiction.setdefault(f"{clock.jurisdiction}/{clock.duty}", Counter())[outcome] += 1
    outcomes = ("met", "met_late", "breached", "open")

    strike_counts: dict[str, Counter[str]] = {"warning": Counter(), "suspension": Counter()}
    for strike in strikes:
        strike_counts.setdefault(strike.kind, Counter())[strike.subject_kind] += 1

    audit_by_action: dict[str, dict[str, int]] = {}
    for item in data.audit:
        row = audit_by_action.setdefault(item.action, {"automated": 0, "human": 0})
        row["automated" if item.automated else "human"] += item.count

    return {
        "report": "DeepShield transparency report",
        "generator": data.generator,
        "generated_at": _iso(data.generated_at),
        "period": {"from": _iso(since), "until": _iso(until)},
        "cases": {
            "received": len(cases),
            "by_state": _sorted(Counter(case.state for case in cases)),
            "by_requester_role": _sorted(Counter(case.requester_role for case in cases)),
            "by_source": _sorted(Counter(case.source for case in cases)),
            "by_jurisdiction": _sorted(by_jurisdiction),
            # Requests received per week: the ISO date of the week's Monday (UTC).
            "by_week": _sorted(Counter(_monday(case.received_at) for case in cases)),
        },
        "decisions": {
            "total": len(decided),
            "removed": sum(case.decision == "removed" for case in decided),
            "declined": sum(case.decision == "declined" for case in decided),
            "automated": sum(case.decision_automated is True for case in decided),
            "human": sum(case.decision_automated is not True for case in decided),
        },
        "handling_time_hours": {
            "overall": _times(handling),
            "by_jurisdiction": {key: _times(values)
                                for key, values in sorted(handling_by_jurisdiction.items())},
        },
        "clocks": {
            "started": len(clocks),
            **{outcome: clock_totals[outcome] for outcome in outcomes},
            "by_jurisdiction": {key: {outcome: counter[outcome] for outcome in outcomes}
                                for key, counter in sorted(clock_by_jurisdiction.items())},
        },
        "appeals": _appeal_counts(appeal for appeal in appeals if appeal.kind != "counter_notice"),
        "counter_notices": _appeal_counts(appeal for appeal in appeals if appeal.kind == "counter_notice"),
        "misuse": {
            "warnings": {"by_subject": _sorted(strike_counts["warning"])},
            "suspensions": {"by_subject": _sorted(strike_counts["suspension"])},
            "automated": sum(strike.automated for strike in strikes),
        },
        "audit": {
            "events": sum(item.count for item in data.audit),
            "automated": sum(item.count for item in data.audit if item.automated),
            "human": sum(item.count for item in data.audit if not item.automated),
            "by_action": {action: audit_by_action[action] for action in sorted(audit_by_action)},
            "chain": {"head_seq": data.chain_head_seq, "head_hash": data.chain_head_hash,
                      "verified": data.chain_verified},
        },
        "notes": [
            "Counts only: no case numbers, no personal data, no content hashes.",
            "Handling time runs from a complete request (when the legal clocks start) to the action.",
            "A case answering several jurisdictions counts under each of them.",
            "Write down audit.chain.head_hash elsewhere: it anchors the audit log as of this report.",
        ],
    }


def to_json(report: dict[str, Any]) -> str:
    """The report as indented JSON (keys in a stable order)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def rows(report: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """``(metric, dimension, value)`` for every number in the report. Under a ``by_*`` key the
    next key is the dimension (``cases.by_state``, ``actioned``); nested dimensions join with
    ``/``. Notes are left out; the generator, period and chain head are rows too."""
    found: list[tuple[str, str, Any]] = []

    def walk(value: Any, metric: list[str], dimension: list[str], expect_dimension: bool) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if expect_dimension:
                    walk(item, metric, [*dimension, str(key)], False)
                else:
                    walk(item, [*metric, str(key)], dimension, str(key).startswith("by_"))
            return
        if isinstance(value, list):
            return
        found.append((".".join(metric), "/".join(dimension), value))

    walk(report, [], [], False)
    return found


def to_csv(report: dict[str, Any]) -> str:
    """One row per metric: ``metric,dimension,value`` (a header row first; None is empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["metric", "dimension", "value"])
    for metric, dimension, value in rows(report):
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        writer.writerow([metric, dimension, text])
    return buffer.getvalue()
