"""The per-process cap on heavy work (api/heavy_work.py): uploads beyond
``settings.server.max_heavy_requests`` get 503 ``busy`` with ``Retry-After`` at once, nothing
queues, light requests go on, and a slot is taken only once an upload's body is in.

Against a real uvicorn server (``live_server.serving``), with the route's work held on a gate so
that "two uploads in work" is a fact of the test, not a race.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import httpx
import pytest

import deepshield.api.routes.hashing as hashing_route
import deepshield.api.routes.verification as verification_route
from deepshield.api.app import create_app
from deepshield.api.heavy_work import HeavySlots, is_heavy
from deepshield.services.access import Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from live_server import serving
from principals import SETUP

RETRY_AFTER_S = 7


def _scope(method: str = "POST", path: str = "/v1/verify", content_type: str | None = "multipart/form-data; "
           "boundary=x", length: str | None = "100", chunked: bool = False) -> dict[str, Any]:
    headers = []
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    if length is not None:
        headers.append((b"content-length", length.encode()))
    if chunked:
        headers.append((b"transfer-encoding", b"chunked"))
    return {"type": "http", "method": method, "path": path, "headers": headers}


@pytest.mark.parametrize(("scope", "heavy"), [
    (_scope(), True),
    (_scope(content_type="image/jpeg"), True),
    (_scope(content_type="application/octet-stream"), True),
    (_scope(content_type=None), True),  # a body of no declared type may be anything
    (_scope(content_type="multipart/form-data; boundary=x", length=None, chunked=True), True),
    (_scope(path="/matches/byContent", content_type="text/plain"), True),  # decodes any body
    (_scope(path="/matches/byContent", content_type="application/json"), True),
    (_scope(path="/v1/match", content_type="application/json"), False),  # the hash-lookup hot path
    (_scope(path="/v1/requests/public", content_type="application/problem+json"), False),
    (_scope(path="/v1/content/import", content_type="text/csv"), False),
    (_scope(path="/manifests", content_type="application/c2pa"), False),
    (_scope(path="/v1/victim/withdraw", content_type=None, length="0"), False),  # no body at all
    (_scope(path="/v1/victim/withdraw", content_type=None, length=None), False),
    (_scope(method="GET", path="/v1/health"), False),
    (_scope(method="DELETE", path="/v1/banks/b/entries/1"), False),
])
def test_a_request_is_heavy_when_it_carries_an_upload_body(scope, heavy):
    assert is_heavy(scope) is heavy


def test_slots_are_a_non_blocking_counter_that_refuses_a_double_release():
    slots = HeavySlots(2)
    assert slots.try_acquire() and slots.try_acquire()
    assert not slots.try_acquire()
    assert slots.in_use == 2
    slots.release()
    assert slots.try_acquire()
    slots.release()
    slots.release()
    with pytest.raises(RuntimeError):
        slots.release()
    with pytest.raises(ValueError):
        HeavySlots(0)


class Gate:
    """Holds a route's work until opened; counts the requests that reached it."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.arrived = threading.Semaphore(0)

    def hold(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any) -> Any:
            self.arrived.release()
            assert self.opened.wait(60), "the test never opened the gate"
            return real(*args)
        return held

    def wait_for(self, count: int) -> None:
        for _ in range(count):
            assert self.arrived.acquire(timeout=60), "a held request never reached the route"


@pytest.fixture
def platform_key(settings: Settings) -> str:
    ctx = ServiceContext.open(settings)
    try:
        return create_key(ctx, Role.PLATFORM, "heavy-work test", SETUP)[1]
    finally:
        ctx.close()


def _server(settings: Settings, max_heavy: int) -> Any:
    server = replace(settings.server, max_heavy_requests=max_heavy, heavy_retry_after_s=RETRY_AFTER_S,
                     public_burst=1000)
    return serving(create_app(replace(settings, server=server)))


