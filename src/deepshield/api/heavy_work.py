"""A cap on heavy work: at most ``settings.server.max_heavy_requests`` uploads at once per process.

Decoding and analysing an upload (verify, hash, match of a file, watermark detection, content
registration of a file, a report of a file, a bank entry from a file, a content query) takes
hundreds of megabytes for a large image and seconds of CPU. One process takes on at most
``max_heavy_requests`` of them; the excess is answered at once with 503
``{"error": "busy", "detail": ...}`` and ``Retry-After: heavy_retry_after_s``. Nothing queues,
so neither memory nor waiting grows with the number of callers.

A request is heavy when it carries an upload body (``is_heavy``). Its slot is taken when its body
has been received in full, not when it arrives: a slow upload holds no slot, and a request
refused before it reads its body (no key, rate-limited, malformed) never takes one. The slot is
given back once the response has been sent; when no heavy work is left in flight, the memory it
freed is handed back to the system (glibc's ``malloc_trim``: otherwise the allocator keeps the
peak of the last large image as resident memory for good).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from deepshield.api.bodies import media_type
from deepshield.errors import Busy

_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: Bodies that are never media: the web pages' forms, JSON documents, hash lists, C2PA manifest
#: stores.
_LIGHT_TYPES = frozenset({"application/x-www-form-urlencoded", "application/json", "text/csv",
                          "application/x-ndjson", "application/jsonl",
                          "application/json-lines", "application/c2pa"})
#: Routes that decode their body as media whatever its declared type.
_ALWAYS_HEAVY = frozenset({"/matches/byContent"})


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim this way
        return None


_malloc_trim = _find_malloc_trim()


def release_free_memory() -> None:
    """Return the heap's free pages to the system, where the C library can (milliseconds)."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def is_heavy(scope: Scope) -> bool:
    """Whether an HTTP request carries an upload body: a non-empty POST, PUT or PATCH body that is
    not JSON, a hash list or a manifest store (or any body sent to a route that decodes media)."""
    if scope.get("method") not in _METHODS:
        return False
    headers = dict(scope.get("headers") or [])
    length = headers.get(b"content-length", b"").strip()
    if b"transfer-encoding" not in headers and length in (b"", b"0"):
        return False
    if scope.get("path") in _ALWAYS_HEAVY:
        return True
    kind = media_type(headers.get(b"content-type", b"").decode("latin-1"))
    return not (kind in _LIGHT_TYPES or kind.endswith("+json"))


class HeavySlots:
    """A non-blocking counting semaphore, safe to use from any thread."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("at least one heavy request must be allowed")
        self.limit = limit
        self._in_use = 0
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_use >= self.limit:
                return False
            self._in_use += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._in_use <= 0:
                raise RuntimeError("a heavy-work slot was released twice")
            self._in_use -= 1


class HeavyWorkLimit:
    """ASGI middleware: heavy requests (``is_heavy``) take a slot once their body is in."""

    def __init__(self, app: ASGIApp, max_heavy: int, retry_after_s: int) -> None:
        self.app = app
        self.slots = HeavySlots(max_heavy)
        self.retry_after_s = retry_after_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_heavy(scope):
            await self.app(scope, receive, send)
            return
        held = False

        async def slotted_receive() -> Message:
            nonlocal held
            message = await receive()
            if not held and message["type"] == "http.request" and not message.get("more_body", False):
                if not self.slots.try_acquire():
                    raise Busy(f"the server is already working on {self.slots.limit} uploads, its "
                               f"limit; nothing was kept. Send the file again in "
                               f"{self.retry_after_s} s", self.retry_after_s)
                held = True
            return message

        try:
            await self.app(scope, slotted_receive, send)
        finally:
            if held:
                self.slots.release()
                if self.slots.in_use == 0:
                    release_free_memory()
