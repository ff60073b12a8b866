"""The transparency report from plain records: exact counts, the period, and CSV and JSON that
parse back to the same numbers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

from deepshield.reports.transparency import (
    AppealRecord,
    AuditCount,
    CaseRecord,
    ClockRecord,
    StrikeRecord,
    TransparencyInput,
    build_report,
    rows,
    to_csv,
    to_json,
)

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def hours(value: float) -> datetime:
    return T0 + timedelta(hours=value)


def case(state: str = "actioned", role: str = "victim", source: str = "public",
         jurisdictions: tuple[str, ...] = ("US",), received: float = 0.0, complete: float | None = 0.0,
         actioned: float | None = None, decision: str | None = None,
         automated: bool | None = None) -> CaseRecord:
    return CaseRecord(state, role, source, jurisdictions, hours(received),
                      hours(complete) if complete is not None else None,
                      hours(actioned) if actioned is not None else None, decision, automated)


def dataset(since: datetime | None = None, until: datetime | None = None) -> TransparencyInput:
    return TransparencyInput(
        since=since, until=until, generated_at=hours(1000), generator="DeepShield 0.1.0",
        cases=[
            case(actioned=10, decision="removed", automated=False),  # 10 h, US
            case(role="helpline", source="helpline", jurisdictions=("AU", "US"), received=1, complete=2,
                 actioned=6, decision="removed", automated=True),  # 4 h, AU and US
            case(jurisdictions=("UK",), received=2, complete=2, actioned=32, decision="declined",
                 automated=False),  # 30 h, UK
            case(state="incomplete", role="representative", jurisdictions=(), received=3, complete=None),
            case(state="valid", source="admin", jurisdictions=("EU",), received=500),  # later period
        ],
        clocks=[
            ClockRecord("US", "remove", hours(0), hours(10), None),
            ClockRecord("US", "remove", hours(2), hours(6), None),
            ClockRecord("AU", "remove", hours(2), hours(6), None),
            ClockRecord("UK", "acknowledge", hours(2), None, hours(26)),
            ClockRecord("UK", "acknowledge", hours(2), hours(30), hours(26)),  # met, but late
            ClockRecord("EU", "acknowledge", hours(500), None, None),
        ],
        appeals=[
            AppealRecord("appeal", "uploader", hours(11), "upheld"),
            AppealRecord("appeal", "requester", hours(33), "overturned"),
            AppealRecord("appeal", "uploader", hours(34), None),
            AppealRecord("counter_notice", "uploader", hours(12), None),
        ],
        strikes=[
            StrikeRecord("uploader", "warning", hours(11), True),
            StrikeRecord("uploader", "warning", hours(12), False),
            StrikeRecord("uploader", "suspension", hours(13), True),
            StrikeRecord("reporter", "warning", hours(40), False),
        ],
        audit=[AuditCount("case.decide", False, 2), AuditCount("case.decide", True, 1),
               AuditCount("case.tick", True, 7)],
        chain_head_seq=10, chain_head_hash="9" * 64, chain_verified=True)


def test_counts_over_all_time_are_exact():
    report = build_report(dataset())
    assert report["period"] == {"from": None, "until": None}
    assert report["cases"] == {
        "received": 5,
        "by_state": {"actioned": 3, "incomplete": 1, "valid": 1},
        "by_requester_role": {"helpline": 1, "representative": 1, "victim": 3},
        "by_source": {"admin": 1, "helpline": 1, "public": 3},
        "by_jurisdiction": {"AU": 1, "EU": 1, "UK": 1, "US": 2, "none": 1},
        # Weeks by their Monday (UTC): T0 is a Monday; 500 h later is Sunday 21 June.
        "by_week": {"2026-06-01": 4, "2026-06-15": 1},
    }
    assert report["decisions"] == {"total": 3, "removed": 2, "declined": 1, "automated": 1, "human": 2}
    assert report["handling_time_hours"] == {
        "overall": {"count": 3, "median": 10.0, "slowest": 30.0},
        "by_jurisdiction": {"AU": {"count": 1, "median": 4.0, "slowest": 4.0},
                            "UK": {"count": 1, "median": 30.0, "slowest": 30.0},
                            "US": {"count": 2, "median": 7.0, "slowest": 10.0}},
    }
    assert report["clocks"]["started"] == 6
    assert {key: report["clocks"][key] for key in ("met", "met_late", "breached", "open")} == \
        {"met": 3, "met_late": 1, "breached": 1, "open": 1}
    assert report["clocks"]["by_jurisdiction"]["UK/acknowledge"] == \
        {"met": 0, "met_late": 1, "breached": 1, "open": 0}
    assert report["appeals"] == {"filed": 3, "upheld": 1, "overturned": 1, "pending": 1}
    assert report["counter_notices"] == {"filed": 1, "upheld": 0, "overturned": 0, "pending": 1}
    assert report["misuse"] == {"warnings": {"by_subject": {"reporter": 1, "uploader": 2}},
                                "suspensions": {"by_subject": {"uploader": 1}}, "automated": 2}
    assert report["audit"]["events"] == 10 and report["audit"]["automated"] == 8
    assert report["audit"]["by_action"]["case.decide"] == {"automated": 1, "human": 2}
    assert report["audit"]["chain"] == {"head_seq": 10, "head_hash": "9" * 64, "verified": True}


def test_a_period_counts_only_what_happened_in_it():
    report = build_report(dataset(since=hours(1), until=hours(33)))
    # received in [1 h, 33 h): the helpline's, the UK one and the incomplete one
    assert report["cases"]["received"] == 3
    assert report["cases"]["by_jurisdiction"] == {"AU": 1, "UK": 1, "US": 1, "none": 1}
    # actioned in the period: 10 h (received before it: still counted as a decision) and 6 h; 32 h too
    assert report["decisions"]["total"] == 3
    assert report["appeals"] == {"filed": 1, "upheld": 1, "overturned": 0, "pending": 0}
    assert report["clocks"]["started"] == 4
    assert report["misuse"]["warnings"]["by_subject"] == {"uploader": 2}
    assert report["period"]["from"] == "2026-06-01T01:00:00+00:00"


def test_an_empty_period_has_zero_counts_and_no_times():
    report = build_report(dataset(since=hours(2000), until=hours(3000)))
    assert report["cases"]["received"] == 0 and report["decisions"]["total"] == 0
    assert report["handling_time_hours"]["overall"] == {"count": 0, "median": None, "slowest": None}


def test_csv_has_one_row_per_metric_and_parses_back_to_the_same_numbers():
    report = build_report(dataset())
    parsed = list(csv.reader(io.StringIO(to_csv(report))))
    assert parsed[0] == ["metric", "dimension", "value"]
    table = {(metric, dimension): value for metric, dimension, value in parsed[1:]}
    assert len(table) == len(parsed) - 1  # no metric and dimension appears twice
    assert table[("cases.received", "")] == "5"
    assert table[("cases.by_state", "actioned")] == "3"
    assert table[("cases.by_jurisdiction", "none")] == "1"
    assert table[("handling_time_hours.overall.median", "")] == "10.0"
    assert table[("handling_time_hours.by_jurisdiction.slowest", "US")] == "10.0"
    assert table[("clocks.by_jurisdiction.breached", "UK/acknowledge")] == "1"
    assert table[("misuse.suspensions.by_subject", "uploader")] == "1"
    assert table[("audit.by_action.automated", "case.tick")] == "7"
    assert table[("audit.chain.head_hash", "")] == "9" * 64
    assert table[("audit.chain.verified", "")] == "true"
    assert table[("period.from", "")] == ""
    assert len(rows(report)) == len(parsed) - 1


def test_json_parses_back_to_the_report():
    report = build_report(dataset())
    assert json.loads(to_json(report)) == report
