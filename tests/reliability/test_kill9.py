"""Durability: ``kill -9`` the server in the middle of writes, and nothing acknowledged is lost.

A real ``deepshield serve`` process takes writes from several client threads at once; it is
killed with SIGKILL while they are in flight, then started again on the same database. Every
request that got a 2xx answer must be in the database, no request may be there in part, every
write must be on the audit log, and the audit chain must verify. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from deepshield.services.access import Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.services.spread import banks as bank_service
from deepshield.settings import Settings
from deepshield.store import Store
from deepshield.store.audit_chain import verify_snapshot
from deepshield.store.hash_sealing import HashKeyFile
from deepshield.store.models import AuditEvent, Bank, BankEntry, Case, CaseClock, CaseContact, EntryChange
from live_server import ServerProcess
from principals import SETUP

# Kills processes and measures what survives: alone on the machine. Each server runs on a database
# of its own, which its first start migrates.
pytestmark = [pytest.mark.serial, pytest.mark.empty_database]

BANK = "kill9"
CLIENTS = 6
#: Writes acknowledged before the kill: enough that many more are in flight when it lands.
ACKED_BEFORE_KILL = 40


@dataclass
class Keys:
    admin: str
    helpline: list[str] = field(default_factory=list)


Deployment = tuple[Settings, "Keys", Callable[[], ServerProcess]]


@pytest.fixture
def deployment(tmp_path: Path, database_url: str, cheap_kdf_env: dict[str, str]) -> Iterator[Deployment]:
    """A database with the bank and keys the clients use, and a way to start servers on it."""
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    ctx = ServiceContext.open(settings)
    try:
        keys = Keys(admin=create_key(ctx, Role.ADMIN, "kill9 admin", SETUP)[1])
        keys.helpline = [create_key(ctx, Role.HELPLINE, f"kill9 helpline {n}", SETUP)[1]
                         for n in range(CLIENTS)]
        bank_service.create_bank(ctx, BANK, "kill -9 test", SETUP)
    finally:
        ctx.close()
    env = {**os.environ, "DEEPSHIELD_HOME": str(settings.home),
           "DEEPSHIELD_DATABASE_URL": database_url,
           # Victims' PINs are hashed with a slow KDF; tests use a small cost.
           **cheap_kdf_env}
    servers: list[ServerProcess] = []

    def start() -> ServerProcess:
        servers.append(ServerProcess(env, tmp_path / "server.log").start())
        return servers[-1]

    try:
        yield settings, keys, start
    finally:
        for server in servers:
            server.stop()


@dataclass
class Outcomes:
    """What the clients saw: acknowledged writes (with the answer) and unexpected answers."""

    acked: dict[str, Any] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def hammer(server: ServerProcess, keys: Keys, path: str, body_for: Callable[[str], dict[str, Any]],
           kill_after: int) -> Outcomes:
    """Send writes from ``CLIENTS`` threads; SIGKILL the server once ``kill_after`` were
    acknowledged (the others still in flight), then wait for every client to notice."""
    outcomes = Outcomes()
    enough = threading.Event()

    def client(worker: int) -> None:
        headers = {"Authorization": f"Bearer {keys.helpline[worker]}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=15) as http:
            for n in range(100_000):
                request_id = f"w{worker}-{n}"
                with outcomes.lock:
                    outcomes.sent.add(request_id)
                try:
                    response = http.post(path, json=body_for(request_id))
                except httpx.TransportError:
                    return  # the server is gone: this write's outcome is unknown
                with outcomes.lock:
                    if 200 <= response.status_code < 300:
                        outcomes.acked[request_id] = response.json()
                        if len(outcomes.acked) >= kill_after:
                            enough.set()
                    else:
                        outcomes.unexpected.append(f"{request_id}: {response.status_code} {response.text}")
                        enough.set()
                        return

    threads = [threading.Thread(target=client, args=(worker,), daemon=True) for worker in range(CLIENTS)]
    for thread in threads:
        thread.start()
    assert enough.wait(20), f"only {len(outcomes.acked)} writes were acknowledged: {server.log()}"
    server.kill9()
    for thread in threads:
        thread.join(20)
        assert not thread.is_alive(), "a client still waits on a killed server"
    assert not outcomes.unexpected, outcomes.unexpected
    assert len(outcomes.sent) > len(outcomes.acked)  # some writes were cut off by the kill
    return outcomes


def verify_over_http(server: ServerProcess, keys: Keys) -> None:
    response = httpx.get(f"{server.url}/v1/audit/verify", timeout=30,
                         headers={"Authorization": f"Bearer {keys.admin}"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["ok"] is True, report["problems"]


def assert_chain_intact(store: Store) -> None:
    report = verify_snapshot(store.engine)
    assert report.ok, report.problems
    assert report.events == report.head_seq


# --- Bank adds -------------------------------------------------------------------------------------


def _md5s(request_id: str) -> list[str]:
    return [hashlib.md5(f"{request_id}/{k}".encode()).hexdigest() for k in range(3)]


def _bank_add(request_id: str) -> dict[str, Any]:
    """Three hashes filed under one case reference: all three land, or none does."""
    return {"signals": [{"type": "md5", "value": value} for value in _md5s(request_id)],
            "origin": "helpline", "case_ref": request_id}


def test_acknowledged_bank_adds_survive_kill_9_whole_and_on_the_audit_log(deployment):
    settings, keys, start = deployment
    server = start()
    outcomes = hammer(server, keys, f"/v1/banks/{BANK}/entries", _bank_add, ACKED_BEFORE_KILL)

    restarted = start()  # recovers the database (SQLite's WAL) and takes writes again
    after = httpx.post(f"{restarted.url}/v1/banks/{BANK}/entries", json=_bank_add("after"),
                       headers={"Authorization": f"Bearer {keys.helpline[0]}"}, timeout=15)
    assert after.status_code == 201, after.text
    outcomes.acked["after"] = after.json()
    outcomes.sent.add("after")
    verify_over_http(restarted, keys)
    restarted.stop()

    store = Store.open(settings.resolved_database_url, hash_keys=HashKeyFile.for_home(settings.home))
    try:
        with store.transaction() as session:
            entries = session.execute(select(BankEntry.id, BankEntry.case_ref, BankEntry.value)
                                      .join(Bank).where(Bank.name == BANK)).all()
            changed = set(session.scalars(select(EntryChange.entry_id)))
            add_events = list(session.scalars(select(AuditEvent).where(
                AuditEvent.action == "bank.add", AuditEvent.target == f"bank:{BANK}")))
        by_request: dict[str, set[str]] = defaultdict(set)
        ids_by_request: dict[str, set[int]] = defaultdict(set)
        for entry_id, case_ref, value in entries:
            by_request[case_ref].add(value)
            ids_by_request[case_ref].add(entry_id)
        # Every acknowledged write is there, with the entries its answer named.
        for request_id, answer in outcomes.acked.items():
            assert by_request.get(request_id) == set(_md5s(request_id)), request_id
            assert ids_by_request[request_id] == {e["id"] for e in answer["entries"]}
        # No write is there in part, acknowledged or cut off by the kill.
        for request_id, values in by_request.items():
            assert request_id in outcomes.sent and values == set(_md5s(request_id)), request_id
        # Each entry is on the change feed, and on the audit log in one event with its batch.
        assert {entry_id for entry_id, _, _ in entries} <= changed
        logged = [set(json.loads(event.detail)["entry_ids"]) for event in add_events]
        assert sorted(map(sorted, logged)) == sorted(map(sorted, ids_by_request.values()))
        assert_chain_intact(store)
    finally:
        store.close()


# --- Takedown intake -------------------------------------------------------------------------------


def _hashes(request_id: str) -> list[dict[str, str]]:
    return [{"type": "md5", "value": hashlib.md5(request_id.encode()).hexdigest()},
            {"type": "sha256", "value": hashlib.sha256(request_id.encode()).hexdigest()}]


def _intake(request_id: str) -> dict[str, Any]:
    """A complete request filed by a helpline: its case, contact, clocks and hashes are
    written together."""
    return {
        "requester_role": "helpline",
        "signature": {"name": "Caseworker", "statement_ticked": True},
        "locations": [{"url": f"https://uploads.example/p/{request_id}"}],
        "hashes": _hashes(request_id),
        "good_faith": True,
        "contact": {"email": "caseworker@helpline.example"},
        "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False},
        "safety_check": {"in_immediate_danger": False},
    }


def test_acknowledged_takedown_requests_survive_kill_9_with_no_partial_case(deployment):
    settings, keys, start = deployment
    server = start()
    probe = httpx.post(f"{server.url}/v1/requests", json=_intake("probe"), timeout=15,
                       headers={"Authorization": f"Bearer {keys.helpline[0]}"})
    assert probe.status_code == 201, probe.text
    outcomes = hammer(server, keys, "/v1/requests", _intake, ACKED_BEFORE_KILL // 2)
    outcomes.acked["probe"] = probe.json()

    # The bank test restarts the server; here the store is opened directly after the kill.
    reports_bank = settings.cases.reports_bank
    store = Store.open(settings.resolved_database_url, hash_keys=HashKeyFile.for_home(settings.home))
    try:
        with store.transaction() as session:
            cases = {case.case_number: (case.id, case.state, case.completed_at)
                     for case in session.scalars(select(Case))}
            contacts = set(session.scalars(select(CaseContact.case_id)))
            clocks = set(session.scalars(select(CaseClock.case_id)))
            banked: dict[str, set[str]] = defaultdict(set)
            for case_ref, value in session.execute(
                    select(BankEntry.case_ref, BankEntry.value).join(Bank)
                    .where(Bank.name == reports_bank)):
                banked[case_ref].add(value)
            audited = set(session.scalars(select(AuditEvent.target).where(
                AuditEvent.target.startswith("case:"))))
        # Every acknowledged request is a case.
        acked_numbers = {answer["case"]["case_number"] for answer in outcomes.acked.values()}
        assert acked_numbers <= set(cases), acked_numbers - set(cases)
        assert len(acked_numbers) == len(outcomes.acked)
        # No case is there in part: each has its contact, its clocks, its hashes in the
        # reports bank, and its filing on the audit log.
        for case_number, (case_id, state, completed_at) in cases.items():
            assert state != "incomplete" and completed_at is not None, case_number
            assert case_id in contacts, f"{case_number} has no contact row"
            assert case_id in clocks, f"{case_number} has no clocks"
            assert len(banked[f"case:{case_id}"]) == 2, f"{case_number}: {banked[f'case:{case_id}']}"
            assert f"case:{case_id}" in audited, f"{case_number} is not on the audit log"
        assert_chain_intact(store)
    finally:
        store.close()
