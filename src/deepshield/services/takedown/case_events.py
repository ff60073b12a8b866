"""What the takedown use cases record about a case: the audit events on it (target
``case:<id>``; ids, states and counts, never PII or hash values) and the messages its
changes queue in the outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from deepshield.services.takedown.outbox import queue_case_event
from deepshield.settings import Settings
from deepshield.store import audit_repository as audit
from deepshield.store import case_repository as repo
from deepshield.store.models import Case, CaseContact

#: The actor of what the system does on its own (clocks, withdrawals after the cool-off).
SYSTEM_ACTOR = "system:cases"
#: ``Case.filed_by`` of a request filed without a key (a victim or her representative).
PUBLIC_FILER = "public"
#: Audit actions that read rather than change a case: left out of its history.
READ_ACTIONS = frozenset({"case.read", "case.list", "case.read_contact", "victim.login",
                          "victim.login_failed", "victim.locked"})


def record(session: Session, actor: str, action: str, case: Case, *, automated: bool = False,
           **detail: Any) -> None:
    """Audit an act on ``case`` (target ``case:<id>``): ids, states and counts, never PII or hashes."""
    audit.record_event(session, actor, action, repo.case_ref(case.id), automated=automated, **detail)


def notify(session: Session, settings: Settings, event: str, case: Case,
           contact: CaseContact | None, detail: dict[str, Any]) -> int:
    """Queue the messages ``event`` calls for, in the caller's transaction (the outbox)."""
    return queue_case_event(session, settings, event=event, case=case, contact=contact, detail=detail)
