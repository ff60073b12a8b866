"""Benchmark: server time of each web page (median, p99) under 20 concurrent sessions, and the
JavaScript weight of the victim pages.

Usage::

    .venv/bin/python bench/web_pages.py [--seconds 5] [--concurrency 20] [--cases 200] [--json]

Set-up: a fresh ``$DEEPSHIELD_HOME`` (SQLite, the embedded default) holding ``--cases`` takedown
cases filed through the services (half by a helpline, half through the public door, a quarter
decided), a bank with their hashes, and a key per staff role. ``deepshield serve`` (one worker, as
``make run``) runs as a subprocess. Every connection is its own session: staff pages are asked with
``--concurrency`` different staff session cookies (signed in through ``services.web_sessions``), the
victim's status page with as many victim sessions.

The load comes from another process (``load_generator.py``: a closed loop over keep-alive
connections with pre-encoded requests), ``--seconds`` per page after a short warm-up, sharing
the machine's 2 cores with the server. Anchors, in the same run: ``GET /v1/health`` (the API's
lightest route) and one static file (``/static/css/site.css``); each page's median is also shown
as a ratio to the health route's.

JS weight: the bytes (uncompressed) of every script a victim page loads, following ES-module
imports and the Worker script from the pages' ``<script src>`` tags; target ≤ 150 KB.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench_environment import (  # noqa: E402
    cpu_model,
    free_port,
    interpreter,
    package_version,
    print_results_table,
    use_checkout_sources,
    wait_until_serving,
)

use_checkout_sources()

JS_TARGET_BYTES = 150 * 1024
KDF_LOG2_N = 10
#: (name, path, session): the pages measured. "staff:<role>" pages get that role's sessions.
PAGES: list[tuple[str, str, str]] = [
    ("anchor: GET /v1/health", "/v1/health", "none"),
    ("anchor: static file", "/static/css/site.css", "none"),
    ("victim: start", "/", "none"),
    ("victim: request form", "/request", "none"),
    ("victim: check my case", "/case", "none"),
    ("victim: case status", "/case/status", "victim"),
    ("public: verify form", "/verify", "none"),
    ("staff: sign-in", "/staff/sign-in", "none"),
    ("helpline: cases", "/staff/helpline", "staff:helpline"),
    ("reviewer: queue", "/staff/reviewer", "staff:platform"),
    ("reviewer: case", "/staff/reviewer/cases/{case}", "staff:platform"),
    ("admin: overview", "/staff/admin", "staff:admin"),
    ("admin: keys", "/staff/admin/keys", "staff:admin"),
    ("transparency: charts", "/staff/transparency", "staff:admin"),
]
VICTIM_PAGES = ["/", "/help", "/safety", "/under-18", "/request", "/case", "/verify"]


def _form(index: int, rng: np.random.Generator, *, public: bool) -> dict[str, Any]:
    """A complete request (bench/cases.py's form) with a random PDQ hash; ``public`` as the victim
    files it herself."""
    from cases import request_form

    form = request_form(rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex(), index)
    if public:
        form["requester_role"] = "victim"
    return form


def prepare(home: Path, cases: int, sessions: int) -> dict[str, Any]:
    """Fill the store; returns the sessions' cookies per kind and a case number to show."""
    from deepshield.services import web_sessions
    from deepshield.services.access import Principal, Role
    from deepshield.services.api_keys import create_key
    from deepshield.services.context import ServiceContext
    from deepshield.services.takedown import intake, review
    from deepshield.settings import CaseSettings, Settings

    # A cheap PIN KDF makes the victims' sessions quick to set up; it costs nothing per page.
    settings = Settings(home=home, cases=CaseSettings(pin_kdf_log2_n=KDF_LOG2_N))
    ctx = ServiceContext.open(settings)
    rng = np.random.default_rng(5)
    operator = Principal("bench", Role.ADMIN)
    try:
        tokens = {role: create_key(ctx, role, f"bench {role.value}", operator)[1]
                  for role in (Role.ADMIN, Role.PLATFORM, Role.HELPLINE)}
        helpline = web_sessions.session_principal(
            ctx, web_sessions.sign_in_with_key(ctx, tokens[Role.HELPLINE]).token)
        platform = web_sessions.session_principal(
            ctx, web_sessions.sign_in_with_key(ctx, tokens[Role.PLATFORM]).token)
        filed = []
        for index in range(cases):
            public = index % 2 == 1
            # Each public filer from an address of her own (the public door caps filings per address).
            address = f"10.{index // 65536}.{index // 256 % 256}.{index % 256}"
            filed.append(intake.file_request(ctx, _form(index, rng, public=public),
                                             None if public else helpline, address=address))
        for case in filed[: cases // 4]:
            review.acknowledge(ctx, case.case.case_number, platform)
        cookies: dict[str, list[str]] = {"none": [""] * sessions}
        for role in (Role.ADMIN, Role.PLATFORM, Role.HELPLINE):
            cookies[f"staff:{role.value}"] = [
                "ds_staff=" + web_sessions.sign_in_with_key(ctx, tokens[role]).token for _ in range(sessions)]
        victims = filed[1::2][:sessions] or filed[:1]
        cookies["victim"] = [
            "ds_case=" + web_sessions.sign_in_victim(ctx, case.case.case_number, case.pin or "").token
            for case in (victims * sessions)[:sessions]]
        ctx.matcher.refresh()
        return {"cookies": cookies, "case": filed[0].case.case_number,
                "kdf_env": {"DEEPSHIELD_PIN_KDF_LOG2_N": str(KDF_LOG2_N)}}
    finally:
        ctx.close()


def _requests(host: str, path: str, cookies: list[str]) -> list[bytes]:
    from load_generator import http_request

    return [http_request("GET", path, host, {"Cookie": cookie} if cookie else {}) for cookie in cookies]


def _generator(port: int, requests: list[bytes], seconds: float, concurrency: int, out: str) -> None:
    from load_generator import run_load

    run_load("127.0.0.1", port, requests, min(1.0, seconds / 5), concurrency)
    result = run_load("127.0.0.1", port, requests, seconds, concurrency)
    values = np.asarray(result.latencies_ms) if result.latencies_ms else np.asarray([np.nan])
    Path(out).write_text(json.dumps({
        "requests": result.requests, "errors": result.errors,
        "status_counts": {str(k): v for k, v in result.status_counts.items()},
        "requests_per_s": result.requests / result.elapsed_s,
        "median_ms": float(np.median(values)), "p99_ms": float(np.percentile(values, 99)),
    }))


def measure(port: int, path: str, cookies: list[str], seconds: float, concurrency: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    process = multiprocessing.get_context("spawn").Process(
        target=_generator, args=(port, _requests(f"127.0.0.1:{port}", path, cookies), seconds,
                                 concurrency, out))
    process.start()
    process.join()
    result: dict[str, Any] = json.loads(Path(out).read_text())
    Path(out).unlink()
    return result


_SCRIPT_SRC = re.compile(r'<script[^>]+src="([^"?]+)')
_IMPORT = re.compile(r'(?:import\s[^"\']*?from\s*|import\s*\(\s*|import\s+'
                     r'|new\s+Worker\s*\(\s*(?:new\s+URL\s*\(\s*)?)["\']([^"\']+\.m?js)["\']')
#: Any script named by its site path in a string (a Worker's URL kept in a constant, say).
_STATIC_SCRIPT = re.compile(r'["\'](/static/[^"\'?#]+\.m?js)["\']')


def victim_js_weight(base: str) -> dict[str, Any]:
    """Bytes of every script the victim pages load (script tags, imports, workers), each counted once."""
    import httpx

    seen: dict[str, int] = {}
    pending: list[str] = []
    for page in VICTIM_PAGES:
        html = httpx.get(base + page, timeout=10).text
        pending.extend(_SCRIPT_SRC.findall(html))
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        body = httpx.get(base + path, timeout=10).content
        seen[path] = len(body)
        directory = path.rsplit("/", 1)[0]
        text = body.decode("utf-8", "replace")
        for target in [*_IMPORT.findall(text), *_STATIC_SCRIPT.findall(text)]:
            if target.startswith("/"):
                pending.append(target)
            elif target.startswith("."):
                parts = [*directory.split("/"), *target.split("/")]
                resolved: list[str] = []
                for part in parts:
                    if part == "..":
                        resolved.pop()
                    elif part not in (".", ""):
                        resolved.append(part)
                pending.append("/" + "/".join(resolved))
    return {"files": dict(sorted(seen.items())), "total_bytes": sum(seen.values())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=20, help="concurrent sessions (connections)")
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "web-pages",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "uvicorn": package_version("uvicorn"),
                    "jinja2": package_version("jinja2")},
        "cases": args.cases, "concurrency": args.concurrency, "pages": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        print(f"filing {args.cases} cases ...", file=sys.stderr, flush=True)
        world = prepare(home, args.cases, args.concurrency)
        port = free_port()
        env = {**os.environ, "DEEPSHIELD_HOME": str(home), **world["kdf_env"]}
        command = str(Path(sys.executable).parent / "deepshield")
        server = subprocess.Popen([command, "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(f"{base}/v1/health", server, timeout_s=60)
            for name, path, session in PAGES:
                target = path.format(case=world["case"])
                print(f"  {name} ...", file=sys.stderr, flush=True)
                result = measure(port, target, world["cookies"][session], args.seconds, args.concurrency)
                report["pages"].append({"page": name, "path": target, **result})
            report["victim_js"] = victim_js_weight(base)
        finally:
            server.terminate()
            server.wait(timeout=20)
    health = next(p for p in report["pages"] if p["path"] == "/v1/health")["median_ms"]
    for row in report["pages"]:
        row["ratio"] = row["median_ms"] / health if health else None
        row["ok"] = row["status_counts"].get("200", 0)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    js = report["victim_js"]
    print_results_table(
        [f"web pages under {args.concurrency} concurrent sessions, {args.seconds:g} s each "
         f"({report['machine']['cpu']}, {report['machine']['cores']} cores), {args.cases} cases",
         f"command: {report['command']}"],
        [("page", "page", "{}"), ("path", "path", "{}"), ("req/s", "requests_per_s", "{:.0f}"),
         ("median ms", "median_ms", "{:.1f}"), ("p99 ms", "p99_ms", "{:.1f}"),
         ("× health", "ratio", "{:.1f}"), ("200s", "ok", "{}"), ("errors", "errors", "{}")],
        report["pages"], title="server time per page", left=("page", "path"), width=130,
        footer=[f"victim pages' JavaScript: {js['total_bytes']:,} bytes uncompressed in {len(js['files'])} "
                f"files (target ≤ {JS_TARGET_BYTES:,}: "
                f"{'met' if js['total_bytes'] <= JS_TARGET_BYTES else 'NOT met'})",
                *(f"  {path}: {size:,} B" for path, size in js["files"].items())])
    return 0


if __name__ == "__main__":
    sys.exit(main())
