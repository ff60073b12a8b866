"""Use cases: the partner exchange (hashes since a checkpoint, deletes included) and feedback.

A partner polls ``fetch_updates`` with the checkpoint it got last time. Every entry written
since then comes back once, in its current state: ``active`` ones to add or keep, and
withdrawn or disabled ones as deletes, with their value, so a partner keyed by hash value
can delete too. (python-threatexchange's StopNCII client compares a hash string with a
status enum, so withdrawals never become deletes there; here a delete is its own state.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from deepshield.errors import InvalidRequest, NotFound
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.store import audit_repository as audit
from deepshield.store import exchange_repository as repo
from deepshield.store.exchange_repository import ExchangeUpdate

MAX_PAGE = 10_000
#: StopNCII's partner statuses, as partners send them.
FEEDBACK_STATUSES = ("Blocked", "NotBlocked", "PendingReview")
_BY_LOWER = {status.lower(): status for status in FEEDBACK_STATUSES}
MAX_FEEDBACK_ITEMS = 10_000
#: The largest feedback request (JSON) a door reads, in bytes: ``MAX_FEEDBACK_ITEMS`` items of
#: about 60 bytes each, with room for indentation.
MAX_FEEDBACK_BODY_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ExchangePage:
    updates: list[ExchangeUpdate]
    checkpoint: int
    more: bool


def fetch_updates(ctx: ServiceContext, principal: Principal, checkpoint: int,
                  limit: int = 1000) -> ExchangePage:
    """Entries changed after ``checkpoint`` (0: everything), at most ``limit``; audit-logged
    under ``principal``. ``Forbidden`` unless it may fetch the feed (a partner, the operator)."""
    authorize(principal, Action.EXCHANGE_FETCH)
    if checkpoint < 0:
        raise InvalidRequest("checkpoint must be 0 or a checkpoint this service returned")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}")
    with ctx.store.transaction() as session:
        updates, next_checkpoint, more = repo.updates_since(session, checkpoint, limit)
        audit.record_event(session, principal.actor, "exchange.fetch", "", checkpoint=checkpoint,
                           next_checkpoint=next_checkpoint, updates=len(updates),
                           deletes=sum(not u.active for u in updates))
    return ExchangePage(updates, next_checkpoint, more)


def record_feedback(ctx: ServiceContext, principal: Principal, items: Sequence[tuple[int, str]]) -> int:
    """Store a partner's status per entry (Blocked, NotBlocked, PendingReview), under its actor;
    audit-logged. ``Forbidden`` unless ``principal`` may send feedback (partners only)."""
    authorize(principal, Action.EXCHANGE_FEEDBACK)
    if not items:
        raise InvalidRequest("send at least one feedback item")
    if len(items) > MAX_FEEDBACK_ITEMS:
        raise InvalidRequest(f"send at most {MAX_FEEDBACK_ITEMS} feedback items per request")
    normalised = []
    for position, (entry_id, status) in enumerate(items, start=1):
        canonical = _BY_LOWER.get(str(status).strip().lower())
        if canonical is None:
            raise InvalidRequest(f"item {position}: status must be one of {', '.join(FEEDBACK_STATUSES)}")
        normalised.append((int(entry_id), canonical))
    with ctx.store.transaction() as session:
        known = repo.existing_entry_ids(session, [entry_id for entry_id, _ in normalised])
        unknown = sorted({entry_id for entry_id, _ in normalised} - known)
        if unknown:
            raise NotFound(f"no exchanged entry has id {unknown[0]}; nothing was recorded")
        repo.record_feedback(session, principal.actor, normalised)
        audit.record_event(session, principal.actor, "exchange.feedback", "", items=len(normalised))
    return len(normalised)


def update_json(update: ExchangeUpdate) -> dict[str, Any]:
    return {
        "entry_id": update.entry_id,
        "bank": update.bank,
        "signal_type": update.signal_type,
        "signal_value": update.signal_value,
        "quality": update.quality,
        "state": "active" if update.active else "deleted",
    }
