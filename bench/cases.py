"""Benchmark: takedown cases. Intake-to-matchable latency, withdrawal-to-unmatchable latency,
and the throughput of 10,000 cases.

Usage::

    .venv/bin/python bench/case_records.py [--cases 10000] [--processes 2] [--samples 100]
                                    [--registry 100000] [--scenarios throughput,sweep,http] [--json]

Scenarios (a fresh ``$DEEPSHIELD_HOME``, SQLite, the embedded default):

1. **Throughput of N cases** (service level, ``--processes`` processes filing at once into
   one database): ``case_intake.file_request`` of complete requests (one PDQ hash made on the
   device, one URL, US jurisdiction), each with its PIN through the production KDF (scrypt
   2^15). Anchor, same run: the same hashes added one request at a time with
   ``banks.add_signals`` (issue 4's path: validation, one transaction, audit event), and
   intake with a cheap KDF (2^10) to show the KDF's share.
2. **Decide and sweep**: ``case_review.decide(removed)`` on ``--samples`` cases against a content
   registry of ``--registry`` items, with the copy sweep.
3. **Intake to matchable** over HTTP: ``deepshield serve --workers 2``; a helpline files
   ``POST /v1/requests`` with a fresh hash, and a platform polls ``POST /v1/match`` with it
   until it matches (the match may land on the other worker, which sees the write within its
   sync interval). Reported: from sending the request to the first hit, and from the 201
   (the acknowledgement) to the first hit.
4. **Withdrawal to unmatchable** over HTTP: a helpline confirms a withdrawal
   (``/withdraw`` with ``confirm_now``), then the platform polls until the hash no longer
   matches, and the exchange feed shows the delete. The issue asks for 5 s at most.
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

import numpy as np  # noqa: E402

from bench_environment import (  # noqa: E402
    cpu_model,
    free_port,
    interpreter,
    use_checkout_sources,
    wait_until_serving,
)

use_checkout_sources()


def _pdq_hashes(count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [row.tobytes().hex() for row in rng.integers(0, 256, (count, 32), dtype=np.uint8)]


def request_form(pdq_hex: str, number: int) -> dict[str, Any]:
    """A complete request as a helpline files it (hashes only, never an image)."""
    return {
        "requester_role": "helpline",
        "signature": {"name": "Bench Helpline Caseworker", "statement_ticked": True},
        "locations": [{"url": f"https://platform.example/p/{number}"}],
        "hashes": [{"type": "pdq", "value": pdq_hex, "quality": 100}],
        "good_faith": True,
        "contact": {"email": f"caller{number}@example.org"},
        "jurisdiction": {"depicted_person_country": "US", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False},
    }


def _settings(home: Path, kdf_log2_n: int) -> Any:
    from deepshield.settings import CaseSettings, Settings

    return Settings(home=home, cases=CaseSettings(pin_kdf_log2_n=kdf_log2_n))


def _helpline(ctx: Any) -> Any:
    from deepshield.services.access import Principal, Role

    return Principal(actor="key:benchhelpline", role=Role.HELPLINE)


def _file_worker(home: str, hashes: list[str], offset: int, kdf_log2_n: int, out: str) -> None:
    from deepshield.services.context import ServiceContext
    from deepshield.services.takedown import intake as case_intake

    ctx = ServiceContext.open(_settings(Path(home), kdf_log2_n))
    principal = _helpline(ctx)
    latencies = []
    try:
        for i, value in enumerate(hashes):
            started = time.perf_counter()
            case_intake.file_request(ctx, request_form(value, offset + i), principal)
            latencies.append(time.perf_counter() - started)
    finally:
        ctx.close()
    Path(out).write_text(json.dumps(latencies))


def _bank_worker(home: str, hashes: list[str], out: str) -> None:
    from deepshield.services.access import Principal, Role
    from deepshield.services.context import ServiceContext
    from deepshield.services.spread import banks
    from deepshield.services.spread.banks import Origin, SignalInput

    ctx = ServiceContext.open(_settings(Path(home), 10))
    latencies = []
    try:
        for i, value in enumerate(hashes):
            started = time.perf_counter()
            banks.add_signals(ctx, "anchor", [SignalInput("pdq", value, 100)], origin=Origin.HELPLINE,
                              case_ref=f"anchor-{i}", principal=Principal("bench", Role.ADMIN))
            latencies.append(time.perf_counter() - started)
    finally:
        ctx.close()
    Path(out).write_text(json.dumps(latencies))


def _parallel(target: Any, chunks: list[tuple[Any, ...]]) -> tuple[float, list[float]]:
    """Run ``target(*chunk, out)`` in one spawned process per chunk; (wall s, latencies)."""
    spawn = multiprocessing.get_context("spawn")
    folder = Path(tempfile.mkdtemp(prefix="deepshield-bench-"))
    outs = [str(folder / f"worker-{i}.json") for i in range(len(chunks))]
    started = time.perf_counter()
    processes = [spawn.Process(target=target, args=(*chunk, out))
                 for chunk, out in zip(chunks, outs, strict=True)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"a worker process failed with exit code {process.exitcode}")
    wall = time.perf_counter() - started
    latencies: list[float] = []
    for out in outs:
        latencies += json.loads(Path(out).read_text())
        Path(out).unlink()
    folder.rmdir()
    return wall, latencies


def _summary(name: str, count: int, wall: float, latencies: list[float]) -> dict[str, Any]:
    values = np.asarray(latencies) * 1000
    return {"scenario": name, "count": count, "wall_s": round(wall, 2),
            "per_s": round(count / wall, 1),
            "latency_ms": {"median": round(float(np.median(values)), 2),
                           "p99": round(float(np.percentile(values, 99)), 2)}}


def throughput(home: Path, count: int, processes: int) -> list[dict[str, Any]]:
    from deepshield.services.access import Principal, Role
    from deepshield.services.context import ServiceContext
    from deepshield.services.spread import banks

    hashes = _pdq_hashes(count, seed=1)
    ctx = ServiceContext.open(_settings(home, 10))
    try:
        operator = Principal("bench", Role.ADMIN)
        banks.create_bank(ctx, "anchor", "bench anchor", operator)
        banks.create_bank(ctx, ctx.settings.cases.reports_bank, "case hashes", operator)
    finally:
        ctx.close()
    size = -(-count // processes)
    rows = []
    print(f"filing {count:,} cases in {processes} processes (scrypt 2^15) ...", file=sys.stderr, flush=True)
    wall, lat = _parallel(_file_worker, [(str(home), hashes[i:i + size], i, 15)
                                         for i in range(0, count, size)])
    rows.append(_summary("intake (scrypt 2^15, production)", count, wall, lat))
    cheap = _pdq_hashes(count, seed=2)
    print(f"filing {count:,} cases with a cheap KDF (2^10) ...", file=sys.stderr, flush=True)
    wall, lat = _parallel(_file_worker, [(str(home), cheap[i:i + size], count + i, 10)
                                         for i in range(0, count, size)])
    rows.append(_summary("intake (scrypt 2^10, KDF share)", count, wall, lat))
    anchor = _pdq_hashes(count, seed=3)
    print(f"anchor: adding {count:,} hashes one request at a time ...", file=sys.stderr, flush=True)
    wall, lat = _parallel(_bank_worker, [(str(home), anchor[i:i + size]) for i in range(0, count, size)])
    rows.append(_summary("anchor: bank add, one hash per request", count, wall, lat))
    return rows


def decide_and_sweep(home: Path, samples: int, registry: int) -> dict[str, Any]:
    from deepshield.services.access import Principal, Role
    from deepshield.services.context import ServiceContext
    from deepshield.services.spread import content_registry
    from deepshield.services.spread.banks import SignalInput
    from deepshield.services.takedown import intake as case_intake
    from deepshield.services.takedown import review as case_review

    ctx = ServiceContext.open(_settings(home, 10))
    try:
        print(f"registering {registry:,} content items ...", file=sys.stderr, flush=True)
        values = _pdq_hashes(registry, seed=4)
        batch = 5000
        for start in range(0, registry, batch):
            items = [content_registry.ContentItemInput(f"item-{start + i}", [SignalInput("pdq", v, 100)],
                                                       None)
                     for i, v in enumerate(values[start:start + batch])]
            content_registry.register_items(ctx, items, Principal("bench", Role.ADMIN))
        helpline = _helpline(ctx)
        reviewer = Principal(actor="key:benchreviewer", role=Role.PLATFORM)
        numbers = [case_intake.file_request(ctx, request_form(values[i * 7], 90_000 + i),
                                            helpline).case.case_number
                   for i in range(samples)]
        latencies, hits = [], 0
        started = time.perf_counter()
        for number in numbers:
            t0 = time.perf_counter()
            decision = case_review.decide(ctx, number, "removed", "Non-consensual intimate image; removed.",
                                    reviewer)
            latencies.append(time.perf_counter() - t0)
            hits += len(decision.sweep.hits) if decision.sweep is not None else 0
        wall = time.perf_counter() - started
    finally:
        ctx.close()
    row = _summary(f"decide removed + copy sweep ({registry:,}-item registry)", samples, wall, latencies)
    row["sweep_hits"] = hits
    return row


def http_latencies(home: Path, samples: int, workers: int) -> list[dict[str, Any]]:
    import httpx

    from deepshield.services.access import Principal, Role
    from deepshield.services.api_keys import create_key
    from deepshield.services.context import ServiceContext

    ctx = ServiceContext.open(_settings(home, 15))
    try:
        operator = Principal("bench", Role.ADMIN)
        _, helpline = create_key(ctx, Role.HELPLINE, "bench helpline", operator)
        _, platform = create_key(ctx, Role.PLATFORM, "bench platform", operator)
        _, partner = create_key(ctx, Role.PARTNER, "bench partner", operator)
    finally:
        ctx.close()
    port = free_port()
    env = {**os.environ, "DEEPSHIELD_HOME": str(home)}
    command = str(Path(sys.executable).parent / "deepshield")
    server = subprocess.Popen([command, "serve", "--port", str(port), "--workers", str(workers)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        wait_until_serving(f"{base}/v1/health", server, timeout_s=60)
        h_auth = {"Authorization": f"Bearer {helpline}"}
        p_auth = {"Authorization": f"Bearer {platform}"}
        x_auth = {"Authorization": f"Bearer {partner}"}
        # The platform's matches go over fresh connections, so they land on either worker
        # (a kept-alive connection would stay with the worker that took the request).
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, timeout=30) as client, \
                httpx.Client(base_url=base, timeout=30, limits=fresh) as platform_client:
            checkpoint = 0
            while True:  # skip what the feed already holds
                page = client.get("/v1/exchange/updates", params={"checkpoint": checkpoint}, headers=x_auth)
                page.raise_for_status()
                checkpoint = page.json()["checkpoint"]
                if not page.json().get("more"):
                    break
            intake, ack_to_match, withdraw = [], [], []
            for number, value in enumerate(_pdq_hashes(samples, seed=5)):
                query = {"signals": [{"type": "pdq", "value": value}]}
                started = time.perf_counter()
                filed = client.post("/v1/requests", json=request_form(value, 500_000 + number),
                                    headers=h_auth)
                filed.raise_for_status()
                acknowledged = time.perf_counter()
                case_number = filed.json()["case"]["case_number"]
                while not platform_client.post("/v1/match", json=query, headers=p_auth).json()["matches"]:
                    if time.perf_counter() - started > 30:
                        raise RuntimeError("a filed hash never became matchable")
                intake.append(time.perf_counter() - started)
                ack_to_match.append(time.perf_counter() - acknowledged)
                started = time.perf_counter()
                client.post(f"/v1/cases/{case_number}/withdraw", json={"confirm_now": True},
                            headers=h_auth).raise_for_status()
                while platform_client.post("/v1/match", json=query, headers=p_auth).json()["matches"]:
                    if time.perf_counter() - started > 30:
                        raise RuntimeError("a withdrawn hash kept matching")
                deleted = False
                while not deleted:
                    page = client.get("/v1/exchange/updates", params={"checkpoint": checkpoint},
                                      headers=x_auth).json()
                    checkpoint = page["checkpoint"]
                    deleted = any(u["signal_value"] == value and u["state"] == "deleted"
                                  for u in page["updates"])
                withdraw.append(time.perf_counter() - started)
        rows.append(_summary(f"intake -> matchable over HTTP ({workers} workers)", samples,
                             sum(intake), intake))
        rows[-1]["max_ms"] = round(max(intake) * 1000, 1)
        rows.append(_summary(f"acknowledged -> matchable (the first match after the 201, {workers} workers)",
                             samples, sum(ack_to_match), ack_to_match))
        rows[-1]["max_ms"] = round(max(ack_to_match) * 1000, 1)
        rows.append(_summary(f"withdrawal -> unmatchable + exchange delete ({workers} workers)", samples,
                             sum(withdraw), withdraw))
        rows[-1]["max_ms"] = round(max(withdraw) * 1000, 1)
    finally:
        server.terminate()
        server.wait(30)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--registry", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenarios", default="throughput,sweep,http",
                        help="which to run, comma-separated: throughput, sweep, http")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    chosen = {name.strip() for name in args.scenarios.split(",") if name.strip()}
    report: dict[str, Any] = {
        "benchmark": "cases",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "rows": [],
    }
    if "throughput" in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            report["rows"] += throughput(Path(tmp) / "throughput", args.cases, args.processes)
    if "sweep" in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            report["rows"].append(decide_and_sweep(Path(tmp), args.samples, args.registry))
    if "http" in chosen:
        with tempfile.TemporaryDirectory() as tmp:
            report["rows"] += http_latencies(Path(tmp), args.samples, args.workers)
    anchor = next((r for r in report["rows"] if r["scenario"].startswith("anchor")), None)
    for row in report["rows"]:
        if anchor is not None and "per_s" in row and row["count"] == anchor["count"]:
            row["ratio_to_anchor"] = round(row["per_s"] / anchor["per_s"], 2)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"# {report['benchmark']} · {report['date_utc']} · {report['machine']['cpu']}, "
          f"{report['machine']['cores']} cores\n# {report['command']}\n")
    print("| scenario | n | per s | ratio to anchor | median ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in report["rows"]:
        print(f"| {row['scenario']} | {row['count']:,} | {row['per_s']:,} | "
              f"{row.get('ratio_to_anchor', '')} | {row['latency_ms']['median']} | "
              f"{row['latency_ms']['p99']} | {row.get('max_ms', '')} |")
    if any("sweep_hits" in r for r in report["rows"]):
        print("\nsweep hits:", ", ".join(str(r["sweep_hits"]) for r in report["rows"] if "sweep_hits" in r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
