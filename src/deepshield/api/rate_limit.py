"""A token bucket per client address for the public (keyless) routes.

Each address may make ``burst`` requests at once, refilled at ``rate_per_minute``. Over the
limit the route answers 429 ``{"error": "rate_limited", ...}`` with ``Retry-After`` in whole
seconds. The buckets live in this process: with ``serve --workers N`` each worker counts on its
own, so an address gets up to N times the rate. The address is the connection's peer; behind a
reverse proxy, run uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips`` so that it is
the client's, and never trust ``X-Forwarded-For`` from anyone else.

Configured by ``DEEPSHIELD_PUBLIC_RATE_PER_MINUTE`` (default 60; 0 turns the limit off) and
``DEEPSHIELD_PUBLIC_BURST`` (default 20), read when the app first serves a public route. Tests
put their own limiter on ``app.state.public_rate_limiter``, or call ``reset()``.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from fastapi import Request

from deepshield.errors import InvalidRequest, RateLimited

DEFAULT_RATE_PER_MINUTE = 60
DEFAULT_BURST = 20
#: Buckets kept at most; the least recently seen address is forgotten first (and so starts full).
MAX_CLIENTS = 65_536


class PublicRateLimiter:
    """Token buckets keyed by client address. Thread-safe."""

    def __init__(self, rate_per_minute: float = DEFAULT_RATE_PER_MINUTE, burst: int = DEFAULT_BURST, *,
                 clock: Callable[[], float] = time.monotonic, max_clients: int = MAX_CLIENTS) -> None:
        if rate_per_minute < 0 or burst < 1:
            raise ValueError("the rate must be 0 or more and the burst at least 1")
        self.rate_per_minute = rate_per_minute
        self.burst = burst
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> PublicRateLimiter:
        env = os.environ if env is None else env
        return cls(_whole_number(env, "DEEPSHIELD_PUBLIC_RATE_PER_MINUTE", DEFAULT_RATE_PER_MINUTE, 0),
                   _whole_number(env, "DEEPSHIELD_PUBLIC_BURST", DEFAULT_BURST, 1))

    @property
    def enabled(self) -> bool:
        return self.rate_per_minute > 0

    def check(self, client: str) -> None:
        """Take one token from ``client``'s bucket, or raise ``RateLimited`` with the wait."""
        if not self.enabled:
            return
        per_second = self.rate_per_minute / 60.0
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * per_second)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                while len(self._buckets) > self._max_clients:
                    self._buckets.popitem(last=False)
                return
            self._buckets[client] = (tokens, now)
        wait = max(1, math.ceil((1.0 - tokens) / per_second))
        raise RateLimited(f"too many requests from this address: at most {self.burst} at once and "
                          f"{self.rate_per_minute:g} a minute; retry in {wait} s", wait)

    def reset(self) -> None:
        """Forget every bucket: each address starts full again."""
        with self._lock:
            self._buckets.clear()


def _whole_number(env: Mapping[str, str], name: str, default: int, low: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequest(f"{name} must be a whole number; got {raw!r}") from None
    if value < low:
        raise InvalidRequest(f"{name} must be at least {low}; got {value}")
    return value


_CREATE_LOCK = threading.Lock()


def limiter_for(request: Request) -> PublicRateLimiter:
    """The app's limiter, made from the environment on first use."""
    state = request.app.state
    limiter: PublicRateLimiter | None = getattr(state, "public_rate_limiter", None)
    if limiter is None:
        with _CREATE_LOCK:
            limiter = getattr(state, "public_rate_limiter", None)
            if limiter is None:
                limiter = state.public_rate_limiter = PublicRateLimiter.from_environment()
    return limiter


async def public_rate_limit(request: Request) -> None:
    """A dependency for public routes: one token per request from the client's address."""
    client = request.client.host if request.client is not None else "unknown"
    limiter_for(request).check(client)
