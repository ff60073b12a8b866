"""The daily count of public filings per (hashed) address: ``public_filing_counts``.

Only ``services.takedown.intake`` calls this; the rule (the cap, the keyed hash, the day) is there.
Taking a slot is one conditional UPDATE, or an INSERT when the day's row does not exist yet, so
concurrent filers in several processes never exceed the cap between them.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from deepshield.store.models import PublicFilingCount


def count_for(session: Session, day: str, address_hash: str) -> int:
    """How many public cases this hashed address filed on ``day``."""
    found = session.scalar(select(PublicFilingCount.count).where(
        PublicFilingCount.day == day, PublicFilingCount.address_hash == address_hash))
    return int(found or 0)


def take(session: Session, day: str, address_hash: str, cap: int) -> bool:
    """Count one more filing for the address on ``day`` if it is under ``cap``; False at the cap.
    Runs in the caller's transaction, so a filing that rolls back gives its slot back."""
    for _ in range(3):
        taken = session.execute(
            update(PublicFilingCount)
            .where(PublicFilingCount.day == day, PublicFilingCount.address_hash == address_hash,
                   PublicFilingCount.count < cap)
            .values(count=PublicFilingCount.count + 1)
            .execution_options(synchronize_session=False))
        if taken.rowcount:
            return True
        if count_for(session, day, address_hash) >= cap:
            return False
        try:
            with session.begin_nested():
                session.add(PublicFilingCount(day=day, address_hash=address_hash, count=1))
            return True
        except IntegrityError:
            continue  # another process made the day's row first: count on it
    return False


def prune_before(session: Session, day: str) -> int:
    """Forget the counts of days before ``day`` (they never matter again). Returns rows removed."""
    result = session.execute(delete(PublicFilingCount).where(PublicFilingCount.day < day)
                             .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)
