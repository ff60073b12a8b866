"""Applying a withdrawal: the case's hashes leave every bank (and partners' feeds), and its
contact details are erased unless a legal hold keeps them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from deepshield.cases.states import CaseState
from deepshield.services.takedown.case_answers import drop_pending_hashes
from deepshield.services.takedown.case_events import notify, record
from deepshield.settings import Settings
from deepshield.store import bank_repository
from deepshield.store import case_repository as repo
from deepshield.store.models import Case


def apply_withdrawal(session: Session, settings: Settings, case: Case, *, actor: str, at: datetime,
                     automated: bool) -> int:
    """Withdraw the case now: every bank entry carrying its reference, in every bank, is
    withdrawn (so it stops matching and partners' feeds show it as deleted), its hashes not yet
    banked are dropped, and its contact details are erased unless a legal hold keeps them.
    Returns how many entries were withdrawn."""
    entries = repo.entries_for_case(session, case.id)
    for entry, _ in entries:
        bank_repository.withdraw_entry(session, entry, at)
    drop_pending_hashes(case)
    from_state = case.state
    case.state = CaseState.WITHDRAWN.value
    case.withdrawn_at = at
    if case.withdraw_requested_at is None:
        case.withdraw_requested_at = at
    case.withdraw_effective_at = at
    case.due_at = None
    pause = repo.open_pause(session, case.id)
    if pause is not None:
        pause.ended_at = at
    contact = repo.get_contact(session, case.id)
    # The requester hears of it before her details go.
    notify(session, settings, "withdrawn", case, contact,
           {"entries_withdrawn": len(entries), "automated": automated})
    erased = False if case.legal_hold else repo.erase_contact(session, case.id, at)
    record(session, actor, "case.withdraw", case, automated=automated, from_state=from_state,
           entry_ids=[entry.id for entry, _ in entries], banks=sorted({name for _, name in entries}),
           contact_erased=erased, legal_hold=case.legal_hold)
    return len(entries)
