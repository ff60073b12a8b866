"""Reads and writes of takedown cases: the case, its contact, locations, clocks, pauses,
appeals, misuse strikes, and the bank entries and content items that point at it.

Only ``deepshield.services`` calls this; it holds no rules (those are in ``deepshield.cases``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from deepshield.cases.references import case_reference
from deepshield.store.models import (
    Appeal,
    Bank,
    BankEntry,
    Case,
    CaseClock,
    CaseContact,
    CaseLocation,
    ClockPause,
    ContentItem,
    MisuseStrike,
    Notification,
)

#: The most values one ``IN (...)`` list binds: well under SQLite's 32,766 bound parameters
#: (999 before 3.32) and PostgreSQL's 65,535, so a list of any length is read in a few queries.
IN_CHUNK = 500


def case_ref(case_id: int) -> str:
    """The reference bank entries carry for a case: its id, never its number or any PII."""
    return case_reference(case_id)


def _chunks(values: Iterable[int]) -> Iterator[list[int]]:
    """The distinct values, sorted, in lists of at most ``IN_CHUNK`` (one ``IN`` list each)."""
    unique = sorted(set(values))
    for start in range(0, len(unique), IN_CHUNK):
        yield unique[start:start + IN_CHUNK]


# --- cases --------------------------------------------------------------------------------------


def add_case(session: Session, case: Case) -> Case:
    session.add(case)
    session.flush()
    return case


def get_by_number(session: Session, case_number: str, *, for_update: bool = False) -> Case | None:
    """The case with this number; ``for_update`` locks it until commit, so two requests (or
    two processes' scheduler rounds) changing one case take turns."""
    return _one(session, Case.case_number == case_number, for_update)


def get_by_id(session: Session, case_id: int, *, for_update: bool = False) -> Case | None:
    return _one(session, Case.id == case_id, for_update)


def _one(session: Session, condition: Any, for_update: bool) -> Case | None:
    query = select(Case).where(condition)
    if for_update:
        if session.get_bind().dialect.name == "sqlite":
            # SQLite has no row locks: a no-op write first takes the database's write lock, so
            # the read below sees the newest commit and nobody else writes until we commit
            # (two scheduler rounds could otherwise both escalate one clock).
            session.execute(update(Case).where(condition).values(id=Case.id))
        else:
            query = query.with_for_update()
    return session.scalar(query.execution_options(populate_existing=True))


def get_by_request_key(session: Session, request_key: str) -> Case | None:
    return session.scalar(select(Case).where(Case.request_key == request_key))


def list_cases(session: Session, *, filed_by: str | None = None, state: str | None = None,
               limit: int = 100) -> list[Case]:
    """Cases newest first, optionally only one filer's and one state's."""
    query = select(Case)
    if filed_by is not None:
        query = query.where(Case.filed_by == filed_by)
    if state is not None:
        query = query.where(Case.state == state)
    return list(session.scalars(query.order_by(Case.received_at.desc(), Case.id.desc()).limit(limit)))


def count_cases(session: Session, *, filed_by: str | None = None, state: str | None = None) -> int:
    """How many cases there are, optionally only one filer's and one state's (as ``list_cases``)."""
    query = select(func.count()).select_from(Case)
    if filed_by is not None:
        query = query.where(Case.filed_by == filed_by)
    if state is not None:
        query = query.where(Case.state == state)
    return int(session.scalar(query) or 0)


def withdrawals_due(session: Session, now: datetime) -> list[int]:
    """Ids of cases whose requested withdrawal's cool-off has ended and that are not yet withdrawn."""
    return list(session.scalars(
        select(Case.id).where(Case.withdraw_effective_at.is_not(None), Case.withdraw_effective_at <= now,
                              Case.withdrawn_at.is_(None)).order_by(Case.id)))


def stale_drafts(session: Session, *, filed_by: str, states: Sequence[str], received_before: datetime,
                 limit: int) -> list[int]:
    """Ids of ``filed_by``'s cases still in ``states`` that were received before the cutoff and
    are under no legal hold, oldest first (the drafts nobody completed)."""
    return list(session.scalars(
        select(Case.id).where(Case.filed_by == filed_by, Case.state.in_(states),
                              Case.received_at < received_before, Case.legal_hold.is_(False))
        .order_by(Case.received_at, Case.id).limit(limit)))


def erase_case(session: Session, case_id: int) -> None:
    """Delete the case and everything that is only about it: contact, locations, clocks, pauses,
    appeals and queued messages. Strikes and content items outlive it, without the link."""
    children: tuple[Any, ...] = (CaseContact, CaseLocation, CaseClock, ClockPause, Appeal, Notification)
    for child in children:
        session.execute(delete(child).where(child.case_id == case_id)
                        .execution_options(synchronize_session=False))
    linked: tuple[Any, ...] = (MisuseStrike, ContentItem)
    for other in linked:
        session.execute(update(other).where(other.case_id == case_id).values(case_id=None)
                        .execution_options(synchronize_session=False))
    session.execute(delete(Case).where(Case.id == case_id).execution_options(synchronize_session=False))


# --- contact ------------------------------------------------------------------------------------


def get_contact(session: Session, case_id: int) -> CaseContact | None:
    return session.get(CaseContact, case_id)


def contacts_of_cases(session: Session, case_ids: Iterable[int]) -> dict[int, CaseContact]:
    """The contact rows of those cases that have one, keyed by case id; one query per
    ``IN_CHUNK`` cases."""
    found: dict[int, CaseContact] = {}
    for chunk in _chunks(case_ids):
        for contact in session.scalars(select(CaseContact).where(CaseContact.case_id.in_(chunk))):
            found[contact.case_id] = contact
    return found


def save_contact(session: Session, case_id: int, *, signature_name: str, contact_email: str,
                 webhook_url: str) -> CaseContact:
    contact = session.get(CaseContact, case_id)
    if contact is None:
        contact = CaseContact(case_id=case_id)
        session.add(contact)
    contact.signature_name = signature_name
    contact.contact_email = contact_email
    contact.webhook_url = webhook_url
    session.flush()
    return contact


def erase_contact(session: Session, case_id: int, at: datetime) -> bool:
    """Blank the contact details (the row stays, saying when they were erased); False when
    there was nothing left to erase."""
    contact = session.get(CaseContact, case_id)
    if contact is None or contact.erased_at is not None:
        return False
    contact.signature_name = ""
    contact.contact_email = ""
    contact.webhook_url = ""
    contact.erased_at = at
    session.flush()
    return True


# --- locations ----------------------------------------------------------------------------------


def locations_of(session: Session, case_id: int) -> list[CaseLocation]:
    return list(session.scalars(select(CaseLocation).where(CaseLocation.case_id == case_id)
                                .order_by(CaseLocation.id)))


def locations_of_cases(session: Session, case_ids: Iterable[int]) -> dict[int, list[CaseLocation]]:
    """Each case's locations in ``locations_of``'s order, keyed by case id (a case with none is
    absent); one query per ``IN_CHUNK`` cases."""
    found: dict[int, list[CaseLocation]] = {}
    for chunk in _chunks(case_ids):
        for row in session.scalars(select(CaseLocation).where(CaseLocation.case_id.in_(chunk))
                                   .order_by(CaseLocation.id)):
            found.setdefault(row.case_id, []).append(row)
    return found


def add_locations(session: Session, case_id: int, items: Iterable[tuple[str, str]]) -> list[CaseLocation]:
    rows = [CaseLocation(case_id=case_id, kind=kind, location=location, status="pending")
            for kind, location in items]
    session.add_all(rows)
    session.flush()
    return rows


def set_location_status(session: Session, case_id: int, status: str, at: datetime) -> int:
    """Set every location of the case to ``status``; returns how many there are."""
    rows = locations_of(session, case_id)
    for row in rows:
        row.status = status
        row.actioned_at = at
    session.flush()
    return len(rows)


# --- clocks and pauses --------------------------------------------------------------------------


def clocks_of(session: Session, case_id: int) -> list[CaseClock]:
    return list(session.scalars(select(CaseClock).where(CaseClock.case_id == case_id)
                                .order_by(CaseClock.due_at, CaseClock.id)))


def clocks_of_cases(session: Session, case_ids: Iterable[int]) -> dict[int, list[CaseClock]]:
    """Each case's clocks in ``clocks_of``'s order, keyed by case id (a case with none is
    absent); one query per ``IN_CHUNK`` cases."""
    found: dict[int, list[CaseClock]] = {}
    for chunk in _chunks(case_ids):
        for clock in session.scalars(select(CaseClock).where(CaseClock.case_id.in_(chunk))
                                     .order_by(CaseClock.due_at, CaseClock.id)):
            found.setdefault(clock.case_id, []).append(clock)
    return found


def add_clock(session: Session, case_id: int, *, jurisdiction: str, duty: str, started_at: datetime,
              due_at: datetime) -> CaseClock:
    clock = CaseClock(case_id=case_id, jurisdiction=jurisdiction, duty=duty, started_at=started_at,
                      due_at=due_at)
    session.add(clock)
    session.flush()
    return clock


def pauses_of(session: Session, case_id: int) -> list[ClockPause]:
    return list(session.scalars(select(ClockPause).where(ClockPause.case_id == case_id)
                                .order_by(ClockPause.started_at, ClockPause.id)))


def open_pause(session: Session, case_id: int) -> ClockPause | None:
    return session.scalar(select(ClockPause).where(ClockPause.case_id == case_id,
                                                   ClockPause.ended_at.is_(None)))


def add_pause(session: Session, case_id: int, *, reason: str, paused_by: str, at: datetime) -> ClockPause:
    pause = ClockPause(case_id=case_id, reason=reason, paused_by=paused_by, started_at=at)
    session.add(pause)
    session.flush()
    return pause


def cases_with_clocks_to_check(session: Session, *, states: Sequence[str], horizon: datetime) -> list[int]:
    """Ids of cases in ``states`` with an unmet clock not yet both escalated and breached whose
    deadline is before ``horizon`` (a clock can only escalate within its warning time of it)."""
    return list(session.scalars(
        select(CaseClock.case_id).join(Case, Case.id == CaseClock.case_id)
        .where(Case.state.in_(list(states)), CaseClock.met_at.is_(None), CaseClock.due_at <= horizon,
               (CaseClock.escalated_at.is_(None)) | (CaseClock.breached_at.is_(None)))
        .group_by(CaseClock.case_id).order_by(CaseClock.case_id)))


def open_clocks_due(session: Session, *, states: Sequence[str], before: datetime,
                    filed_by: str | None = None) -> list[tuple[CaseClock, str, str]]:
    """Unmet clocks of cases in ``states`` due before ``before``, soonest first, each with its
    case's number and state (only those: loading whole cases would unseal every one's answers)."""
    query = (select(CaseClock, Case.case_number, Case.state).join(Case, Case.id == CaseClock.case_id)
             .where(Case.state.in_(list(states)), CaseClock.met_at.is_(None), CaseClock.due_at <= before))
    if filed_by is not None:
        query = query.where(Case.filed_by == filed_by)
    return [(clock, number, state) for clock, number, state
            in session.execute(query.order_by(CaseClock.due_at, CaseClock.id))]


def paused_case_ids(session: Session, case_ids: Iterable[int]) -> set[int]:
    """Which of the cases have an open pause (``open_pause`` is not None); one query per
    ``IN_CHUNK`` cases."""
    found: set[int] = set()
    for chunk in _chunks(case_ids):
        found.update(session.scalars(select(ClockPause.case_id).where(
            ClockPause.case_id.in_(chunk), ClockPause.ended_at.is_(None))))
    return found


# --- appeals ------------------------------------------------------------------------------------


def appeals_of(session: Session, case_id: int) -> list[Appeal]:
    return list(session.scalars(select(Appeal).where(Appeal.case_id == case_id)
                                .order_by(Appeal.filed_at, Appeal.id)))


def get_appeal(session: Session, case_id: int, appeal_id: int) -> Appeal | None:
    appeal = session.get(Appeal, appeal_id)
    return appeal if appeal is not None and appeal.case_id == case_id else None


def add_appeal(session: Session, appeal: Appeal) -> Appeal:
    session.add(appeal)
    session.flush()
    return appeal


# --- misuse -------------------------------------------------------------------------------------


def strikes_for(session: Session, subject_kind: str, subject_ref: str) -> list[MisuseStrike]:
    """A subject's strikes, oldest first."""
    return list(session.scalars(select(MisuseStrike).where(MisuseStrike.subject_kind == subject_kind,
                                                           MisuseStrike.subject_ref == subject_ref)
                                .order_by(MisuseStrike.at, MisuseStrike.id)))


def add_strike(session: Session, strike: MisuseStrike) -> MisuseStrike:
    session.add(strike)
    session.flush()
    return strike


# --- what points at a case ----------------------------------------------------------------------


def entries_for_case(session: Session, case_id: int, *, bank_name: str | None = None,
                     active_only: bool = True) -> list[tuple[BankEntry, str]]:
    """Bank entries carrying the case's reference, in every bank (or one), with bank names."""
    query = (select(BankEntry, Bank.name).join(Bank, Bank.id == BankEntry.bank_id)
             .where(BankEntry.case_ref == case_ref(case_id)))
    if bank_name is not None:
        query = query.where(Bank.name == bank_name)
    if active_only:
        query = query.where(BankEntry.withdrawn_at.is_(None))
    return [(entry, name) for entry, name in session.execute(query.order_by(BankEntry.id))]


def count_active_entries(session: Session, case_id: int, bank_name: str) -> int:
    return int(session.scalar(
        select(func.count()).select_from(BankEntry).join(Bank, Bank.id == BankEntry.bank_id)
        .where(BankEntry.case_ref == case_ref(case_id), Bank.name == bank_name,
               BankEntry.withdrawn_at.is_(None), BankEntry.enabled.is_(True))) or 0)


def count_active_entries_of_cases(session: Session, case_ids: Iterable[int],
                                  bank_name: str) -> dict[int, int]:
    """``count_active_entries`` for many cases, keyed by case id (a case with none is absent).
    Entries name their case by ``case_ref``, so the lookup is ``case_ref IN (...)``, which the
    ``ix_bank_entries_case_ref`` index serves; one query per ``IN_CHUNK`` cases."""
    found: dict[int, int] = {}
    for chunk in _chunks(case_ids):
        id_of_ref = {case_ref(case_id): case_id for case_id in chunk}
        rows = session.execute(
            select(BankEntry.case_ref, func.count()).join(Bank, Bank.id == BankEntry.bank_id)
            .where(BankEntry.case_ref.in_(list(id_of_ref)), Bank.name == bank_name,
                   BankEntry.withdrawn_at.is_(None), BankEntry.enabled.is_(True))
            .group_by(BankEntry.case_ref))
        for reference, entries in rows:
            found[id_of_ref[reference]] = int(entries)
    return found


def count_content_items(session: Session, case_id: int) -> int:
    """Items of the platform's content that a sweep for this case listed or removed."""
    return int(session.scalar(select(func.count(func.distinct(ContentItem.item_id)))
                              .where(ContentItem.case_id == case_id)) or 0)
