"""Finding a case for a caller: the case is returned only when it is in the caller's scope,
and any other case answers exactly like one that does not exist."""

from __future__ import annotations

from sqlalchemy.orm import Session

from deepshield.cases.numbers import parse_case_number
from deepshield.errors import NotFound
from deepshield.services.access import NOT_VISIBLE, Principal, case_in_scope
from deepshield.store import case_repository as repo
from deepshield.store.models import Case


def visible(case: Case, principal: Principal) -> bool:
    """Whether ``principal`` may see ``case``: a victim her own, a helpline the cases it filed,
    the platform's reviewers and the operator every case. The rule is ``access.case_in_scope``,
    which the bank service asks too (for entries and case references)."""
    return case_in_scope(principal, case_number=case.case_number, filed_by=case.filed_by)


def load_visible(session: Session, case_number: str, principal: Principal, *,
                 for_update: bool = False) -> Case:
    """The case with this number if ``principal`` may see it; otherwise ``NotFound`` worded
    exactly as for a number that does not exist, so probing learns nothing."""
    number = parse_case_number(case_number)
    case = repo.get_by_number(session, number, for_update=for_update) if number else None
    if case is None or not visible(case, principal):
        raise NotFound(NOT_VISIBLE)
    return case
