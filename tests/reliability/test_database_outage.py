"""The database goes away while the server runs, and comes back: the server recovers by itself.

A private PostgreSQL cluster (``initdb`` in a temporary folder, on a free port) serves one
``deepshield serve`` process. It is stopped with ``pg_ctl stop -m immediate`` (the way a
crashed or rebooted database server goes) while the server keeps taking requests: every one
of them gets a clear answer (503 ``store_unavailable`` for work that needs the database),
never a hang or a 500. Then the cluster starts again, and without any restart of
``deepshield serve`` the next requests succeed: reads, bank writes, matches against the
index, the audit chain.

Two replicas (issue 17): two ``deepshield serve`` processes on one cluster, as on two hosts, see
each other's adds, disables and withdrawals within a second, catch up after a restart, and both
recover after the cluster crashes.

Skips, saying why, where PostgreSQL's server programs are not installed (fails instead when
CI requires the essentials).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deepshield.services.access import Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.services.spread import banks as bank_service
from deepshield.settings import Settings
from essentials import essential_missing
from live_server import ServerProcess, free_port
from principals import SETUP

pytestmark = pytest.mark.serial  # crashes a PostgreSQL cluster and times the recovery: alone

BANK = "outage"
#: How long the server may take to notice the database is back (its pool pre-pings).
RECOVERY_S = 30.0


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL's server refuses to run as root: run its programs as ``postgres`` then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PrivateCluster:
    """A throwaway PostgreSQL cluster: ``initdb``, ``pg_ctl start`` and ``stop -m immediate``."""

    def __init__(self, root: Path) -> None:
        self.data = root / "pgdata"
        self.socket_dir = root / "pgsocket"
        self.log = root / "pg.log"
        self.port = free_port()

    def init(self) -> PrivateCluster:
        self.socket_dir.mkdir()
        self.log.touch()
        if os.geteuid() == 0:  # its own folder, which the postgres user can reach and own
            for path in (self.data.parent, self.socket_dir, self.log):
                shutil.chown(path, "postgres")
        subprocess.run(_as_postgres(["initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                     "--no-sync"]), check=True, capture_output=True)
        return self

    def start(self) -> None:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-o",
                                     f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
                                     "-c fsync=off", "start"]), check=True, capture_output=True)

    def crash(self) -> None:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop"]),
                       check=True, capture_output=True)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    missing = [name for name in ("initdb", "pg_ctl") if shutil.which(name) is None]
    if missing:
        essential_missing(f"PostgreSQL's server programs are not installed ({', '.join(missing)} not found)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        essential_missing("running as root needs runuser to start PostgreSQL as the postgres user")
    # pytest's tmp_path is private to root; the cluster gets a folder the postgres user can reach.
    root = Path(tempfile.mkdtemp(prefix="deepshield-outage-"))
    root.chmod(0o755)
    cluster = PrivateCluster(root).init()
    try:
        cluster.start()
        yield cluster
    finally:
        subprocess.run(_as_postgres(["pg_ctl", "-D", str(cluster.data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _installed(settings: Settings, purpose: str) -> str:
    """An installation on ``settings``' database with an admin key (returned) and the test bank."""
    ctx = ServiceContext.open(settings)
    try:
        admin = create_key(ctx, Role.ADMIN, f"{purpose} admin", SETUP)[1]
        bank_service.create_bank(ctx, BANK, f"{purpose} test", SETUP)
    finally:
        ctx.close()
    return admin


def _md5(n: int) -> str:
    return hashlib.md5(f"outage-{n}".encode()).hexdigest()


def test_the_server_recovers_by_itself_when_the_database_comes_back(cluster, tmp_path):
    settings = Settings(home=tmp_path / "home", database_url=cluster.url)
    admin = _installed(settings, "outage")
    env = {**os.environ, "DEEPSHIELD_HOME": str(settings.home), "DEEPSHIELD_DATABASE_URL": cluster.url}
    server = ServerProcess(env, tmp_path / "server.log").start()
    headers = {"Authorization": f"Bearer {admin}"}
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=20) as http:
            def add(n: int) -> httpx.Response:
                return http.post(f"/v1/banks/{BANK}/entries",
                                 json={"signals": [{"type": "md5", "value": _md5(n)}], "case_ref": f"o-{n}"})

            def match(n: int) -> httpx.Response:
                return http.post("/v1/match", json={"signals": [{"type": "md5", "value": _md5(n)}]})

            assert add(1).status_code == 201
            assert match(1).json()["matches"], "the banked hash should match before the outage"

            cluster.crash()
            # While the database is down every request gets a clear answer, never a 500 or a hang.
            for n, request in enumerate((lambda: add(2), lambda: http.get("/v1/banks"), lambda: match(1),
                                         lambda: http.get("/v1/health"))):
                started = time.monotonic()
                response = request()
                assert time.monotonic() - started < 15, f"request {n} hung while the database was down"
                assert response.status_code == 503, (n, response.status_code, response.text)
                assert response.json()["error"] == "store_unavailable", response.text
            assert server.process is not None and server.process.poll() is None, server.log()

            cluster.start()
            deadline = time.monotonic() + RECOVERY_S
            while http.get("/v1/health").status_code != 200:
                assert time.monotonic() < deadline, f"no recovery within {RECOVERY_S} s: {server.log()}"
                time.sleep(0.25)
            # Writes, reads, matches and the audit chain all work again, on the same process.
            added = add(3)
            assert added.status_code == 201, added.text
            assert match(3).json()["matches"], "a hash banked after the outage should match"
            assert match(1).json()["matches"], "a hash banked before the outage should still match"
            assert not match(2).json()["matches"], "the write refused during the outage must not exist"
            banks = {bank["name"]: bank for bank in http.get("/v1/banks").json()}
            assert banks[BANK]["active_entries"] == 2
            verified = http.get("/v1/audit/verify")
            assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text
    finally:
        server.stop()


