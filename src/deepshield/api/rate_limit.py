"""Who is calling from where, and a token bucket per client address for the public routes.

The client address is decided in one place, ``client_address``: the connection's peer, unless
that peer is one of the proxies named in ``settings.server.trusted_proxies``
(``DEEPSHIELD_TRUSTED_PROXIES``, addresses or CIDR networks). Only then is ``X-Forwarded-For``
read, from the right: the first address that is not itself a trusted proxy is the client, as
everything to its left was written by that (untrusted) client. With no trusted proxies (the
default) the headers are never believed. ``serve`` runs uvicorn with ``proxy_headers=False``
so that uvicorn does not rewrite the peer from the headers on its own (docs/DEPLOY.md).

Each address may make ``burst`` requests at once, refilled at ``rate_per_minute``. Over the
limit the route answers 429 ``{"error": "rate_limited", ...}`` with ``Retry-After`` in whole
seconds. The buckets live in this process: with ``serve --workers N`` each worker counts on its
own, so an address gets up to N times the rate.

Configured by ``settings.server.public_rate_per_minute`` and ``public_burst``
(``DEEPSHIELD_PUBLIC_RATE_PER_MINUTE``, default 60, 0 turns the limit off;
``DEEPSHIELD_PUBLIC_BURST``, default 20): ``create_app`` builds the limiter from its settings.
Nothing here reads the environment; ``settings.load_settings`` does, for every door. Tests put
their own limiter on ``app.state.public_rate_limiter``, or call ``reset()``.
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from fastapi import Request

from deepshield.errors import InvalidRequest, RateLimited
from deepshield.settings import ServerSettings

#: A limiter built without settings has the settings' defaults (``ServerSettings``), not its own.
DEFAULT_RATE_PER_MINUTE = ServerSettings.public_rate_per_minute
DEFAULT_BURST = ServerSettings.public_burst
#: Buckets kept at most; the least recently seen address is forgotten first (and so starts full).
MAX_CLIENTS = 65_536
#: ``X-Forwarded-For`` entries looked at, from the right, at most (a longer header is cut).
MAX_FORWARDED_HOPS = 32
UNKNOWN_CLIENT = "unknown"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` is believed, and the one rule that picks the client."""

    def __init__(self, proxies: Iterable[str] = ()) -> None:
        networks: list[Network] = []
        for raw in proxies:
            text = raw.strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError:
                raise InvalidRequest(f"DEEPSHIELD_TRUSTED_PROXIES: {text!r} is not an IP address or "
                                     "CIDR network (e.g. 10.0.0.5 or 10.0.0.0/8)") from None
        self.networks: tuple[Network, ...] = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: Address | None) -> bool:
        if address is None:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address.version == network.version and address in network for network in self.networks)

    def client(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The client's address: ``peer``, or, when ``peer`` is a trusted proxy, the right-most
        ``X-Forwarded-For`` entry that is not a trusted proxy (``forwarded_for`` holds the header's
        values in the order received). A malformed entry where the client should be is not
        believed: the last trusted hop (the proxy) stands for the client instead."""
        if not peer:
            return UNKNOWN_CLIENT
        peer_address = _address(peer)
        if not self.networks or not self.trusts(peer_address):
            return str(peer_address) if peer_address is not None else peer
        hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
        client = str(peer_address)
        for hop in reversed(hops[-MAX_FORWARDED_HOPS:]):
            address = _address(hop)
            if address is None:
                break
            client = str(address)
            if not self.trusts(address):
                break
        return client


def _address(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(request: Request) -> str:
    """The calling client's address, for rate limits and per-address caps: the one place it is
    decided (see the module's docstring). ``app.state.trusted_proxies`` comes from settings."""
    peer = request.client.host if request.client is not None else None
    proxies: TrustedProxies | None = getattr(request.app.state, "trusted_proxies", None)
    if proxies is None:
        proxies = TrustedProxies()
    return proxies.client(peer, request.headers.getlist("x-forwarded-for"))


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
    def from_settings(cls, server: ServerSettings) -> PublicRateLimiter:
        return cls(server.public_rate_per_minute, server.public_burst)

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


_CREATE_LOCK = threading.Lock()


def limiter_for(request: Request) -> PublicRateLimiter:
    """The app's limiter (``create_app`` makes it from settings; made here from the service
    context's settings for an app built some other way)."""
    state = request.app.state
    limiter: PublicRateLimiter | None = getattr(state, "public_rate_limiter", None)
    if limiter is None:
        with _CREATE_LOCK:
            limiter = getattr(state, "public_rate_limiter", None)
            if limiter is None:
                limiter = state.public_rate_limiter = PublicRateLimiter.from_settings(
                    state.context.settings.server)
    return limiter


async def public_rate_limit(request: Request) -> None:
    """A dependency for public routes: one token per request from the client's address."""
    limiter_for(request).check(client_address(request))
