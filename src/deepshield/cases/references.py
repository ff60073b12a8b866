"""Case references: how a bank entry, an audit event or a content item names a case.

A reference is ``case:<id>``, the case's internal id: never its public number or anything a
person could be found by. It is the one form that is stored; every place that writes or reads
one uses these two functions, so the form cannot drift.
"""

from __future__ import annotations

import re

#: What every case reference starts with; a caller-chosen reference may not.
PREFIX = "case:"
# Ids are positive 63-bit integers: at most 19 digits, no leading zero.
_REFERENCE = re.compile(r"^case:([1-9][0-9]{0,18})$")


def case_reference(case_id: int) -> str:
    """The stored reference of the case with this id, such as ``case:42``."""
    if isinstance(case_id, bool) or not isinstance(case_id, int) or case_id < 1:
        raise ValueError(f"a case id is a positive integer, not {case_id!r}")
    return f"{PREFIX}{case_id}"


def case_id_of(reference: object) -> int | None:
    """The case id a reference names, or None when the text is not a case reference."""
    if not isinstance(reference, str):
        return None
    match = _REFERENCE.match(reference)
    return int(match.group(1)) if match else None


def claims_case_prefix(reference: str) -> bool:
    """Whether the text starts like a case reference (in any case of letters), whether or not
    it is a valid one: such text is reserved for the case workflow."""
    return reference[:len(PREFIX)].lower() == PREFIX
