"""The README's takedown walkthrough runs as written: examples/takedown_walkthrough.sh, against a
real server, from filing to withdrawal, evidence pack and audit check."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from essentials import essential_missing

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "takedown_walkthrough.sh"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_readme_walkthrough_files_removes_sweeps_withdraws_and_checks_the_evidence() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        essential_missing(f"the walkthrough needs {', '.join(missing)}, which this machine lacks")
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PORT": str(_free_port()), "DEEPSHIELD_BIN": str(bin_dir / "deepshield"),
           "DEEPSHIELD_PYTHON": sys.executable}
    for name in [n for n in env if n.startswith("DEEPSHIELD_") and n not in (
            "DEEPSHIELD_BIN", "DEEPSHIELD_PYTHON")]:
        del env[name]  # the walkthrough makes its own home and SQLite store
    result = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert '"state": "valid"' in output
    assert '{"item_id":"post-1001","distance":' in output and '"status":"flagged"' in output
    assert "post-1002" in output and '"item_id":"post-1002","distance"' not in output
    assert '{"item_id":"post-2001","status":"blocked","blocked":true}' in output
    assert '"state": "withdrawn"' in output
    assert "matches for a copy of the photo: 0" in output
    assert "valid: unchanged since it was signed by a trusted signer" in output
    assert "The audit log is intact" in output
    # The script's own last line; stderr may end with a library's warning (a deprecation, say).
    assert result.stdout.rstrip().endswith("Walkthrough complete.")
