"""Reads of the reference library: the banks that hold known source footage (issue 16).

A reference library is an ordinary bank (``settings.sources.reference_banks`` names which); each
of its entries names its reference by its case reference. These reads return names and ids
only, never a hash value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from deepshield.store.models import Bank, BankEntry

#: Bound parameters per IN list: well under SQLite's and PostgreSQL's limits.
_CHUNK = 500


def reference_names(session: Session, bank_names: Sequence[str], limit: int) -> list[tuple[str, str]]:
    """``(bank, reference name)`` of the active entries of ``bank_names`` that name one, at most
    ``limit`` of them, by bank and name (a stable order, so a cap keeps the same ones)."""
    if not bank_names:
        return []
    rows = session.execute(
        select(Bank.name, BankEntry.case_ref).join(Bank, Bank.id == BankEntry.bank_id)
        .where(Bank.name.in_(list(bank_names)), BankEntry.case_ref.is_not(None),
               BankEntry.withdrawn_at.is_(None), BankEntry.enabled.is_(True))
        .distinct().order_by(Bank.name, BankEntry.case_ref).limit(limit))
    return [(str(bank), str(name)) for bank, name in rows]


def entry_references(session: Session, entry_ids: Iterable[int]) -> dict[int, str | None]:
    """The case reference (for a reference library: the reference's name) of each entry id."""
    ids = sorted(set(entry_ids))
    found: dict[int, str | None] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update((int(entry_id), case_ref) for entry_id, case_ref in session.execute(
            select(BankEntry.id, BankEntry.case_ref).where(BankEntry.id.in_(ids[start:start + _CHUNK]))))
    return found
