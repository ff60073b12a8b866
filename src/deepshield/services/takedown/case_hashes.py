"""A case's hashes in the banks: adding them under the case's reference, and reading back
those still active."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from deepshield.cases import intake
from deepshield.errors import Conflict
from deepshield.services.context import ServiceContext
from deepshield.services.spread.banks import EntryInfo, Origin, SignalInput, add_signals_in
from deepshield.services.takedown.case_events import SYSTEM_ACTOR
from deepshield.settings import Settings
from deepshield.store import audit_repository as audit
from deepshield.store import bank_repository
from deepshield.store import case_repository as repo
from deepshield.store.models import Bank, Case


def origin_for(requester_role: str | None) -> Origin:
    return Origin.HELPLINE if requester_role == "helpline" else Origin.VICTIM_DEVICE


def bank_hashes(session: Session, settings: Settings, case: Case, hashes: Sequence[intake.HashInput], *,
                bank_name: str, origin: Origin, actor: str) -> list[EntryInfo]:
    """Add the case's hashes to ``bank_name`` in the caller's transaction (the bank exists)."""
    if not hashes:
        return []
    signals = [SignalInput(h.signal_type, h.value, h.quality) for h in hashes]
    return add_signals_in(session, bank_name, signals, origin=origin, case_ref=repo.case_ref(case.id),
                          actor=actor[:64], min_quality=settings.match.pdq_min_quality)


def ensure_bank(ctx: ServiceContext, name: str, description: str) -> None:
    """Create bank ``name`` if it does not exist yet, in a transaction of its own (an empty
    bank is harmless, and two processes creating it at once must both go on)."""
    with ctx.store.transaction() as session:
        if session.scalar(select(Bank.id).where(Bank.name == name)) is not None:
            return
    try:
        with ctx.store.transaction() as session:
            bank_repository.create_bank(session, name, description)
            audit.record_event(session, SYSTEM_ACTOR, "bank.create", f"bank:{name}", automated=True)
    except (Conflict, SQLAlchemyError):  # another process created it first: fine if it now exists
        with ctx.store.transaction() as session:
            bank_repository.get_bank(session, name)


def active_case_signals(session: Session, case: Case, bank_name: str) -> list[SignalInput]:
    """The case's active hashes in ``bank_name``, as signals."""
    return [SignalInput(entry.signal_type, entry.value, entry.quality)
            for entry, _ in repo.entries_for_case(session, case.id, bank_name=bank_name)
            if entry.enabled]
