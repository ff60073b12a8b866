"""Use cases: the audit log. Verify its hash chain, and list recent events (admins only).

The log itself is written by every other use case (``audit_repository.record_event`` in the
use case's own transaction); here it is only read. Both reads are themselves audit-logged:
who looked at the log, and who checked it, is part of the record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from deepshield.errors import InvalidRequest
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.store import audit_chain
from deepshield.store import audit_repository as audit
from deepshield.store.audit_chain import ChainReport
from deepshield.store.audit_repository import LoggedEvent
from deepshield.store.models import AuditEvent, AuditReadEvent

#: The most events one listing returns.
MAX_EVENTS = 1000
# An action name (``bank.add``), or a prefix of one ending in ``*`` (``case.*``).
_ACTION = re.compile(r"^[A-Za-z0-9_.:-]{1,64}\*?$")


@dataclass(frozen=True)
class EventView:
    """One audit event as the doors show it (ids and counts only: no PII, no hash values)."""

    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    automated: bool
    detail: dict[str, Any]
    #: The event's place in the chain (not a content hash): worth quoting in a complaint.
    entry_hash: str

    @classmethod
    def of(cls, event: LoggedEvent) -> EventView:
        try:
            detail = json.loads(event.detail)
        except ValueError:  # only a hand-edited row can hold bad JSON; show it, do not fail
            detail = {"unparsed": event.detail}
        if not isinstance(detail, dict):
            detail = {"value": detail}
        return cls(event.seq, event.at, event.actor, event.action, event.target,
                   bool(event.automated), detail, event.entry_hash)


def verify_audit_log(ctx: ServiceContext, principal: Principal) -> ChainReport:
    """Recompute the whole hash chain and compare it with its head.

    The report's ``ok`` is True only when no event was altered, removed, inserted or
    reordered; otherwise ``problems`` names each break and ``first_bad_seq`` the first event
    concerned. The check reads one consistent snapshot, so it is safe while others write.
    The check is then logged (after verifying, so the new event is never part of what was
    checked), with its outcome.
    """
    authorize(principal, Action.AUDIT_VERIFY)
    report = audit_chain.verify_snapshot(ctx.store.engine)
    with ctx.store.transaction() as session:
        audit.record_event(session, principal.actor, "audit.verify", "audit:chain",
                           events=report.events, ok=report.ok, problems=len(report.problems),
                           first_bad_seq=report.first_bad_seq)
    return report


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_EVENTS:
        raise InvalidRequest(f"limit is a whole number from 1 to {MAX_EVENTS}; got {limit!r}")
    return limit


def _check_action(action: str | None) -> str | None:
    if action is None or action == "":
        return None
    if not _ACTION.match(action):
        raise InvalidRequest("action is an action name such as bank.add, or a prefix ending in * "
                             f"such as case.*; got {action!r}")
    return action


def list_events(ctx: ServiceContext, principal: Principal, *, target: str | None = None,
                action: str | None = None, limit: int = 100) -> list[EventView]:
    """The newest events first, at most ``limit`` (1 to ``MAX_EVENTS``), reads included.

    ``target`` keeps the events about one thing (``case:12``, ``bank:helpline``); ``action``
    one action (``bank.add``) or, ending in ``*``, every action it begins (``case.*``).
    The listing is audit-logged with its filters. (Reads have no index on ``target``: a
    ``target`` filter scans them, which an administrator's occasional listing can afford.)
    """
    authorize(principal, Action.AUDIT_VERIFY)
    _check_limit(limit)
    action = _check_action(action)
    if target is not None and len(target) > 200:
        raise InvalidRequest("target is at most 200 characters (e.g. case:12 or bank:helpline)")
    events_query = _filtered(AuditEvent, target, action)
    reads_query = _filtered(AuditReadEvent, target, action)
    with ctx.store.transaction() as session:
        events = [EventView.of(event)
                  for event in audit.newest_first(session, events_query, reads_query, limit)]
        audit.record_event(session, principal.actor, "audit.list", "audit:log",
                           filter_target=target or None, filter_action=action, limit=limit,
                           returned=len(events))
    return events


def _filtered(table: type[AuditEvent] | type[AuditReadEvent], target: str | None,
              action: str | None) -> Select[Any]:
    """``select(table)`` (``AuditEvent`` or ``AuditReadEvent``) with ``list_events``' filters."""
    query = select(table)
    if target:
        query = query.where(table.target == target)
    if action:
        if action.endswith("*"):
            query = query.where(table.action.startswith(action[:-1], autoescape=True))
        else:
            query = query.where(table.action == action)
    return query


def chain_report_view(report: ChainReport) -> dict[str, Any]:
    """The plain-dict form of a verification, shared by the CLI's ``--json`` and the API."""
    return {"ok": report.ok, "events": report.events, "read_events": report.read_events,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash, "first_bad_seq": report.first_bad_seq,
            "problems": list(report.problems)}


def event_view(event: EventView) -> dict[str, Any]:
    return {"seq": event.seq, "at": event.at.isoformat(), "actor": event.actor,
            "action": event.action, "target": event.target, "automated": event.automated,
            "detail": event.detail, "entry_hash": event.entry_hash}
