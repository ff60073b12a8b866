"""Soak benchmark: mixed traffic for a long time; errors, throughput and memory growth.

Usage::

    .venv/bin/python bench/soak.py [--minutes 30] [--concurrency 8] [--workers 2]
                                   [--bank-size 200000] [--json]

Set-up: a fresh ``$DEEPSHIELD_HOME`` (SQLite, the embedded default) with a bank of
``--bank-size`` random PDQ hashes (the bulk importer), keys for a platform, a helpline and a
partner, and ``deepshield serve --workers N``. The load generator (``load_generator.py``,
another process, closed loop over ``--concurrency`` keep-alive connections) replays a mix
in which every 40 requests hold:

* 26 hash lookups: ``POST /v1/match`` with one PDQ hash (13) and ``GET /m/lookup`` (13);
* 2 uploads of a 1920×1080 JPEG to ``POST /v1/match``;
* 2 takedown intakes (``POST /v1/requests``, a helpline, production PIN KDF);
* 2 public verifications of a 1920×1080 JPEG (``POST /v1/verify``, no key);
* 8 exchange reads (``GET /v1/exchange/updates``, a partner).

The public rate limit is switched off (``DEEPSHIELD_PUBLIC_RATE_PER_MINUTE=0``: one address
sends everything here) and the heavy-work cap is set to the concurrency, so any non-2xx answer
is an error, not a designed refusal. Every 10 s the resident memory (VmRSS) of the server and
its workers is summed. Reported per minute: requests/s, errors, RSS; and the RSS growth from
minute 5 to the end (the issue's target: at most 5 %), each end the median of a minute of
samples, since 1080p uploads swing RSS by hundreds of MiB between samples.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlencode  # noqa: E402

from api_load import _photo_jpeg, prepare  # noqa: E402
from bench_environment import (  # noqa: E402
    cpu_model,
    free_port,
    interpreter,
    use_checkout_sources,
    wait_until_serving,
)
from load_generator import http_request  # noqa: E402

use_checkout_sources()

BOUNDARY = "deepshieldsoakboundary"


def _intake_body(n: int) -> bytes:
    return json.dumps({
        "requester_role": "helpline",
        "signature": {"name": "Caseworker", "statement_ticked": True},
        "locations": [{"url": f"https://uploads.example/p/soak-{n}"}],
        "hashes": [{"type": "md5", "value": f"{n:032x}"}],
        "good_faith": True,
        "contact": {"email": "caseworker@helpline.example"},
        "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False},
        "safety_check": {"in_immediate_danger": False},
    }).encode()


def mixed_requests(host: str, keys: dict[str, str], queries: list[str]) -> list[bytes]:
    """One cycle of the mix, pre-encoded; the generator replays it round-robin."""
    def auth(role: str, content_type: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {keys[role]}"}
        return {**headers, "Content-Type": content_type} if content_type else headers

    photo = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
             "Content-Type: image/jpeg\r\n\r\n").encode() + _photo_jpeg() + f"\r\n--{BOUNDARY}--\r\n".encode()
    multipart = f"multipart/form-data; boundary={BOUNDARY}"
    cycle: list[bytes] = []
    for block in range(len(queries) // 13):
        chunk = queries[block * 13:(block + 1) * 13]
        for q in chunk:
            cycle.append(http_request("POST", "/v1/match", host, auth("platform", "application/json"),
                                      json.dumps({"signals": [{"type": "pdq", "value": q}]}).encode()))
            cycle.append(http_request("GET", "/m/lookup?" + urlencode({"signal_type": "pdq", "signal": q}),
                                      host, auth("platform")))
        cycle += [http_request("POST", "/v1/match", host, auth("platform", multipart), photo)] * 2
        cycle += [http_request("POST", "/v1/requests", host, auth("helpline", "application/json"),
                               _intake_body(block * 2 + k)) for k in range(2)]
        cycle += [http_request("POST", "/v1/verify", host, {"Content-Type": multipart}, photo)] * 2
        cycle += [http_request("GET", f"/v1/exchange/updates?checkpoint={block}&limit=100", host,
                               auth("partner"))] * 8
    return cycle


def _generator(port: int, requests: list[bytes], minutes: int, concurrency: int, out: str) -> None:
    from load_generator import run_load

    with open(out, "w") as sink:
        for minute in range(minutes):
            result = run_load("127.0.0.1", port, requests, 60.0, concurrency)
            # The generator counts every status but 200 as an error; an intake's 201 is success.
            created = sum(n for status, n in result.status_counts.items() if 200 < status < 300)
            sink.write(json.dumps({"minute": minute + 1, "requests": result.requests,
                                   "errors": result.errors - created,
                                   "status_counts": {str(k): v for k, v in result.status_counts.items()},
                                   "requests_per_s": result.requests / result.elapsed_s}) + "\n")
            sink.flush()


def _tree_rss_kib(root: int) -> int:
    """VmRSS of ``root`` and its descendants (uvicorn's workers), in KiB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                children.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                continue
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bank-size", type=int, default=200_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "soak", "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
        "cores": os.cpu_count(), "workers": args.workers, "concurrency": args.concurrency,
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        print(f"filling a bank with {args.bank_size:,} hashes ...", file=sys.stderr, flush=True)
        platform, queries = prepare(home, args.bank_size)
        keys = {"platform": platform, **_more_keys(home)}
        port = free_port()
        env = {**os.environ, "DEEPSHIELD_HOME": str(home), "DEEPSHIELD_PUBLIC_RATE_PER_MINUTE": "0",
               "DEEPSHIELD_MAX_HEAVY_REQUESTS": str(max(2, args.concurrency))}
        with (home / "server.log").open("wb") as log:
            server = subprocess.Popen([str(Path(sys.executable).parent / "deepshield"), "serve", "--port",
                                       str(port), "--workers", str(args.workers)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_until_serving(f"http://127.0.0.1:{port}/v1/health", server, timeout_s=120,
                               log_tail=lambda: (home / "server.log").read_text()[-2000:])
            out = str(home / "minutes.jsonl")
            generator = multiprocessing.get_context("spawn").Process(target=_generator, args=(
                port, mixed_requests(f"127.0.0.1:{port}", keys, queries[:13 * 20]), args.minutes,
                args.concurrency, out))
            generator.start()
            started = time.monotonic()
            samples: list[tuple[float, int]] = []
            while generator.is_alive():
                samples.append((time.monotonic() - started, _tree_rss_kib(server.pid)))
                print(f"  {samples[-1][0] / 60:5.1f} min  RSS {samples[-1][1] / 1024:7.1f} MiB",
                      file=sys.stderr, flush=True)
                generator.join(10)
            minutes = [json.loads(line) for line in Path(out).read_text().splitlines()]
        finally:
            server.terminate()
            server.wait(timeout=60)
    report["minutes"] = minutes
    report["rss_samples_mib"] = [(round(t, 1), round(kib / 1024, 1)) for t, kib in samples]

    start_minute = min(5, args.minutes - 1)
    report.update(rss_growth(samples, start_minute))
    report["requests"] = sum(m["requests"] for m in minutes)
    report["errors"] = sum(m["errors"] for m in minutes)
    report["requests_per_s"] = round(report["requests"] / (60 * len(minutes)), 1)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"# soak: {args.minutes} min, {args.workers} workers, {args.concurrency} connections, "
          f"{cpu_model()}")
    print("| minute | requests/s | errors | statuses |")
    print("|---:|---:|---:|---|")
    for m in minutes:
        print(f"| {m['minute']} | {m['requests_per_s']:.0f} | {m['errors']} | {m['status_counts']} |")
    print(f"\nrequests {report['requests']:,}, errors {report['errors']}, "
          f"{report['requests_per_s']} req/s; RSS minute {start_minute} {report['rss_mib_minute_5']} MiB -> "
          f"end {report['rss_mib_end']} MiB ({report['rss_growth_pct']:+.2f} %)")
    return 0


def rss_growth(samples: list[tuple[float, int]], start_minute: int) -> dict[str, float]:
    """RSS growth from ``start_minute`` to the end. Heavy uploads make RSS swing by hundreds of
    MiB from one sample to the next, so each end is the median of a minute of samples."""
    def median_mib(values: list[int]) -> float:
        return sorted(values)[len(values) // 2] / 1024 if values else 0.0

    end = samples[-1][0]
    first = [kib for t, kib in samples if start_minute * 60 <= t < start_minute * 60 + 60]
    last = [kib for t, kib in samples if t >= end - 60]
    at_start, at_end = median_mib(first or [samples[0][1]]), median_mib(last)
    return {"rss_mib_minute_5": round(at_start, 1), "rss_mib_end": round(at_end, 1),
            "rss_growth_pct": round(100 * (at_end / at_start - 1), 2) if at_start else 0.0,
            "rss_max_mib": round(max(kib for _, kib in samples) / 1024, 1)}


def _more_keys(home: Path) -> dict[str, str]:
    from deepshield.services.access import Principal, Role
    from deepshield.services.api_keys import create_key
    from deepshield.services.context import ServiceContext
    from deepshield.settings import Settings

    ctx = ServiceContext.open(Settings(home=home))
    operator = Principal("bench", Role.ADMIN)
    try:
        return {"helpline": create_key(ctx, Role.HELPLINE, "soak helpline", operator)[1],
                "partner": create_key(ctx, Role.PARTNER, "soak partner", operator)[1]}
    finally:
        ctx.close()


if __name__ == "__main__":
    sys.exit(main())
