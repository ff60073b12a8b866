"""Case states and the moves between them.

::

    received -> incomplete | valid | referred
    incomplete -> valid (the missing items arrive; the clocks start)
    valid -> actioned (removed or declined, with reasons)
    actioned -> appealed -> actioned (an appeal decided by a different reviewer)
    actioned -> closed
    any state but closed -> withdrawn

A move not listed raises ``Conflict`` saying what the case's state does not allow, so a
door can show it as is.
"""

from __future__ import annotations

import re
from enum import StrEnum

from deepshield.errors import Conflict


class CaseState(StrEnum):
    RECEIVED = "received"
    INCOMPLETE = "incomplete"
    VALID = "valid"
    REFERRED = "referred"  # under 18: sent to NCMEC's Take It Down, not handled here
    ACTIONED = "actioned"
    APPEALED = "appealed"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


S = CaseState
_MOVES: dict[CaseState, frozenset[CaseState]] = {
    S.RECEIVED: frozenset({S.INCOMPLETE, S.VALID, S.REFERRED, S.WITHDRAWN}),
    S.INCOMPLETE: frozenset({S.VALID, S.REFERRED, S.WITHDRAWN}),
    S.VALID: frozenset({S.ACTIONED, S.WITHDRAWN}),
    S.REFERRED: frozenset({S.WITHDRAWN}),
    S.ACTIONED: frozenset({S.APPEALED, S.CLOSED, S.WITHDRAWN}),
    S.APPEALED: frozenset({S.ACTIONED, S.WITHDRAWN}),
    S.CLOSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

#: States whose clocks run (a complete request not yet decided).
CLOCKED = frozenset({S.VALID})
#: States a requester may still add missing items in.
UPDATABLE = frozenset({S.RECEIVED, S.INCOMPLETE})


def can_move(current: str, target: str) -> bool:
    try:
        return CaseState(target) in _MOVES[CaseState(current)]
    except ValueError:
        return False


def require_move(current: str, target: str, doing: str) -> None:
    """Raise ``Conflict("a case in state X cannot <doing>")`` unless ``current -> target`` is a
    move the lifecycle allows. ``doing`` is the verb phrase a person would read."""
    if not can_move(current, target):
        raise Conflict(f"a case in state {current} cannot {doing}")


def require_state(current: str, allowed: frozenset[CaseState] | set[CaseState], doing: str) -> None:
    """Raise ``Conflict`` unless ``current`` is one of ``allowed`` (for acts that keep the state)."""
    if current not in {state.value for state in allowed}:
        raise Conflict(f"a case in state {current} cannot {doing}")


DECISIONS = ("removed", "declined")
APPEAL_OUTCOMES = ("upheld", "overturned")
MIN_REASON_CHARS = 10

# "It is AI-made / fake" is never a ground to decline: the law treats real and fake intimate
# images alike. A plain keyword check: a reviewer whose real ground is something else can say so
# without these words.
_AI_GROUND_WORDS = re.compile(
    r"\b(a\.?i\.?|ai)[\s-]*(generated|made|created|produced|edited|image)\b|\bdeep[\s-]?fakes?\b|"
    r"\bfakes?\b|\bfaked\b|\bsynthetic\b|\bnot\s+(a\s+)?real\b|\bgenerated\b|\bartificial\b|"
    r"\bmorphed\b|\bface[\s-]?swap",
    re.IGNORECASE)

NOT_A_GROUND_TO_DECLINE = (
    "reasons: that an image is AI-generated or fake is never a ground to decline: real and fake "
    "intimate images are treated the same (US TAKE IT DOWN Act, UK Online Safety Act, Australia's "
    "eSafety scheme). Give the actual ground, e.g. the content is not intimate or does not depict "
    "the requester"
)


def fake_is_the_ground(reasons: str) -> bool:
    """Whether decline ``reasons`` rest on the image being fake or AI-made."""
    return _AI_GROUND_WORDS.search(reasons) is not None


def flipped(decision: str) -> str:
    """The other decision: what an overturned appeal makes of ``decision``."""
    return "declined" if decision == "removed" else "removed"
