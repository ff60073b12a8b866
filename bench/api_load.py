"""Benchmark: requests/s and latency of ``POST /v1/match`` and ``GET /m/lookup`` under load.

Usage::

    .venv/bin/python bench/api_load.py [--bank-size 1000000] [--seconds 20] [--concurrency 8,16]
                                       [--workers 2] [--json]

Set-up: a fresh ``$DEEPSHIELD_HOME`` (SQLite, the embedded default) with one bank of
``--bank-size`` random PDQ hashes, loaded by the bulk importer; a platform API key; the
matcher's index snapshot written once, so the server starts in seconds. The server is
``deepshield serve --workers N`` (uvicorn; the workers map one index snapshot), started as a
subprocess.

The load generator is **another process** (``multiprocessing``, spawn): ``load_generator.py``,
a closed loop over ``--concurrency`` keep-alive HTTP/1.1 connections with pre-encoded
requests (raw asyncio protocol on uvloop; tens of microseconds of CPU per request, where
httpx took a millisecond), for ``--seconds`` per scenario after a short warm-up. Half the
hash queries are 5 bits from a banked hash (a match), half are random (no match). Scenarios:

* ``POST /v1/match`` with JSON signals (one PDQ hash), at each concurrency;
* ``GET /m/lookup?signal_type=pdq&signal=HEX`` (HMA's route), at each concurrency;
* ``POST /v1/match`` with a 1920×1080 JPEG upload (hashing, dihedral and repost queries),
  at concurrency 2.

Reported per scenario: requests/s, latency median / p99 / max, errors (any status but 200).
The generator shares the machine's 2 cores with the server.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
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
    use_checkout_sources,
    wait_until_serving,
)

use_checkout_sources()


def _flip(code: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    unpacked = np.unpackbits(code.copy())
    unpacked[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(unpacked)


def prepare(home: Path, bank_size: int) -> tuple[str, list[str]]:
    """Fill the bank, make a platform key, save the index snapshot; returns (key, queries)."""
    from deepshield.services.access import Principal, Role
    from deepshield.services.api_keys import create_key
    from deepshield.services.context import ServiceContext
    from deepshield.services.spread import banks, bulk_import
    from deepshield.settings import Settings

    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, (bank_size, 32), dtype=np.uint8)
    csv_path = home / "bank.csv"
    with open(csv_path, "w") as handle:
        handle.write("signal_type,signal_value\n")
        for row in codes:
            handle.write("pdq," + row.tobytes().hex() + "\n")
    ctx = ServiceContext.open(Settings(home=home))
    try:
        operator = Principal("bench", Role.ADMIN)
        banks.create_bank(ctx, "load", "", operator)
        bulk_import.import_file(ctx, "load", csv_path, operator)
        _, token = create_key(ctx, Role.PLATFORM, "load bench", operator)
        ctx.matcher.refresh()  # writes the snapshot the server will map
    finally:
        ctx.close()
    csv_path.unlink()
    queries = []
    for i in range(2000):
        if i % 2 == 0:
            queries.append(_flip(codes[rng.integers(0, bank_size)], 5, rng).tobytes().hex())
        else:
            queries.append(rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex())
    return token, queries


def _photo_jpeg() -> bytes:
    from PIL import Image

    from watermark import generated_image

    buffer = io.BytesIO()
    Image.fromarray(generated_image(1920, 1080, seed=3)).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def scenario_requests(host: str, token: str, scenario: str, queries: list[str]) -> list[bytes]:
    """The pre-encoded requests of one scenario."""
    from urllib.parse import urlencode

    from load_generator import http_request

    auth = {"Authorization": f"Bearer {token}"}
    if scenario == "match-json":
        return [http_request("POST", "/v1/match", host, {**auth, "Content-Type": "application/json"},
                             json.dumps({"signals": [{"type": "pdq", "value": q}]}).encode())
                for q in queries]
    if scenario == "hma-lookup":
        return [http_request("GET", "/m/lookup?" + urlencode({"signal_type": "pdq", "signal": q}),
                             host, auth) for q in queries]
    boundary = "deepshieldbenchboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + _photo_jpeg() + f"\r\n--{boundary}--\r\n".encode()
    return [http_request("POST", "/v1/match", host,
                         {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)]


def _generator(port: int, requests: list[bytes], seconds: float, concurrency: int, out: str) -> None:
    from load_generator import run_load

    # Warm up (connections, caches), then measure.
    run_load("127.0.0.1", port, requests, min(2.0, seconds / 5), concurrency)
    result = run_load("127.0.0.1", port, requests, seconds, concurrency)
    values = np.asarray(result.latencies_ms)
    Path(out).write_text(json.dumps({
        "requests": result.requests, "errors": result.errors,
        "status_counts": {str(k): v for k, v in result.status_counts.items()},
        "requests_per_s": result.requests / result.elapsed_s,
        "latency_ms": {"median": float(np.median(values)), "p99": float(np.percentile(values, 99)),
                       "max": float(values.max())},
    }))


def run_scenario(port: int, token: str, scenario: str, queries: list[str], seconds: float,
                 concurrency: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    process = multiprocessing.get_context("spawn").Process(
        target=_generator,
        args=(port, scenario_requests(f"127.0.0.1:{port}", token, scenario, queries), seconds,
              concurrency, out))
    process.start()
    process.join()
    result = json.loads(Path(out).read_text())
    Path(out).unlink()
    return {"scenario": scenario, "concurrency": concurrency, **result}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", default="8,16",
                        help="open connections for the hash scenarios, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (one per core)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "api-load",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "uvicorn": package_version("uvicorn"),
                    "fastapi": package_version("fastapi"),
                    "uvloop": package_version("uvloop"), "httptools": package_version("httptools")},
        "bank_size": args.bank_size, "workers": args.workers, "scenarios": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        print(f"filling a bank with {args.bank_size:,} hashes ...", file=sys.stderr, flush=True)
        token, queries = prepare(home, args.bank_size)
        port = free_port()
        env = {**os.environ, "DEEPSHIELD_HOME": str(home)}
        command = str(Path(sys.executable).parent / "deepshield")
        server = subprocess.Popen([command, "serve", "--port", str(port), "--workers", str(args.workers)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            report["server_start_s"] = wait_until_serving(
                f"{base}/status", server, timeout_s=120,
                log_tail=lambda: server.stderr.read().decode()[-2000:] if server.stderr else "")
            levels = [int(level) for level in str(args.concurrency).split(",") if level.strip()]
            plan = [(name, level) for level in levels for name in ("match-json", "hma-lookup")]
            for scenario, concurrency in [*plan, ("match-upload-1080p", 2)]:
                print(f"  {scenario} ...", file=sys.stderr, flush=True)
                report["scenarios"].append(
                    run_scenario(port, token, scenario, queries, args.seconds, concurrency))
        finally:
            server.terminate()
            server.wait(timeout=30)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"# API load, bank of {args.bank_size:,} PDQ hashes, "
              f"server start {report['server_start_s']:.1f} s")
        print("| scenario | concurrency | requests/s | median ms | p99 ms | max ms | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for s in report["scenarios"]:
            lat = s["latency_ms"]
            print(f"| {s['scenario']} | {s['concurrency']} | {s['requests_per_s']:.0f} | "
                  f"{lat['median']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f} | {s['errors']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
