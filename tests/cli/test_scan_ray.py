"""``deepshield scan --ray`` on a real local Ray cluster: a head and a second node (issue 17).

The cluster is started by the test with ``ray start --head`` and ``ray start --address`` (one
CPU each, on this machine). Serial: two Ray nodes and a scan keep both cores busy, and a test
kills a worker with SIGKILL. The Ray workers never open the database (the driver does), so these
tests run on SQLite only; the driver's store work is the local mode's, tested on both.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ray_cluster import RayCluster, local_ray_cluster
from scan_archives import bank_photos, build_archive, result_rows

pytestmark = pytest.mark.serial
DEEPSHIELD = Path(sys.executable).with_name("deepshield")


@pytest.fixture
def database_backend() -> str:
    return "sqlite"


@pytest.fixture(scope="module")
def ray_cluster() -> RayCluster:
    with local_ray_cluster() as cluster:
        yield cluster


def _scan(env: dict[str, str], archive: Path, out: Path, *extra: str) -> dict:
    result = subprocess.run([str(DEEPSHIELD), "scan", str(archive), "--out", str(out), "--json", *extra],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_scan_on_two_ray_nodes_equals_the_local_scan_error_rows_included(ctx, cli_env, ray_cluster,
                                                                           tmp_path):
    bank_photos(ctx)
    archive = build_archive(tmp_path / "archive", 80)
    env = cli_env.process_env()
    local = _scan(env, archive, tmp_path / "local.jsonl")
    on_ray = _scan(env, archive, tmp_path / "ray.jsonl", "--ray", ray_cluster.address)
    assert on_ray["mode"] == "ray" and local["mode"] == "local"
    assert result_rows(tmp_path / "ray.jsonl") == result_rows(tmp_path / "local.jsonl")
    for summary in (local, on_ray):
        counts = (summary["files"], summary["matched"], summary["errors"], summary["finished"])
        assert counts == (86, 3, 3, True)
    # Parquet from Ray too, and the same rows.
    _scan(env, archive, tmp_path / "ray.parquet", "--ray", ray_cluster.address)
    import pyarrow.parquet as pq

    parquet = pq.read_table(tmp_path / "ray.parquet").to_pylist()
    parquet_rows = sorted(json.dumps(row, sort_keys=True) for row in parquet)
    assert parquet_rows == result_rows(tmp_path / "local.jsonl")


def test_killing_a_ray_worker_mid_scan_loses_no_file_and_counts_none_twice(ctx, cli_env, ray_cluster,
                                                                            tmp_path):
    bank_photos(ctx)
    archive = build_archive(tmp_path / "archive", 160, width=1280, height=720)
    env = cli_env.process_env()
    local = _scan(env, archive, tmp_path / "local.jsonl")
    out = tmp_path / "ray.jsonl"
    process = subprocess.Popen([str(DEEPSHIELD), "scan", str(archive), "--out", str(out), "--json",
                                "--ray", ray_cluster.address], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 180
    while killed is None and time.monotonic() < deadline and process.poll() is None:
        busy = ray_cluster.workers("MapBatches")
        if busy:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=600)
    assert killed is not None, "no scan worker was seen to kill"
    assert process.returncode == 0, stderr
    summary = json.loads(stdout)
    assert (summary["files"], summary["scanned"], summary["matched"], summary["errors"]) == (166, 166, 3, 3)
    assert result_rows(out) == result_rows(tmp_path / "local.jsonl")
    assert local["files"] == 166
