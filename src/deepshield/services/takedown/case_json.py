"""Plain-dict views of the case use cases' results, for the API's JSON and the CLI's ``--json``.

Dates are ISO 8601 strings (with the UTC offset the store gives them), durations are seconds
(``remaining_s``). Nothing here adds or drops a field on its own: a view shows what the
service chose to return, so no contact detail or hash value can appear unless a service put
it in its dataclass (only ``contact_json`` shows contact details, and only ``read_contact``
returns them).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from deepshield.services.takedown.records import (
    CaseView,
    ContactView,
    Decision,
    DueItem,
    FiledCase,
    StrikeView,
    TickReport,
    VictimStatus,
)


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses become dicts, datetimes ISO strings, timedeltas
    seconds (float), enums their value; lists, tuples and dicts are converted item by item."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: plain(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    return value


def case_json(case: CaseView) -> dict[str, Any]:
    """A case: state, clocks, pauses, locations, appeals and history. No contact details."""
    return plain(case)  # type: ignore[no-any-return]


def filed_case_json(filed: FiledCase) -> dict[str, Any]:
    """``{"case": ..., "pin": ...}``: the PIN is present once, at filing (None on a retry)."""
    return {"case": case_json(filed.case), "pin": filed.pin}


def sweep_json(sweep: Any) -> dict[str, Any] | None:
    """The copy sweep's result (item ids, distances, statuses), or None when nothing was swept."""
    if sweep is None:
        return None
    view = plain(sweep)
    if not isinstance(view, dict):
        return {"result": view}
    # The internal row id would tell how many cases were filed: cases are named by number only.
    view.pop("case_id", None)
    return view


def decision_json(decision: Decision) -> dict[str, Any]:
    """``{"case": ..., "sweep": ...}``; ``sweep`` is None for a declined request."""
    return {"case": case_json(decision.case), "sweep": sweep_json(decision.sweep)}


def victim_status_json(status: VictimStatus) -> dict[str, Any]:
    return plain(status)  # type: ignore[no-any-return]


def due_item_json(item: DueItem) -> dict[str, Any]:
    """A clock due soon; ``remaining_s`` is negative once the deadline has passed."""
    view: dict[str, Any] = plain(item)
    view["remaining_s"] = view.pop("remaining")
    return view


def strike_json(strike: StrikeView) -> dict[str, Any]:
    return plain(strike)  # type: ignore[no-any-return]


def contact_json(contact: ContactView) -> dict[str, Any]:
    """The requester's contact details: PII, for the admin's audit-logged read only."""
    return plain(contact)  # type: ignore[no-any-return]


def tick_json(report: TickReport) -> dict[str, Any]:
    return plain(report)  # type: ignore[no-any-return]


def format_remaining(remaining: timedelta) -> str:
    """``"5h 12m left"``, or ``"2h 3m overdue"`` once negative: for people reading a table."""
    seconds = int(remaining.total_seconds())
    overdue = seconds < 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = ([f"{days}d"] if days else []) + ([f"{hours}h"] if days or hours else []) + [f"{minutes}m"]
    return " ".join(parts) + (" overdue" if overdue else " left")
