"""Case numbers: ``DS-XXXX-XXXX-XXXX``, random, from an alphabet read aloud without mistakes.

A number reveals nothing (not the order of filing, not the count of cases): it is drawn from
``secrets``. The alphabet leaves out 0/O and 1/I, which are confused when read or typed, so
a victim reading her number over the phone to a helpline gets it right.
"""

from __future__ import annotations

import re
import secrets

#: 32 symbols: digits 2-9 and letters but I and O. 12 symbols carry 60 bits.
ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PREFIX = "DS"
GROUPS, GROUP_LENGTH = 3, 4
_PATTERN = re.compile(rf"^{PREFIX}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}-[{ALPHABET}]{{4}}$")


def new_case_number() -> str:
    """A fresh random case number such as ``DS-7KQ2-M9XH-4RWC``."""
    groups = ["".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS)]
    return "-".join([PREFIX, *groups])


def parse_case_number(text: object) -> str | None:
    """The canonical form of a typed case number, or None if it cannot be one.

    Case and spaces do not matter, and the dashes may be left out. Text holding 0, O, 1 or I
    (none of which a number uses) is not a number: it is refused, never guessed at.
    """
    if not isinstance(text, str) or len(text) > 40:
        return None
    compact = re.sub(r"[\s-]", "", text).upper()
    if not compact.startswith(PREFIX):
        return None
    body = compact[len(PREFIX):]
    if len(body) != GROUPS * GROUP_LENGTH:
        return None
    number = "-".join([PREFIX, *(body[i:i + GROUP_LENGTH] for i in range(0, len(body), GROUP_LENGTH))])
    return number if _PATTERN.match(number) else None
