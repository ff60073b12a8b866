"""How the staff pages show things: times in UTC and as time left, the legal clocks, history
details, and the checks of a form against the API's own request models. Shared by the helpline
and reviewer pages; ``static/js/staff/clocks.js`` words the time left the same way."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData

from deepshield.errors import InvalidRequest
from deepshield.services.takedown.records import CaseView, ClockView


def utc_text(moment: datetime | None) -> str:
    """``"2026-05-01 14:03 UTC"``, or ``"—"`` for no time."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def iso_utc(moment: datetime) -> str:
    """The machine form for ``<time datetime>`` and the countdown script: ``2026-05-01T14:03:09Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def relative_text(remaining: timedelta) -> str:
    """``"in 5 h 12 min"``, ``"in 2 d 3 h"``, ``"in less than a minute"``, or ``"overdue by 40 min"``
    once negative. ``static/js/staff/clocks.js`` words it the same way."""
    seconds = remaining.total_seconds()
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        span = f"{days} d {hours} h"
    elif hours:
        span = f"{hours} h {mins} min"
    elif mins:
        span = f"{mins} min"
    else:
        span = "less than a minute"
    return f"overdue by {span}" if seconds < 0 else f"in {span}"


@dataclass(frozen=True)
class ClockLine:
    """One legal clock as a page shows it."""

    jurisdiction: str
    duty: str
    due_at: datetime
    due_text: str
    due_iso: str
    #: ``"in 5 h 12 min"`` / ``"overdue by ..."`` while it runs; empty once met or while paused.
    left_text: str
    #: running, escalated, breached, paused or met.
    status: str
    met_text: str

    @property
    def counting(self) -> bool:
        """Whether the page's script keeps its countdown current."""
        return self.status in ("running", "escalated", "breached")


def clock_line(clock: ClockView, now: datetime) -> ClockLine:
    if clock.met_at is not None:
        status = "met"
    elif clock.paused:
        status = "paused"
    elif clock.breached_at is not None or clock.due_at <= now:
        status = "breached"
    elif clock.escalated_at is not None:
        status = "escalated"
    else:
        status = "running"
    left = relative_text(clock.due_at - now) if status in ("running", "escalated", "breached") else ""
    return ClockLine(clock.jurisdiction, clock.duty, clock.due_at, utc_text(clock.due_at),
                     iso_utc(clock.due_at), left, status, utc_text(clock.met_at) if clock.met_at else "")


def clock_lines(case: CaseView, now: datetime) -> list[ClockLine]:
    """The case's clocks, nearest deadline first."""
    return sorted((clock_line(clock, now) for clock in case.clocks), key=lambda line: line.due_at)


def next_deadline(case: CaseView, now: datetime) -> ClockLine | None:
    """The nearest clock not yet met (running or paused), or None."""
    return next((line for line in clock_lines(case, now) if line.status != "met"), None)


def detail_text(value: Any) -> str:
    """A value of a history line's detail in plain text: times in UTC, lists joined, yes/no."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if len(value) >= 19 and value[4:5] == "-" and "T" in value:
            try:
                return utc_text(datetime.fromisoformat(value))
            except ValueError:
                return value
        return value
    if isinstance(value, Mapping):
        return "(" + ", ".join(f"{key} {detail_text(item)}" for key, item in value.items()) + ")"
    if isinstance(value, (list, tuple)):
        return ", ".join(detail_text(item) for item in value) or "none"
    return str(value)


Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], values: Mapping[str, Any]) -> Model:
    """``values`` checked with the API's request model (sizes, no control characters, no pasted
    image); ``InvalidRequest`` naming the field otherwise."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        problems = []
        for item in exc.errors(include_url=False)[:5]:
            where = ".".join(str(part) for part in item.get("loc", ()))
            message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
        raise InvalidRequest("; ".join(problems) or "the form could not be read") from None


def text_field(form: FormData, name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""
