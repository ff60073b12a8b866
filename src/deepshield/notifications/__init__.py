"""Notifications: the texts sent about takedown cases, and how they travel (SMTP, webhooks).

This room knows nothing of the store or of HTTP doors. ``messages`` builds subjects, bodies
and JSON payloads from plain values; ``email`` and ``webhook`` deliver one message each and
raise ``DeliveryError`` when they cannot. The outbox itself (queueing in the same transaction
as the change it reports, claiming, retrying) lives in ``deepshield.services.takedown.outbox``.
"""

from __future__ import annotations


class DeliveryError(Exception):
    """A message could not be delivered. ``reason`` is safe to store and log: it never holds
    an address, a URL or any part of the message. ``permanent`` says a retry cannot help
    (a refused URL, an address the server rejects for good)."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


__all__ = ["DeliveryError"]
