"""Takedown cases: the domain rules, free of storage and HTTP.

- ``intake``: the request form, its validation, and what an incomplete request still lacks.
- ``clocks``: which legal clocks a complete request starts, escalation points, pauses.
- ``states``: the case states and the transitions between them.
- ``pins``: victims' PINs (scrypt) and case numbers' checks.
- ``numbers``: random, unambiguous case numbers.
- ``misuse``: warn, then suspend, repeat uploaders and baseless reporters.

Everything here takes and returns plain values; ``deepshield.services.takedown.records`` composes it
with the store.
"""
