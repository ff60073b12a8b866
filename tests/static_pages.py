"""A plain HTTP server of folders, with the web pages' headers (their Content-Security-Policy
included): for the in-browser hasher's tests and benchmark, and the web tests' ``static_server``.

``serving_roots({"/static/": folder, ...})`` serves each folder under its URL prefix until the block
ends and yields the base URL. Anything outside the folders is a 404; ``/favicon.ico`` is an empty
204 (Chromium asks for one, and a 404 would show up as a console error in the tests).
"""

from __future__ import annotations

import functools
import http.server
import socketserver
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deepshield.web.headers import PAGE_HEADERS


class StaticRootsHandler(http.server.SimpleHTTPRequestHandler):
    """Files under ``roots`` (URL prefix → folder), sent with ``PAGE_HEADERS``."""

    def __init__(self, *args: Any, roots: Mapping[str, Path], **kwargs: Any) -> None:
        self.roots = roots
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        if self.path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()

    def translate_path(self, path: str) -> str:
        clean = path.split("?", 1)[0].split("#", 1)[0]
        for prefix, root in self.roots.items():
            if clean.startswith(prefix):
                target = (root / clean[len(prefix):]).resolve()
                if root.resolve() in target.parents:
                    return str(target)
        return "/nonexistent/__nothing_here__"

    def end_headers(self) -> None:
        for name, value in PAGE_HEADERS:
            self.send_header(name.decode(), value.decode())
        super().end_headers()

    def guess_type(self, path: Any) -> str:
        return "text/javascript" if str(path).endswith((".js", ".mjs")) else super().guess_type(path)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving_roots(roots: Mapping[str, Path]) -> Iterator[str]:
    """Serve ``roots`` on a free loopback port until the block ends; yields the base URL."""
    handler = functools.partial(StaticRootsHandler, roots=roots)
    httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
