"""Benchmark: requests/s and latency of ``POST /v1/match`` and ``GET /m/lookup`` under load.

Usage::

    .venv/bin/python bench/api_load.py [--bank-size 1000000] [--seconds 20] [--concurrency 16] [--json]

Set-up: a fresh ``$DEEPSHIELD_HOME`` (SQLite, the embedded default) with one bank of
``--bank-size`` random PDQ hashes, loaded by the bulk importer; a platform API key; the
matcher's index snapshot written once, so the server starts in a second. The server is
``deepshield serve`` (uvicorn, one process), started as a subprocess.

The load generator is **another process** (``multiprocessing``, spawn): an asyncio loop with
``--concurrency`` keep-alive HTTP/1.1 connections (httpx), sending requests back to back for
``--seconds`` per scenario. Half the hash queries are 5 bits from a banked hash (a match),
half are random (no match). Scenarios:

* ``POST /v1/match`` with JSON signals (one PDQ hash);
* ``GET /m/lookup?signal_type=pdq&signal=HEX`` (HMA's route);
* ``POST /v1/match`` with a 1920×1080 JPEG upload (hashing, dihedral and repost queries),
  at concurrency 2.

Reported per scenario: requests/s, latency median / p99 / max, errors. The generator shares
the machine's 2 cores with the server, so the server has less than 2 cores.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import shlex  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from bench_environment import cpu_model, interpreter, package_version, use_checkout_sources  # noqa: E402

use_checkout_sources()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _flip(code: np.ndarray, bits: int, rng: np.random.Generator) -> np.ndarray:
    unpacked = np.unpackbits(code.copy())
    unpacked[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(unpacked)


def prepare(home: Path, bank_size: int) -> tuple[str, list[str]]:
    """Fill the bank, make a platform key, save the index snapshot; returns (key, queries)."""
    from deepshield.services import banks, bulk_import
    from deepshield.services.access import Role
    from deepshield.services.context import ServiceContext
    from deepshield.services.keys import create_key
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
        banks.create_bank(ctx, "load", "", "bench")
        bulk_import.import_file(ctx, "load", csv_path, "bench")
        _, token = create_key(ctx, Role.PLATFORM, "load bench", "bench")
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


async def _drive(base: str, token: str, scenario: str, queries: list[str], seconds: float,
                 concurrency: int) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    photo = _photo_jpeg() if scenario == "match-upload-1080p" else b""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < deadline:
                query = queries[i % len(queries)]
                i += concurrency
                started = time.perf_counter()
                if scenario == "match-json":
                    body = {"signals": [{"type": "pdq", "value": query}]}
                    response = await client.post("/v1/match", json=body)
                elif scenario == "hma-lookup":
                    response = await client.get("/m/lookup", params={"signal_type": "pdq", "signal": query})
                else:
                    response = await client.post("/v1/match", files={"file": ("p.jpg", photo, "image/jpeg")})
                latencies.append((time.perf_counter() - started) * 1e3)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    values = np.asarray(latencies)
    return {
        "scenario": scenario, "concurrency": concurrency, "requests": len(latencies), "errors": errors,
        "requests_per_s": len(latencies) / elapsed,
        "latency_ms": {"median": float(np.median(values)), "p99": float(np.percentile(values, 99)),
                       "max": float(values.max())},
    }


def _generator(base: str, token: str, scenario: str, queries: list[str], seconds: float,
               concurrency: int, out: str) -> None:
    result = asyncio.run(_drive(base, token, scenario, queries, seconds, concurrency))
    Path(out).write_text(json.dumps(result))


def run_scenario(base: str, token: str, scenario: str, queries: list[str], seconds: float,
                 concurrency: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    process = multiprocessing.get_context("spawn").Process(
        target=_generator, args=(base, token, scenario, queries, seconds, concurrency, out))
    process.start()
    process.join()
    result = json.loads(Path(out).read_text())
    Path(out).unlink()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {
        "benchmark": "api-load",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "uvicorn": package_version("uvicorn"),
                    "fastapi": package_version("fastapi"), "httpx": package_version("httpx")},
        "bank_size": args.bank_size, "workers": args.workers, "scenarios": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        print(f"filling a bank with {args.bank_size:,} hashes ...", file=sys.stderr, flush=True)
        token, queries = prepare(home, args.bank_size)
        port = _free_port()
        env = {**os.environ, "DEEPSHIELD_HOME": str(home)}
        command = str(Path(sys.executable).parent / "deepshield")
        server = subprocess.Popen([command, "serve", "--port", str(port), "--workers", str(args.workers)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            import httpx

            started = time.perf_counter()
            while True:
                try:
                    if httpx.get(f"{base}/status", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if server.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError("the server did not start: "
                                       + (server.stderr.read().decode()[-2000:] if server.stderr else ""))
                time.sleep(0.2)
            report["server_start_s"] = time.perf_counter() - started
            for scenario, concurrency in (("match-json", args.concurrency), ("hma-lookup", args.concurrency),
                                          ("match-upload-1080p", 2)):
                print(f"  {scenario} ...", file=sys.stderr, flush=True)
                report["scenarios"].append(
                    run_scenario(base, token, scenario, queries, args.seconds, concurrency))
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
