"""Takedown: requests from intake to closing (intake, review, the victim's access, clocks,
withdrawal) and the outbox that tells people what happened. Callers import the module they
need: ``intake``, ``review``, ``victim_access``; the records they return are in ``records``."""
