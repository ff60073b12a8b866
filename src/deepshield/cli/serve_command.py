"""``deepshield serve``: the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from deepshield.api.app import UVICORN_OPTIONS, create_app
from deepshield.api.rate_limit import TrustedProxies
from deepshield.cli.operator import open_context
from deepshield.cli.output import print_json, reported_errors, stdout
from deepshield.services.api_keys import ensure_admin_key


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the start-up facts as JSON.")] = False,
    workers: Annotated[int, typer.Option(
        help="Worker processes. They share one copy of the PDQ index: each maps the snapshot "
             "this command writes before starting them.", min=1, max=64)] = 1,
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="Log one line per request. Off by default: HMA's GET /m/lookup carries the hash "
             "in its URL, and hashes are sensitive data (the audit log records every action "
             "without them).")] = False,
) -> None:
    """Serve the HTTP API (OpenAPI docs at /docs). Makes and prints an admin key on first start."""
    with reported_errors(as_json):
        ctx = open_context()
        TrustedProxies(ctx.settings.server.trusted_proxies)  # a malformed proxy stops here, exit 3
        admin_key = ensure_admin_key(ctx)
        if workers > 1:
            ctx.matcher.refresh()  # loads the index once and saves the snapshot the workers map
    url = f"http://{host}:{port}"
    if as_json:
        print_json({"url": url, "docs": f"{url}/docs", "database": ctx.store.backend,
                    "admin_key": admin_key})
    else:
        stdout.print(f"DeepShield on {url}  (web pages: {url}/, staff sign-in: {url}/staff/sign-in, "
                     f"API docs: {url}/docs, store: {ctx.store.backend})")
        if admin_key:
            stdout.print("First start: an admin API key was made. Store it now; it is not shown "
                         "again:")
            print(admin_key, flush=True)
    if workers > 1:
        ctx.close()
        uvicorn.run("deepshield.api.app:create_app_from_environment", factory=True, workers=workers,
                    host=host, port=port, log_level="info", access_log=access_log, **UVICORN_OPTIONS)
        return
    uvicorn.run(create_app(ctx.settings, context=ctx, background=True), host=host, port=port,
                log_level="info", access_log=access_log, **UVICORN_OPTIONS)
