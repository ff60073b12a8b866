"""Fault benchmark: ``kill -9`` a server in the middle of mixed writes, again and again.

Usage::

    .venv/bin/python bench/kill9_cycles.py [--cycles 100] [--databases sqlite,postgresql]
                                           [--clients 6] [--json]

Each cycle starts ``deepshield serve`` on the same database, sends mixed writes from
``--clients`` threads (bank adds, takedown intake, removal decisions, withdrawals confirmed by
the filing helpline), and SIGKILLs the server at a random moment while writes are in flight.
The next cycle's server then checks, before taking new writes:

* **nothing acknowledged is lost**: every write that got a 2xx in any earlier cycle is there
  (the case in the state its answer gave; a banked hash still matches; a withdrawn case's
  hash no longer matches). The last cycle's writes are all checked, and a sample of older ones;
* **the audit chain verifies** (``GET /v1/audit/verify``);
* **the index agrees with the store**: the same hashes are checked through ``/v1/match``,
  which answers from the in-memory index rebuilt at start and confirms each hit in the store.

PostgreSQL runs against ``$DEEPSHIELD_TEST_POSTGRES_URL`` (default the local test database),
in a private schema dropped at the end. Prints a table, or ``--json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_environment import cpu_model, interpreter, use_checkout_sources

use_checkout_sources()
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import httpx  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from deepshield.services.access import Principal, Role  # noqa: E402
from deepshield.services.api_keys import create_key  # noqa: E402
from deepshield.services.context import ServiceContext  # noqa: E402
from deepshield.services.spread import banks as bank_service  # noqa: E402
from deepshield.settings import Settings  # noqa: E402
from live_server import ServerProcess  # noqa: E402

BANK = "kill9-cycles"
POSTGRES_URL = os.environ.get("DEEPSHIELD_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: Older acknowledged writes re-checked each cycle (all of the last cycle's are checked).
OLDER_SAMPLE = 40


def _md5(request_id: str) -> str:
    return hashlib.md5(request_id.encode()).hexdigest()


def _intake(request_id: str) -> dict[str, Any]:
    return {
        "requester_role": "helpline",
        "signature": {"name": "Caseworker", "statement_ticked": True},
        "locations": [{"url": f"https://uploads.example/p/{request_id}"}],
        "hashes": [{"type": "md5", "value": _md5(request_id)}],
        "good_faith": True,
        "contact": {"email": "caseworker@helpline.example"},
        "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False},
        "safety_check": {"in_immediate_danger": False},
    }


@dataclass
class Keys:
    admin: str
    platform: str
    helplines: list[str]


@dataclass
class Ledger:
    """What was acknowledged, across cycles, and what a check expects of it."""

    banked: dict[str, int] = field(default_factory=dict)  # request id -> cycle
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)  # case number -> what we know
    open_cases: list[tuple[str, int]] = field(default_factory=list)  # (case number, filer) to act on
    unexpected: list[str] = field(default_factory=list)
    sent: int = 0
    acked: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _client(server: ServerProcess, keys: Keys, worker: int, cycle: int, ledger: Ledger,
            enough: threading.Event, kill_after: int, rng: random.Random) -> None:
    helpline = {"Authorization": f"Bearer {keys.helplines[worker]}"}
    platform = {"Authorization": f"Bearer {keys.platform}"}
    with httpx.Client(base_url=server.url, timeout=15) as http:
        for n in range(100_000):
            request_id = f"c{cycle}-w{worker}-{n}"
            kind = rng.choice(("bank", "bank", "intake", "intake", "decide", "withdraw"))
            target: tuple[str, int] | None = None
            if kind in ("decide", "withdraw"):
                with ledger.lock:
                    mine = [c for c in ledger.open_cases if kind == "decide" or c[1] == worker]
                    if mine:
                        target = rng.choice(mine)
                        ledger.open_cases.remove(target)  # acted on once, acked or not
                if target is None:
                    kind = "intake"
            with ledger.lock:
                ledger.sent += 1
            try:
                if kind == "bank":
                    response = http.post(f"/v1/banks/{BANK}/entries", headers=helpline, json={
                        "signals": [{"type": "md5", "value": _md5(request_id)}], "case_ref": request_id})
                elif kind == "intake":
                    response = http.post("/v1/requests", headers=helpline, json=_intake(request_id))
                elif kind == "decide":
                    assert target is not None
                    response = http.post(f"/v1/cases/{target[0]}/decision", headers=platform, json={
                        "decision": "removed", "reasons": "Intimate image shared without consent."})
                else:
                    assert target is not None
                    response = http.post(f"/v1/cases/{target[0]}/withdraw", headers=helpline,
                                         json={"confirm_now": True})
            except httpx.TransportError:
                # The server is gone: this write's outcome is unknown, so a case it acted on
                # may be in its old state or its new one.
                if target is not None:
                    with ledger.lock:
                        ledger.cases[target[0]]["uncertain"] = True
                return
            with ledger.lock:
                if not 200 <= response.status_code < 300:
                    ledger.unexpected.append(f"{kind} {request_id}: {response.status_code} {response.text}")
                    enough.set()
                    return
                ledger.acked += 1
                body = response.json()
                if kind == "bank":
                    ledger.banked[request_id] = cycle
                elif kind == "intake":
                    number = body["case"]["case_number"]
                    ledger.cases[number] = {"hash": _md5(request_id), "state": body["case"]["state"],
                                            "withdrawn": False, "cycle": cycle}
                    ledger.open_cases.append((number, worker))
                else:
                    assert target is not None
                    case = ledger.cases[target[0]]
                    case["state"] = body.get("state") or body.get("case", {}).get("state", case["state"])
                    case["withdrawn"] = kind == "withdraw"
                    case["cycle"] = cycle
                if ledger.acked >= kill_after:
                    enough.set()


def _matches(http: httpx.Client, keys: Keys, value: str) -> list[dict[str, Any]]:
    response = http.post("/v1/match", headers={"Authorization": f"Bearer {keys.platform}"},
                         json={"signals": [{"type": "md5", "value": value}]})
    response.raise_for_status()
    return list(response.json()["matches"])


def _check(server: ServerProcess, keys: Keys, ledger: Ledger, last_cycle: int,
           rng: random.Random) -> list[str]:
    """Everything acknowledged in the last cycle, and a sample of older writes, is as acked."""
    problems: list[str] = []
    admin = {"Authorization": f"Bearer {keys.admin}"}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        verified = http.get("/v1/audit/verify", headers=admin).json()
        if not verified.get("ok"):
            problems.append(f"audit chain: {verified.get('problems')}")
        banked = [r for r, c in ledger.banked.items() if c == last_cycle]
        older = [r for r, c in ledger.banked.items() if c != last_cycle]
        for request_id in banked + rng.sample(older, min(OLDER_SAMPLE, len(older))):
            if not any(m["bank"] == BANK for m in _matches(http, keys, _md5(request_id))):
                problems.append(f"acked bank add {request_id} does not match")
        recent = [n for n, c in ledger.cases.items() if c["cycle"] == last_cycle]
        older_cases = [n for n, c in ledger.cases.items() if c["cycle"] != last_cycle]
        for number in recent + rng.sample(older_cases, min(OLDER_SAMPLE, len(older_cases))):
            case = ledger.cases[number]
            got = http.get(f"/v1/cases/{number}", headers=admin)
            if got.status_code != 200:
                problems.append(f"acked case {number}: {got.status_code}")
                continue
            if case.get("uncertain"):
                continue  # an action on it was cut off by the kill: either state is right
            if got.json()["state"] != case["state"]:
                problems.append(f"case {number} is {got.json()['state']}, acked as {case['state']}")
            matched = _matches(http, keys, case["hash"])
            if case["withdrawn"] and matched:
                problems.append(f"withdrawn case {number} still matches")
            if not case["withdrawn"] and not matched:
                problems.append(f"case {number}'s hash does not match")
    return problems


def _database(kind: str) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return "", lambda: None
    schema = f"k9_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop


def run(kind: str, cycles: int, clients: int, seed: int, progress: Callable[[str], None],
        keep_log: Path | None = None) -> dict[str, Any]:
    rng = random.Random(seed)
    database_url, drop = _database(kind)
    with tempfile.TemporaryDirectory(prefix="deepshield-kill9-") as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home=home, database_url=database_url)
        ctx = ServiceContext.open(settings)
        try:
            setup = Principal("bench:setup", Role.ADMIN)
            keys = Keys(admin=create_key(ctx, Role.ADMIN, "admin", setup)[1],
                        platform=create_key(ctx, Role.PLATFORM, "platform", setup)[1],
                        helplines=[create_key(ctx, Role.HELPLINE, f"helpline {n}", setup)[1]
                                   for n in range(clients)])
            bank_service.create_bank(ctx, BANK, "kill -9 cycles", setup)
        finally:
            ctx.close()
        env = {**os.environ, "DEEPSHIELD_HOME": str(home), "DEEPSHIELD_PIN_KDF_LOG2_N": "10",
               "DEEPSHIELD_DATABASE_URL": database_url or settings.resolved_database_url}
        ledger = Ledger()
        failures: list[str] = []
        started = time.monotonic()
        check_seconds: list[float] = []
        try:
            for cycle in range(cycles + 1):
                server = ServerProcess(env, Path(tmp) / "server.log").start()
                if cycle:
                    t0 = time.monotonic()
                    problems = _check(server, keys, ledger, cycle - 1, rng)
                    check_seconds.append(time.monotonic() - t0)
                    failures += [f"after cycle {cycle - 1}: {p}" for p in problems]
                if cycle == cycles:
                    server.stop()
                    break
                enough = threading.Event()
                kill_after = ledger.acked + rng.randint(5, 60)
                threads = [threading.Thread(target=_client, daemon=True, args=(
                    server, keys, worker, cycle, ledger, enough, kill_after, random.Random(rng.random())))
                    for worker in range(clients)]
                for thread in threads:
                    thread.start()
                if not enough.wait(60):
                    failures.append(f"cycle {cycle}: too few writes acknowledged")
                server.kill9()
                for thread in threads:
                    thread.join(30)
                failures += ledger.unexpected
                ledger.unexpected.clear()
                progress(f"{kind} cycle {cycle + 1}/{cycles}: {ledger.acked} acked of {ledger.sent} sent, "
                         f"{len(failures)} problems")
        finally:
            drop()
            if keep_log:
                keep_log.write_bytes((Path(tmp) / "server.log").read_bytes())
    return {"database": kind, "cycles": cycles, "sent": ledger.sent, "acked": ledger.acked,
            "cases": len(ledger.cases), "withdrawn": sum(c["withdrawn"] for c in ledger.cases.values()),
            "banked": len(ledger.banked), "lost_or_wrong": len(failures), "failures": failures[:20],
            "seconds": round(time.monotonic() - started, 1),
            "check_median_s": _median(check_seconds)}


def _median(values: list[float]) -> float:
    return round(sorted(values)[len(values) // 2], 2) if values else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-log", type=Path, help="copy the servers' log here (one file per database)")
    args = parser.parse_args()
    results = [run(kind, args.cycles, args.clients, args.seed,
                   lambda line: print(line, file=sys.stderr, flush=True),
                   args.keep_log.with_suffix(f".{kind}.log") if args.keep_log else None)
               for kind in args.databases.split(",")]
    if args.json:
        print(json.dumps({"cpu": cpu_model(), "python": interpreter(), "results": results}, indent=2))
        return
    print(f"kill -9 cycles on {cpu_model()} ({interpreter()})")
    print("| database | cycles | writes sent | acknowledged | cases | withdrawn | bank adds "
          "| lost or wrong | audit chain | time |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    for r in results:
        chain = "broken" if any("audit chain" in f for f in r["failures"]) else "verified every cycle"
        print(f"| {r['database']} | {r['cycles']} | {r['sent']} | {r['acked']} | {r['cases']} | "
              f"{r['withdrawn']} | {r['banked']} | {r['lost_or_wrong']} | {chain} | {r['seconds']} s |")
    for r in results:
        for failure in r["failures"]:
            print(f"{r['database']}: {failure}")


if __name__ == "__main__":
    main()
