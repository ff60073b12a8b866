"""A lean HTTP/1.1 load generator for ``bench/api_load.py``: closed loop, keep-alive, raw sockets.

httpx costs about a millisecond of CPU per request, which on a 2-core machine takes most of
the core the server needs. This generator pre-encodes every request and parses only the
status line and ``Content-Length`` of each response, so it costs tens of microseconds per
request. Each of ``concurrency`` connections sends one request, waits for the whole
response, records the latency, and sends the next (a closed loop, like wrk's default).
Runs under uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    requests: int
    errors: int
    elapsed_s: float
    latencies_ms: list[float] = field(repr=False)
    status_counts: dict[int, int] = field(default_factory=dict)


class _Connection(asyncio.Protocol):
    """One keep-alive connection that replays ``requests`` round-robin until ``deadline``."""

    def __init__(self, requests: Sequence[bytes], offset: int, stride: int, deadline: float,
                 result: LoadResult, done: asyncio.Future[None], count: int | None = None) -> None:
        self.requests = requests
        self.count = count
        self.index = offset
        self.stride = stride
        self.deadline = deadline
        self.result = result
        self.done = done
        self.buffer = bytearray()
        self.started = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        request = self.requests[self.index % len(self.requests)]
        self.index += self.stride
        self.started = time.perf_counter()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        head = bytes(self.buffer[:head_end]).lower()
        length_at = head.find(b"content-length:")
        if length_at < 0:
            self._fail()
            return
        line_end = head.find(b"\r\n", length_at)
        length = int(head[length_at + 15: line_end if line_end > 0 else len(head)])
        total = head_end + 4 + length
        if len(self.buffer) < total:
            return
        now = time.perf_counter()
        status = int(head[9:12])
        del self.buffer[:total]
        result = self.result
        result.latencies_ms.append((now - self.started) * 1e3)
        result.requests += 1
        result.status_counts[status] = result.status_counts.get(status, 0) + 1
        if status != 200:
            result.errors += 1
        if now >= self.deadline or (self.count is not None and result.requests >= self.count):
            self._finish()
        else:
            self._send()

    def _fail(self) -> None:
        self.result.errors += 1
        self._finish()

    def _finish(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            finished = time.perf_counter() >= self.deadline or (
                self.count is not None and self.result.requests >= self.count)
            if exc is not None or not finished:
                self.result.errors += 1
            self.done.set_result(None)


async def _run(host: str, port: int, requests: Sequence[bytes], seconds: float,
               concurrency: int, count: int | None = None) -> LoadResult:
    loop = asyncio.get_running_loop()
    result = LoadResult(0, 0, 0.0, [])
    started = time.perf_counter()
    deadline = started + seconds
    finished: list[asyncio.Future[None]] = []
    for k in range(concurrency):
        done: asyncio.Future[None] = loop.create_future()
        finished.append(done)
        await loop.create_connection(
            lambda k=k, done=done: _Connection(requests, k, concurrency, deadline, result, done, count),
            host, port)
    await asyncio.gather(*finished)
    result.elapsed_s = time.perf_counter() - started
    return result


def run_load(host: str, port: int, requests: Sequence[bytes], seconds: float,
             concurrency: int, count: int | None = None) -> LoadResult:
    """Drive ``requests`` (whole HTTP/1.1 requests, keep-alive) for ``seconds``, or until
    ``count`` answers when given (a connection stops once the total reaches it, so with
    several connections a few more may be in flight and counted)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(_run(host, port, requests, seconds, concurrency, count))
    return uvloop.run(_run(host, port, requests, seconds, concurrency, count))


def run_count(host: str, port: int, requests: Sequence[bytes], count: int,
              concurrency: int = 1) -> LoadResult:
    """Drive ``requests`` until ``count`` answers (one connection: strictly one at a time)."""
    return run_load(host, port, requests, float("inf"), concurrency, count)


def http_request(method: str, path: str, host: str, headers: dict[str, str] | None = None,
                 body: bytes = b"") -> bytes:
    """One encoded HTTP/1.1 keep-alive request."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body or method in ("POST", "PUT"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
