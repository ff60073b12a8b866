"""Case lists read in one batch, on SQLite and PostgreSQL: ``case_reading.read_cases`` gives the
views ``read_case(..., full=False)`` gives one by one, field for field, over cases in every state,
and the number of SQL statements a list runs does not grow with the number of cases listed."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from case_forms import request_form as form
from deepshield.cases import intake as intake_rules
from deepshield.errors import InvalidRequest
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import case_answers, case_reading, victim_access
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import review as case_review
from deepshield.services.takedown.records import CaseView
from deepshield.settings import Settings
from deepshield.store import case_repository as repo
from deepshield.store.models import AuditEvent

ADMIN = Principal("key:admin", Role.ADMIN)
REVIEWER = Principal("key:reviewer-1", Role.PLATFORM)
HELPLINE = Principal("key:helpline-a", Role.HELPLINE)
OTHER_HELPLINE = Principal("key:helpline-b", Role.HELPLINE)
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
REASONS = "Intimate image published without consent."
#: The kinds of case a list mixes, filed in turn so that any run of this many holds each once.
KINDS = ("valid", "incomplete", "received", "paused", "removed", "declined", "withdrawn", "referred",
         "in danger", "appealed", "closed", "withdrawal pending")


@pytest.fixture
def ctx(cheap_kdf_settings: Settings) -> Iterator[ServiceContext]:
    context = ServiceContext.open(cheap_kdf_settings)
    yield context
    context.close()


def file_case(ctx: ServiceContext, kind: str, index: int) -> str:
    """File one case of ``kind`` (``index`` picks its image and times: cases are listed newest
    first, in filing order); returns its number."""
    at = T0 + timedelta(minutes=10 * index)
    later = at + timedelta(minutes=1)
    changes: dict[str, Any] = {}
    if kind in ("incomplete", "received"):
        changes = {"good_faith": False, "contact": {}}  # drafts; their hashes wait on the case
    elif kind == "referred":
        changes = {"age_check": {"depicted_under_18": True}}
    elif kind == "in danger":
        changes = {"safety_check": {"in_immediate_danger": True}}
    filer = HELPLINE if index % 2 else ADMIN  # the public door's daily cap would stop a long list
    filed = case_intake.file_request(ctx, form(ctx, seed=100 + index, **changes), filer, now=at)
    number = filed.case.case_number
    if kind == "received":
        # No door leaves a case received (intake moves it on at once), but a list must read one.
        with ctx.store.transaction() as session:
            row = repo.get_by_number(session, number)
            assert row is not None
            row.state = "received"
    elif kind == "paused":
        case_review.acknowledge(ctx, number, REVIEWER, now=later)
        case_review.pause_clocks(ctx, number, "waiting for a location that loads", REVIEWER, now=later)
    elif kind in ("removed", "withdrawn", "appealed", "withdrawal pending"):
        case_review.decide(ctx, number, "removed", REASONS, REVIEWER, now=later)
    elif kind in ("declined", "closed"):
        case_review.decide(ctx, number, "declined", "The location shows a landscape, no person.", REVIEWER,
                           now=later)
    if kind == "withdrawn":
        victim_access.request_withdrawal(ctx, number, ADMIN, now=later)
    elif kind == "appealed":
        case_review.file_appeal(ctx, number, "The content shown is me and it was removed rightly, "
                                "but one location was missed.", ADMIN, now=later)
    elif kind == "closed":
        case_review.close_case(ctx, number, "decided and not appealed", REVIEWER, now=later)
    elif kind == "withdrawal pending":
        victim = victim_access.victim_principal(ctx, number, filed.pin or "", now=later)
        victim_access.request_withdrawal(ctx, number, victim, now=later)
        case_review.set_legal_hold(ctx, number, True, ADMIN)
    return number


def file_cases(ctx: ServiceContext, count: int) -> list[str]:
    """``count`` cases, the kinds in turn; their numbers newest first (a list's order)."""
    return [file_case(ctx, KINDS[index % len(KINDS)], index) for index in range(count)][::-1]


def one_by_one(ctx: ServiceContext, limit: int) -> list[CaseView]:
    """The list views read case by case, as lists were read before ``read_cases``."""
    with ctx.store.transaction() as session:
        return [case_reading.read_case(session, ctx.settings, case, full=False)
                for case in repo.list_cases(session, limit=limit)]


@contextmanager
def counting_statements(ctx: ServiceContext) -> Iterator[list[str]]:
    """The SQL statements the database is sent inside the block, in order."""
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
              executemany: bool) -> None:
        statements.append(statement)

    event.listen(ctx.store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(ctx.store.engine, "before_cursor_execute", count)


def test_a_batch_list_shows_every_case_exactly_as_reading_it_alone_does(ctx):
    numbers = file_cases(ctx, 2 * len(KINDS))

    listed = case_review.list_cases(ctx, ADMIN, limit=100)

    assert [view.case_number for view in listed] == numbers
    assert listed == one_by_one(ctx, 100)  # dataclass equality: every field, clocks and locations too
    # The same as the case read in full, less what only the full read holds.
    for view in listed:
        full = case_review.get_case(ctx, view.case_number, ADMIN)
        assert dataclasses.replace(full, pauses=[], appeals=[], history=[]) == view
    # Each kind shows what makes it that kind, so the equality above compared real content.
    by_kind = {kind: view for view, kind in zip(listed[::-1], KINDS * 2, strict=True)}
    assert {kind: view.state for kind, view in by_kind.items()} == {
        "valid": "valid", "incomplete": "incomplete", "received": "received", "paused": "valid",
        "removed": "actioned", "declined": "actioned", "withdrawn": "withdrawn", "referred": "referred",
        "in danger": "valid", "appealed": "appealed", "closed": "closed", "withdrawal pending": "actioned"}
    assert by_kind["valid"].hash_count == 1 and by_kind["valid"].clocks
    assert not any(clock.paused for clock in by_kind["valid"].clocks)
    paused = by_kind["paused"].clocks
    assert any(clock.paused for clock in paused)
    assert all(clock.paused == (clock.met_at is None) for clock in paused)
    assert [loc.status for loc in by_kind["removed"].locations] == ["removed"]
    assert [loc.status for loc in by_kind["declined"].locations] == ["declined"]
    assert by_kind["removed"].hash_count == 1 and by_kind["removed"].decision == "removed"
    assert by_kind["withdrawn"].hash_count == 0 and by_kind["withdrawn"].withdrawn_at is not None
    for draft in ("incomplete", "received"):
        assert by_kind[draft].hash_count == 1  # the hash waiting on the case, not banked
        assert [line.split(":")[0] for line in by_kind[draft].missing] == ["good_faith", "contact.email"]
    assert by_kind["referred"].referral == intake_rules.UNDER_18_REFERRAL
    assert by_kind["referred"].locations == []
    assert by_kind["in danger"].safety_advice == intake_rules.SAFETY_ADVICE
    assert [kind for kind, view in by_kind.items() if view.safety_advice] == ["in danger"]
    assert by_kind["withdrawal pending"].legal_hold and by_kind["withdrawal pending"].withdraw_effective_at
    # What a draft lacks is what its stored request lacks (``stored_form``, as the intake reads it).
    with ctx.store.transaction() as session:
        for draft in ("incomplete", "received"):
            case = repo.get_by_number(session, by_kind[draft].case_number)
            assert case is not None
            assert intake_rules.missing(case_answers.stored_form(session, case)) == by_kind[draft].missing


def test_a_list_runs_as_many_statements_for_sixty_cases_as_for_ten(ctx):
    file_cases(ctx, 60)

    with counting_statements(ctx) as ten:
        assert len(case_review.list_cases(ctx, ADMIN, limit=10)) == 10
    with counting_statements(ctx) as sixty:
        assert len(case_review.list_cases(ctx, ADMIN, limit=60)) == 60
    with counting_statements(ctx) as alone:
        one_by_one(ctx, 10)

    assert len(sixty) == len(ten)
    # The same list read one case at a time: several statements per case (the counter counts).
    assert len(alone) >= 3 * 10


def test_long_lists_are_read_in_chunks_with_the_same_views(ctx, monkeypatch):
    file_cases(ctx, len(KINDS))
    expected = one_by_one(ctx, 100)
    with counting_statements(ctx) as whole:
        assert case_review.list_cases(ctx, ADMIN, limit=100) == expected

    # Three cases an IN list: every per-table query runs once per three cases.
    monkeypatch.setattr(repo, "IN_CHUNK", 3)
    with counting_statements(ctx) as chunked:
        assert case_review.list_cases(ctx, ADMIN, limit=100) == expected

    assert len(chunked) > len(whole)


def test_a_helpline_lists_and_counts_only_its_own_cases(ctx):
    file_cases(ctx, len(KINDS))  # odd indexes are the helpline's, the rest the operator's
    own = case_intake.file_request(ctx, form(ctx, seed=900), OTHER_HELPLINE, now=T0).case.case_number

    listed = case_review.list_cases(ctx, HELPLINE, limit=100)

    assert len(listed) == len(KINDS) // 2 and own not in {view.case_number for view in listed}
    assert case_review.count_cases(ctx, HELPLINE) == len(listed)
    assert case_review.count_cases(ctx, OTHER_HELPLINE) == 1
    assert case_review.count_cases(ctx, ADMIN) == len(KINDS) + 1
    assert case_review.count_cases(ctx, REVIEWER, state="appealed") == 1
    # valid, paused, in danger, and the other helpline's
    assert case_review.count_cases(ctx, REVIEWER, state="valid") == 4


def test_a_count_is_audited_like_a_list_and_refuses_an_unknown_state(ctx):
    with pytest.raises(InvalidRequest, match="state: one of"):
        case_review.count_cases(ctx, REVIEWER, state="pending")
    assert case_review.count_cases(ctx, REVIEWER, state="appealed") == 0
    with ctx.store.transaction() as session:
        last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert last is not None and (last.actor, last.action) == (REVIEWER.actor, "case.list")
        assert '"counted_only": true' in (last.detail or "") and '"state": "appealed"' in (last.detail or "")


def test_reading_no_cases_runs_no_statement(ctx):
    with ctx.store.transaction() as session, counting_statements(ctx) as statements:
        assert case_reading.read_cases(session, ctx.settings, []) == []
    assert statements == []
