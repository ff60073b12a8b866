"""Benchmark: requests/s and latency of ``POST /v1/match`` and ``GET /m/lookup`` under load.

Usage::

    .venv/bin/python bench/api_load.py [--bank-size 1000000] [--seconds 20] [--concurrency 8,16]
                                       [--workers 2] [--scenarios cost,match-json,hma-lookup,upload]
                                       [--home DIR] [--json]

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

Reported per scenario: requests/s, latency median / p99 / max, errors (any status but 200),
and the server's CPU time per request: the user + system time of the server's processes (the
uvicorn supervisor and its workers, every thread), read from ``/proc`` before and after the
measured part and divided by the answers counted. The generator shares the machine's 2 cores
with the server.

The ``cost`` scenario (issue 17) asks what a lookup costs over the server's own ``/status``:
one client, one request at a time, ``--blocks`` blocks of ``--block`` requests of each route,
interleaved (status, lookup, lookup, status, ...) so that drift in the machine's load hits both
alike. It reports the median and p99 of each route, the gap between the medians, and the
server's CPU time per request of each route over its blocks.

``--home DIR`` keeps the prepared installation (its database, index snapshot, key and queries
in ``DIR/bench.json``) and reuses it on the next run: a before/after comparison runs both trees
on copies of one installation (a newer tree migrates an older one's database on start; not the
reverse). ``PYTHONPATH=OTHER_TREE/src`` runs this script and its server on another tree's code.
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
    import_random_pdq_bank,
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
    """Fill the bank, make a platform key, save the index snapshot; returns (key, queries).
    A ``home`` prepared before with the same bank size is reused as it is."""
    from deepshield.services.access import Principal, Role
    from deepshield.services.api_keys import create_key
    from deepshield.services.context import ServiceContext
    from deepshield.settings import Settings

    saved = home / "bench.json"
    if saved.exists():
        prepared = json.loads(saved.read_text())
        if prepared["bank_size"] != bank_size:
            raise SystemExit(f"{home} holds a bank of {prepared['bank_size']:,} hashes, not {bank_size:,}")
        # Migrate here, once (the server's workers would all start on a database that needs it),
        # and write the index snapshot for this database's path (a copied home has none).
        ctx = ServiceContext.open(Settings(home=home))
        try:
            ctx.matcher.refresh()
        finally:
            ctx.close()
        return prepared["token"], prepared["queries"]

    rng = np.random.default_rng(7)
    codes = rng.integers(0, 256, (bank_size, 32), dtype=np.uint8)
    ctx = ServiceContext.open(Settings(home=home))
    try:
        operator = Principal("bench", Role.ADMIN)
        import_random_pdq_bank(ctx, "load", codes, operator)
        _, token = create_key(ctx, Role.PLATFORM, "load bench", operator)
        ctx.matcher.refresh()  # writes the snapshot the server will map
    finally:
        ctx.close()
    queries = []
    for i in range(2000):
        if i % 2 == 0:
            queries.append(_flip(codes[rng.integers(0, bank_size)], 5, rng).tobytes().hex())
        else:
            queries.append(rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex())
    saved.write_text(json.dumps({"bank_size": bank_size, "token": token, "queries": queries}))
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
    if scenario == "hma-status":
        return [http_request("GET", "/status", host)]
    boundary = "deepshieldbenchboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode() + _photo_jpeg() + f"\r\n--{boundary}--\r\n".encode()
    return [http_request("POST", "/v1/match", host,
                         {**auth, "Content-Type": f"multipart/form-data; boundary={boundary}"}, body)]


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it (the uvicorn supervisor and its workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces; the fields after its ")" do not.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (all their threads), from ``/proc``."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / _CLOCK_TICKS


def _summary(latencies_ms: list[float]) -> dict[str, float]:
    values = np.asarray(latencies_ms)
    return {"median": float(np.median(values)), "p99": float(np.percentile(values, 99)),
            "max": float(values.max())}


def _generator(out: str, port: int, requests: list[bytes], seconds: float, concurrency: int,
               server_pids: list[int]) -> None:
    from load_generator import run_load

    # Warm up (connections, caches), then measure.
    run_load("127.0.0.1", port, requests, min(2.0, seconds / 5), concurrency)
    cpu_before = cpu_seconds(server_pids)
    result = run_load("127.0.0.1", port, requests, seconds, concurrency)
    cpu = cpu_seconds(server_pids) - cpu_before
    Path(out).write_text(json.dumps({
        "requests": result.requests, "errors": result.errors,
        "status_counts": {str(k): v for k, v in result.status_counts.items()},
        "requests_per_s": result.requests / result.elapsed_s,
        "latency_ms": _summary(result.latencies_ms),
        "server_cpu_ms_per_request": 1e3 * cpu / max(result.requests, 1),
    }))


def _cost_generator(out: str, port: int, routes: dict[str, list[bytes]], blocks: int, block: int,
                    server_pids: list[int]) -> None:
    from load_generator import run_count

    for requests in routes.values():  # warm up both routes (connections, caches, first hits)
        run_count("127.0.0.1", port, requests, block)
    names = list(routes)
    latencies: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, float] = dict.fromkeys(names, 0.0)
    answers: dict[str, int] = dict.fromkeys(names, 0)
    errors: dict[str, int] = dict.fromkeys(names, 0)
    block_gaps: list[float] = []
    for number in range(blocks):
        # ABBA order: neither route always runs first after the other's block.
        order = names if number % 2 == 0 else names[::-1]
        medians: dict[str, float] = {}
        for name in order:
            # Each block starts at a different place in the queries (half match, half not).
            requests = routes[name]
            offset = (number * block) % len(requests)
            rotated = requests[offset:] + requests[:offset]
            cpu_before = cpu_seconds(server_pids)
            result = run_count("127.0.0.1", port, rotated, block)
            cpu[name] += cpu_seconds(server_pids) - cpu_before
            answers[name] += result.requests
            errors[name] += result.errors
            latencies[name].extend(result.latencies_ms)
            medians[name] = float(np.median(result.latencies_ms))
        block_gaps.append(medians[names[1]] - medians[names[0]])
    Path(out).write_text(json.dumps({
        "blocks": blocks, "block": block,
        "routes": {name: {"requests": answers[name], "errors": errors[name],
                          "latency_ms": _summary(latencies[name]),
                          "server_cpu_ms_per_request": 1e3 * cpu[name] / max(answers[name], 1)}
                   for name in names},
        "median_gap_ms": float(np.median(latencies[names[1]]) - np.median(latencies[names[0]])),
        "median_of_block_gaps_ms": float(np.median(block_gaps)),
    }))


def _in_generator_process(target: Any, *args: Any) -> dict[str, Any]:
    """Run ``target(out, *args)`` in a fresh process (the generator never shares the server's
    interpreter or this one's) and return what it wrote to ``out``."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = handle.name
    process = multiprocessing.get_context("spawn").Process(target=target, args=(out, *args))
    process.start()
    process.join()
    try:
        return json.loads(Path(out).read_text())  # type: ignore[no-any-return]
    finally:
        Path(out).unlink()


def run_scenario(port: int, token: str, scenario: str, queries: list[str], seconds: float,
                 concurrency: int, server_pids: list[int]) -> dict[str, Any]:
    requests = scenario_requests(f"127.0.0.1:{port}", token, scenario, queries)
    result = _in_generator_process(_generator, port, requests, seconds, concurrency, server_pids)
    return {"scenario": scenario, "concurrency": concurrency, **result}


def run_cost(port: int, token: str, queries: list[str], blocks: int, block: int,
             server_pids: list[int]) -> dict[str, Any]:
    """Sequential ``/status`` against ``/m/lookup`` on one connection, interleaved blocks."""
    host = f"127.0.0.1:{port}"
    routes = {name: scenario_requests(host, token, name, queries) for name in ("hma-status", "hma-lookup")}
    return {"scenario": "cost", "concurrency": 1,
            **_in_generator_process(_cost_generator, port, routes, blocks, block, server_pids)}


#: What ``--scenarios`` may name. ``upload`` is the 1080p JPEG ``POST /v1/match`` at 2 connections.
SCENARIOS = ("cost", "match-json", "hma-lookup", "upload")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bank-size", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", default="8,16",
                        help="open connections for the hash scenarios, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (one per core)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help=f"comma-separated, run in this order: {', '.join(SCENARIOS)}")
    parser.add_argument("--blocks", type=int, default=20, help="cost: interleaved blocks of each route")
    parser.add_argument("--block", type=int, default=250, help="cost: requests per block")
    parser.add_argument("--home", type=Path, default=None,
                        help="keep the prepared installation here, and reuse it when already there")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenarios {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    report: dict[str, Any] = {
        "benchmark": "api-load",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "uvicorn": package_version("uvicorn"),
                    "fastapi": package_version("fastapi"),
                    "uvloop": package_version("uvloop"), "httptools": package_version("httptools")},
        "bank_size": args.bank_size, "workers": args.workers, "scenarios": [],
        "load_average_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        home = args.home if args.home is not None else Path(tmp)
        home.mkdir(parents=True, exist_ok=True)
        print(f"filling a bank with {args.bank_size:,} hashes (or reusing {home}) ...",
              file=sys.stderr, flush=True)
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
            server_pids = process_tree(server.pid)
            report["server_processes"] = len(server_pids)
            levels = [int(level) for level in str(args.concurrency).split(",") if level.strip()]
            if "cost" in chosen:
                print("  cost (sequential /status and /m/lookup, interleaved) ...", file=sys.stderr,
                      flush=True)
                report["scenarios"].append(
                    run_cost(port, token, queries, args.blocks, args.block, server_pids))
            plan = [(name, level) for level in levels for name in ("match-json", "hma-lookup")
                    if name in chosen]
            if "upload" in chosen:
                plan.append(("match-upload-1080p", 2))
            for scenario, concurrency in plan:
                print(f"  {scenario} at {concurrency} ...", file=sys.stderr, flush=True)
                report["scenarios"].append(
                    run_scenario(port, token, scenario, queries, args.seconds, concurrency, server_pids))
        finally:
            server.terminate()
            server.wait(timeout=30)
    report["load_average_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"# API load, bank of {args.bank_size:,} PDQ hashes, {args.workers} workers, "
              f"server start {report['server_start_s']:.1f} s, load average "
              f"{' '.join(f'{v:.2f}' for v in report['load_average_before'])} before, "
              f"{' '.join(f'{v:.2f}' for v in report['load_average_after'])} after")
        for s in report["scenarios"]:
            if s["scenario"] != "cost":
                continue
            print(f"\n## Sequential, one connection, {s['blocks']} interleaved blocks of {s['block']}")
            print("| route | median ms | p99 ms | max ms | server CPU ms / request | errors |")
            print("|---|---:|---:|---:|---:|---:|")
            for name, route in s["routes"].items():
                lat = route["latency_ms"]
                print(f"| {name} | {lat['median']:.2f} | {lat['p99']:.2f} | {lat['max']:.1f} | "
                      f"{route['server_cpu_ms_per_request']:.2f} | {route['errors']} |")
            print(f"lookup - status: {s['median_gap_ms']:.2f} ms between the medians "
                  f"({s['median_of_block_gaps_ms']:.2f} ms, the median of the blocks' gaps)")
        closed = [s for s in report["scenarios"] if s["scenario"] != "cost"]
        if closed:
            print("\n## Closed loop")
            print("| scenario | concurrency | requests/s | median ms | p99 ms | max ms | "
                  "server CPU ms / request | errors |")
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for s in closed:
            lat = s["latency_ms"]
            print(f"| {s['scenario']} | {s['concurrency']} | {s['requests_per_s']:.0f} | "
                  f"{lat['median']:.1f} | {lat['p99']:.1f} | {lat['max']:.1f} | "
                  f"{s['server_cpu_ms_per_request']:.2f} | {s['errors']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
