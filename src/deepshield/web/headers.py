"""The headers every web page and static file carries: a strict Content-Security-Policy, no
referrer, no caching, no framing.

Pages hold no inline script or style (``script-src 'self'``, ``style-src 'self'``): an injected
``<script>`` does not run. ``img-src blob:`` shows the thumbnails the victim's own browser makes of
the files she selected; ``img-src data:`` shows the figure of a comparison with a suspected source
inline in the answer to her upload (``/verify``): the figure is made for that answer and kept
nowhere, so it has no URL to load it from again, and an image (unlike a script or a style) cannot
run anything. ``media-src blob:`` previews a selected video, and ``connect-src 'self'``
lets the page send hashes (never images) to this server only. Nothing is cached (``no-store``),
so a shared computer's browser keeps no copy of a victim's or a reviewer's pages.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src blob:; connect-src 'self'; worker-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)

PAGE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode("ascii")),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)

#: Where the web door's pages and files live: ``/`` itself, and these paths and everything under
#: them. Everything else belongs to the API (``/v1``, and the HMA and C2PA Soft Binding routes at
#: their standard paths), which answers in JSON and keeps its own headers.
WEB_PATHS = ("/static", "/staff", "/case", "/verify", "/request", "/help", "/safety", "/under-18")


def is_web_path(path: str) -> bool:
    """Whether ``path`` is served by the web door (pages and ``/static``), not the API."""
    return path == "/" or any(path == prefix or path.startswith(prefix + "/") for prefix in WEB_PATHS)


class WebPageHeaders:
    """ASGI middleware: adds ``PAGE_HEADERS`` to every response of the web door (the API's own
    responses are left as they are: its Swagger page loads from elsewhere)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_web_path(scope.get("path", "")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in PAGE_HEADERS}
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message["headers"] = [*headers, *PAGE_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)
