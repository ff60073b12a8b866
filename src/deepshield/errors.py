"""Typed errors shared by every room.

Each error carries a stable machine-readable ``code`` (what the doors put in
``{"error": code, "detail": message}``) and a ``category`` that the doors map to
an HTTP status or a CLI exit code. Rooms raise these; they never format HTTP
responses or exit the process themselves.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    INVALID_INPUT = "invalid_input"
    TOO_LARGE = "too_large"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    UNAVAILABLE = "unavailable"


class DeepShieldError(Exception):
    """Base of every error DeepShield raises on purpose."""

    code = "error"
    category = Category.INVALID_INPUT

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidSignal(DeepShieldError):
    """A hash value that is malformed for its signal type, or an unknown signal type."""

    code = "invalid_signal"


class LowQualityHash(DeepShieldError):
    """A perceptual hash whose quality is below the configured minimum; it would match noise."""

    code = "low_quality_hash"


class NotFound(DeepShieldError):
    code = "not_found"
    category = Category.NOT_FOUND


class Conflict(DeepShieldError):
    code = "conflict"
    category = Category.CONFLICT


class InvalidRequest(DeepShieldError):
    """A request that is well-formed but cannot be carried out as asked."""

    code = "invalid_request"


class Unauthorized(DeepShieldError):
    code = "unauthorized"
    category = Category.UNAUTHORIZED


class Forbidden(DeepShieldError):
    code = "forbidden"
    category = Category.FORBIDDEN


class StoreUnavailable(DeepShieldError):
    code = "store_unavailable"
    category = Category.UNAVAILABLE


class Busy(DeepShieldError):
    """Every slot for heavy work (decoding or analysing an upload) in this process is taken.

    Answered at once instead of queued, with ``retry_after_s`` saying when to try again.
    """

    code = "busy"
    category = Category.UNAVAILABLE

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class RateLimited(DeepShieldError):
    """Too many requests from one client; ``retry_after_s`` says when the next one is allowed."""

    code = "rate_limited"
    category = Category.UNAVAILABLE

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
