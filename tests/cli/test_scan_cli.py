"""``deepshield scan`` (issue 17): the summary, the errors, and a scan killed with -9 then resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from scan_archives import BANKED_SEEDS, bank_photos, build_archive, result_rows

DEEPSHIELD = Path(sys.executable).with_name("deepshield")


def test_scan_prints_a_summary_and_writes_the_rows(ctx, cli_env, run, tmp_path):
    bank_photos(ctx)
    archive = build_archive(tmp_path / "archive", 4)
    code, out, err = run("scan", str(archive), "--out", str(tmp_path / "out.jsonl"))
    assert code == 0, (out, err)
    assert "Scanned 10 files" in out and "3 matched" in out and "3 errors" in out and "files/s" in out
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    rows = {row["content_id"]: row for row in map(json.loads, lines)}
    assert {name for name, row in rows.items() if row["matches"]} == {f"copy-{s}.jpg" for s in BANKED_SEEDS}
    summary = run.json("scan", str(archive), "--out", str(tmp_path / "out.parquet"))
    assert (summary["files"], summary["matched"], summary["errors"], summary["finished"]) == (10, 3, 3, True)


def test_scan_refuses_what_it_cannot_do_with_a_message(ctx, cli_env, run, tmp_path, monkeypatch):
    code, _, err = run("scan", str(tmp_path / "missing"), "--out", str(tmp_path / "out.jsonl"))
    assert code == 3 and "no such folder or listing file" in err
    code, _, err = run("scan", str(tmp_path), "--out", str(tmp_path / "out.txt"))
    assert code == 3 and "JSON Lines (.jsonl) or Parquet" in err
    code, _, err = run("scan", str(tmp_path), "--out", str(tmp_path / "out.jsonl"), "--resume")
    assert code == 3 and "no scan into" in err
    # Where Ray is not installed, --ray says how to install it (and the local mode needs nothing).
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.data", None)
    code, _, err = run("scan", str(tmp_path), "--out", str(tmp_path / "out.jsonl"), "--ray", "auto")
    assert code == 3 and "pip install 'deepshield[ray]'" in err


@pytest.mark.serial
def test_a_scan_killed_with_sigkill_resumes_without_losing_or_repeating_a_file(ctx, cli_env, tmp_path):
    bank_photos(ctx)
    archive = build_archive(tmp_path / "archive", 150)
    env = cli_env.process_env()
    straight = tmp_path / "straight.jsonl"
    subprocess.run([str(DEEPSHIELD), "scan", str(archive), "--out", str(straight)], env=env, check=True,
                   capture_output=True, timeout=300)
    out = tmp_path / "out.jsonl"
    process = subprocess.Popen([str(DEEPSHIELD), "scan", str(archive), "--out", str(out)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.read_bytes().count(b"\n") < 40):
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    written = out.read_bytes().count(b"\n")
    assert 40 <= written < 156, written  # stopped part-way
    resumed = subprocess.run([str(DEEPSHIELD), "scan", str(archive), "--out", str(out), "--resume", "--json"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed"] == written
    assert summary["resumed"] + summary["scanned"] == summary["files"] == 156
    rows = result_rows(out)
    assert Counter(json.loads(row)["content_id"] for row in rows).most_common(1)[0][1] == 1  # none twice
    assert rows == result_rows(straight)  # none lost, and the same rows
    assert summary["matched"] == 3 and summary["errors"] == 3
