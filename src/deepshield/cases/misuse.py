"""Misuse (DSA Art. 23): warn, then suspend, repeat uploaders and those who file baseless notices.

Strikes count within a look-back window: the first ``strikes_before_suspension - 1`` strikes
in the window are warnings and the next one suspends for ``suspension_days`` (0: until an
operator lifts it). Every further strike inside the window suspends again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Strikes older than this no longer count towards a suspension.
WINDOW = timedelta(days=180)
SUBJECT_KINDS = ("uploader", "reporter")
WARNING, SUSPENSION = "warning", "suspension"


@dataclass(frozen=True)
class StrikeDecision:
    kind: str  # warning / suspension
    until: datetime | None  # a suspension's end (None for a warning, or for "until lifted")


@dataclass(frozen=True)
class PastStrike:
    kind: str
    at: datetime
    until: datetime | None


def next_strike(previous: Iterable[PastStrike], now: datetime, *, strikes_before_suspension: int,
                suspension_days: float) -> StrikeDecision:
    """What a new strike at ``now`` is, given the subject's earlier strikes."""
    recent = sum(1 for strike in previous if now - WINDOW <= strike.at <= now)
    if recent < max(strikes_before_suspension, 1) - 1:
        return StrikeDecision(WARNING, None)
    until = now + timedelta(days=suspension_days) if suspension_days > 0 else None
    return StrikeDecision(SUSPENSION, until)


def suspended_until(strikes: Iterable[PastStrike], now: datetime) -> tuple[bool, datetime | None]:
    """``(suspended, until)`` at ``now``: the latest end of a running suspension (None while a
    suspension without an end runs)."""
    suspended, latest = False, None
    for strike in strikes:
        if strike.kind != SUSPENSION or strike.at > now:
            continue
        if strike.until is None:
            return True, None
        if strike.until > now:
            suspended = True
            latest = strike.until if latest is None or strike.until > latest else latest
    return suspended, latest


def reporter_ref_for_email(email: str) -> str:
    """A public reporter's subject reference: SHA-256 of the lower-cased email, never the email."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()
