"""A real local Ray cluster for tests: a head node and a second node joined to it, one CPU each.

Both are started with ``ray start`` (the commands docs/DEPLOY.md gives for a real cluster), in
their own temporary folder, and stopped by killing exactly their processes (``ray stop`` would
stop every Ray cluster on the machine).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

RAY = Path(sys.executable).with_name("ray")
#: Ray's object store per node: small, so two nodes fit in a test machine's /dev/shm.
OBJECT_STORE_BYTES = 200_000_000


@dataclass(frozen=True)
class RayCluster:
    address: str  # HOST:PORT of the head (what `deepshield scan --ray` takes)
    temp_dir: Path

    def processes(self) -> list[int]:
        """Every process of this cluster: those naming its folder, and their descendants
        (the workers, whose command lines Ray rewrites to ``ray::...``)."""
        parents: dict[int, int] = {}
        mine: set[int] = set()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            pid = int(entry.name)
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
            if str(self.temp_dir).encode() in cmdline:
                mine.add(pid)
        grew = True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in mine} - mine
            grew = bool(children)
            mine |= children
        return sorted(mine)

    def workers(self, name_part: str) -> list[int]:
        """This cluster's worker processes whose title contains ``name_part``."""
        found = []
        for pid in self.processes():
            try:
                raw = Path(f"/proc/{pid}/cmdline").read_bytes()
                title = raw.replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("ray::") and name_part in title:
                found.append(pid)
        return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ray(*args: str) -> None:
    result = subprocess.run([str(RAY), *args], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    if result.returncode != 0:
        raise RuntimeError(f"ray {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stdout}\n{result.stderr}")


@contextmanager
def local_ray_cluster(nodes: int = 2, object_store_bytes: int = OBJECT_STORE_BYTES) -> Iterator[RayCluster]:
    """A head and ``nodes - 1`` more nodes joined to it on this machine, one CPU each; stopped on
    exit."""
    # Ray puts unix sockets in this folder: it must be short (a socket path holds 107 bytes).
    temp_dir = Path(tempfile.mkdtemp(prefix="dsray-", dir="/tmp"))
    port = _free_port()
    cluster = RayCluster(f"127.0.0.1:{port}", temp_dir)
    common = ("--num-cpus=1", f"--object-store-memory={object_store_bytes}", "--disable-usage-stats",
              f"--temp-dir={temp_dir}")
    try:
        _ray("start", "--head", f"--port={port}", "--include-dashboard=false", *common)
        for _ in range(nodes - 1):
            _ray("start", f"--address={cluster.address}", *common)
        yield cluster
    finally:
        _stop(cluster)
        shutil.rmtree(temp_dir, ignore_errors=True)


def _stop(cluster: RayCluster) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        pids = cluster.processes()
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while cluster.processes() and time.monotonic() < deadline:
            time.sleep(0.2)
        if not cluster.processes():
            return