def _verify(url: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{url}/v1/verify", files={"file": ("f.jpg", data, "image/jpeg")}, timeout=60)


def _expect_busy(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    body = response.json()
    assert set(body) == {"error", "detail"} and body["error"] == "busy"
    assert "2 uploads" in body["detail"] and f"{RETRY_AFTER_S} s" in body["detail"]


@pytest.mark.serial  # times an answer (must come at once): alone on the machine
def test_uploads_beyond_the_cap_get_503_busy_at_once_while_light_requests_go_on(
        settings, platform_key, photo_jpeg, monkeypatch):
    gate = Gate()
    monkeypatch.setattr(verification_route, "verify_upload", gate.hold(verification_route.verify_upload))
    photo = photo_jpeg(3)
    auth = {"Authorization": f"Bearer {platform_key}"}
    with _server(settings, max_heavy=2) as url, ThreadPoolExecutor(2) as pool:
        held: list[Future[httpx.Response]] = [pool.submit(_verify, url, photo) for _ in range(2)]
        gate.wait_for(2)
        started = time.monotonic()
        _expect_busy(_verify(url, photo))  # the public door
        _expect_busy(httpx.post(f"{url}/v1/hash", files={"file": ("f.jpg", photo, "image/jpeg")},
                                headers=auth, timeout=60))  # a keyed one shares the same slots
        assert time.monotonic() - started < 10  # answered, not queued behind the held work
        # Light requests are not heavy work: health, and a JSON hash lookup.
        assert httpx.get(f"{url}/v1/health", timeout=30).status_code == 200
        lookup = httpx.post(f"{url}/v1/match", json={"signals": [{"type": "md5", "value": "0" * 32}]},
                            headers=auth, timeout=30)
        assert lookup.status_code == 200, lookup.text
        gate.opened.set()
        for future in held:
            response = future.result(timeout=60)
            assert response.status_code == 200, response.text
            assert response.json()["verdict"] == "unknown"
        # Both slots came back: the next uploads are served.
        assert _verify(url, photo).status_code == 200
        hashed = httpx.post(f"{url}/v1/hash", files={"file": ("f.jpg", photo, "image/jpeg")}, headers=auth,
                            timeout=60)
        assert hashed.status_code == 200, hashed.text


def _slow_multipart(data: bytes, halfway: threading.Event,
                    finish: threading.Event) -> tuple[str, Iterator[bytes]]:
    boundary = "heavyworkboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()

    def chunks() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        halfway.set()
        assert finish.wait(60)
        yield body[len(body) // 2:]

    return f"multipart/form-data; boundary={boundary}", chunks()


def test_a_slow_upload_holds_no_slot_until_its_body_is_in(settings, photo_jpeg):
    photo = photo_jpeg(4)
    halfway, finish = threading.Event(), threading.Event()
    content_type, chunks = _slow_multipart(photo, halfway, finish)
    with _server(settings, max_heavy=1) as url, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(httpx.post, f"{url}/v1/verify", content=chunks,
                           headers={"Content-Type": content_type}, timeout=60)
        assert halfway.wait(30)
        time.sleep(0.3)  # the first half is at the server, which waits for the rest
        # The only slot is free: another upload is served while the slow one trickles in.
        assert _verify(url, photo).status_code == 200
        finish.set()
        response = slow.result(timeout=60)
        assert response.status_code == 200, response.text


def test_refused_and_failed_uploads_give_their_slot_back(settings, photo_jpeg, monkeypatch):
    photo = photo_jpeg(5)
    with _server(settings, max_heavy=1) as url:
        for _ in range(3):  # corrupt: 400, each time, never 503 from a leaked slot
            response = _verify(url, b"\xff\xd8\xff" + b"\x00" * 500)
            assert response.status_code == 400, response.text
        for _ in range(2):  # no key: refused before its body is read
            response = httpx.post(f"{url}/v1/hash", files={"file": ("f.jpg", photo, "image/jpeg")},
                                  timeout=30)
            assert response.status_code == 401
        assert _verify(url, photo).status_code == 200


def test_an_upload_that_crashes_its_route_gives_its_slot_back(settings, platform_key, photo_jpeg,
                                                               monkeypatch):
    def broken(*_: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(hashing_route, "hash_upload", broken)
    auth = {"Authorization": f"Bearer {platform_key}"}
    photo = photo_jpeg(6)
    with _server(settings, max_heavy=1) as url:
        for _ in range(2):
            response = httpx.post(f"{url}/v1/hash", files={"file": ("f.jpg", photo, "image/jpeg")},
                                  headers=auth, timeout=30)
            assert response.status_code == 500
        assert _verify(url, photo).status_code == 200
