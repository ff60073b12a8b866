"""The request as stored on a case: its non-PII answers (JSON on the case row), the hashes
of an incomplete request that wait to be banked, and the checks on free-text answers."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from deepshield.cases import intake
from deepshield.errors import InvalidRequest
from deepshield.store import case_repository as repo
from deepshield.store.models import Case, CaseContact, CaseLocation

_PENDING_HASHES = "pending_hashes"


def check_text(value: Any, field: str, *, min_chars: int, max_chars: int) -> str:
    """A trimmed free-text answer of a reviewer or requester, within bounds, or InvalidRequest."""
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: must be text")
    text = value.strip()
    if len(text) < min_chars:
        raise InvalidRequest(f"{field}: give at least {min_chars} characters")
    if len(text) > max_chars:
        raise InvalidRequest(f"{field}: at most {max_chars} characters; got {len(text)}")
    if any(ord(char) < 32 and char not in "\n\r\t" for char in text):
        raise InvalidRequest(f"{field}: must not contain control characters")
    return text


def answers_of(case: Case) -> dict[str, Any]:
    try:
        answers = json.loads(case.answers or "{}")
    except ValueError:
        answers = {}
    return answers if isinstance(answers, dict) else {}


def set_answers(case: Case, form: intake.RequestForm, pending: Sequence[intake.HashInput]) -> None:
    """Keep the form's non-PII answers on the case, with hashes not yet banked (an incomplete
    request's) until it completes."""
    answers = form.answers()
    if pending:
        answers[_PENDING_HASHES] = [[h.signal_type, h.value, h.quality] for h in pending]
    case.answers = json.dumps(answers, sort_keys=True)


def in_danger(case: Case) -> bool:
    """Whether the requester answered being in immediate danger."""
    return bool((answers_of(case).get("safety_check") or {}).get("in_immediate_danger"))


def pending_hashes(case: Case) -> list[intake.HashInput]:
    rows = answers_of(case).get(_PENDING_HASHES) or []
    return [intake.HashInput(str(row[0]), str(row[1]), row[2]) for row in rows]


def drop_pending_hashes(case: Case) -> None:
    """Forget the hashes an incomplete request held (on withdrawal)."""
    answers = answers_of(case)
    answers.pop(_PENDING_HASHES, None)
    case.answers = json.dumps(answers, sort_keys=True)


def stored_form(session: Session, case: Case, contact: CaseContact | None = None,
                locations: Sequence[CaseLocation] | None = None) -> intake.RequestForm:
    """The request as it stands: answers, contact, locations and not-yet-banked hashes. A caller
    that already read the case's contact or locations (a list of cases) passes them."""
    contact = contact or repo.get_contact(session, case.id)
    rows = repo.locations_of(session, case.id) if locations is None else locations
    return intake.from_answers(
        answers_of(case),
        signature_name=contact.signature_name if contact else "",
        contact_email=contact.contact_email if contact else "",
        webhook_url=contact.webhook_url if contact else "",
        locations=[intake.LocationInput(row.kind, row.location) for row in rows],
        hashes=pending_hashes(case),
    )