#: How soon a change made through one replica must be seen by a match on another (issue 17).
REPLICA_LAG_S = 1.0


def _seen_within(check, limit_s: float) -> float:
    """Seconds until ``check()`` holds, polled every 20 ms; fails past ``limit_s``."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < limit_s, f"not seen within {limit_s} s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_two_replicas_on_one_database_see_each_others_changes_and_both_recover(cluster, tmp_path):
    """Two ``deepshield serve`` processes, as on two hosts (each its own home, the installation's
    keys copied to both), on one PostgreSQL: an add, a disable and a withdrawal through one are
    seen by a match on the other within a second; a replica restarted catches up; both answer 503
    while the database is down and recover by themselves."""
    homes = [tmp_path / "host-a", tmp_path / "host-b"]
    admin = _installed(Settings(home=homes[0], database_url=cluster.url), "replica")
    shutil.copytree(homes[0] / "keys", homes[1] / "keys")  # hash sealing keys: one installation
    servers = [ServerProcess({**os.environ, "DEEPSHIELD_HOME": str(home),
                              "DEEPSHIELD_DATABASE_URL": cluster.url},
                             tmp_path / f"server-{index}.log").start() for index, home in enumerate(homes)]
    headers = {"Authorization": f"Bearer {admin}"}
    try:
        first, second = (httpx.Client(base_url=server.url, headers=headers, timeout=20) for server in servers)

        def matched(http: httpx.Client, n: int) -> bool:
            response = http.post("/v1/match", json={"signals": [{"type": "md5", "value": _md5(n)}]})
            assert response.status_code == 200, response.text
            return bool(response.json()["matches"])

        added = first.post(f"/v1/banks/{BANK}/entries",
                           json={"signals": [{"type": "md5", "value": _md5(10)}], "case_ref": "r-10"})
        assert added.status_code == 201, added.text
        entry = added.json()["entries"][0]["id"]
        _seen_within(lambda: matched(second, 10), REPLICA_LAG_S)
        disabled = first.patch(f"/v1/banks/{BANK}/entries/{entry}", json={"enabled": False})
        assert disabled.status_code == 200, disabled.text
        _seen_within(lambda: not matched(second, 10), REPLICA_LAG_S)
        assert first.patch(f"/v1/banks/{BANK}/entries/{entry}", json={"enabled": True}).status_code == 200
        _seen_within(lambda: matched(second, 10), REPLICA_LAG_S)
        assert second.delete(f"/v1/banks/{BANK}/entries/{entry}").status_code == 200  # the other way
        _seen_within(lambda: not matched(first, 10), REPLICA_LAG_S)

        # A replica that restarts catches up with what was done while it was away.
        servers[1].stop()
        assert first.post(f"/v1/banks/{BANK}/entries",
                          json={"signals": [{"type": "md5", "value": _md5(11)}]}).status_code == 201
        second.close()
        servers[1].start()
        second = httpx.Client(base_url=servers[1].url, headers=headers, timeout=20)
        assert matched(second, 11) and not matched(second, 10)

        cluster.crash()
        for http in (first, second):
            response = http.post("/v1/match", json={"signals": [{"type": "md5", "value": _md5(11)}]})
            assert response.status_code == 503, response.text
            assert response.json()["error"] == "store_unavailable", response.text
        cluster.start()
        for http in (first, second):
            deadline = time.monotonic() + RECOVERY_S
            while http.get("/v1/health").status_code != 200:
                assert time.monotonic() < deadline, f"no recovery within {RECOVERY_S} s"
                time.sleep(0.25)
        assert first.post(f"/v1/banks/{BANK}/entries",
                          json={"signals": [{"type": "md5", "value": _md5(12)}]}).status_code == 201
        _seen_within(lambda: matched(second, 12), REPLICA_LAG_S)
        first.close()
        second.close()
    finally:
        for server in servers:
            server.stop()
