"""The short run of the API fuzzer (bench/fuzz_api.py has the long one): every route of the
OpenAPI description, as every role (each key role, a victim with her case number and PIN, and no
key), over real HTTP to a served app on a real database (SQLite, and PostgreSQL where reachable).
No response may be a 5xx, and every response must be documented: its status listed for the
operation, its body of the schema given for that status.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepshield.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import fuzz_api

PER_PAIR = 6
CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture
def target(settings: Settings) -> Iterator[fuzz_api.Target]:
    with fuzz_api.serve_target(fuzz_api.fuzz_settings(settings.home, settings.database_url)) as served:
        yield served


def _failures(report: fuzz_api.Report) -> str:
    return "\n".join(f"[{f.role}] {f.operation}: {f.check} (status {f.status}): {f.title}\n  {f.reproducer}"
                     for f in report.failures.values())


def test_every_route_and_role_is_fuzzed_and_every_answer_is_documented(target: fuzz_api.Target) -> None:
    report = fuzz_api.Report()
    fuzz_api.fuzz(target, report, per_pair=PER_PAIR, rng_seed=12)
    assert not report.failures, _failures(report)
    operations = fuzz_api.operations(target.openapi)
    # Every operation was reached, and every role sent as many requests as the others.
    assert set(report.requests_by_operation) == {operation.label for operation in operations}
    assert set(report.requests_by_role) == set(fuzz_api.ROLES)
    assert len(set(report.requests_by_role.values())) == 1
    assert report.total >= len(operations) * len(fuzz_api.ROLES)
    # The fuzzer got past the doors too: some requests were accepted, others refused.
    assert report.statuses[200] > 0 and report.statuses[401] > 0 and report.statuses[403] > 0
    assert not [status for status in report.statuses if status >= 500]


# In a child process: the failure this guards against was a deadlock of the whole process (the
# GIL held), which no in-process timeout could interrupt.
_HASH_UPLOAD = textwrap.dedent("""
    import sys
    from pathlib import Path

    from fastapi.testclient import TestClient

    from deepshield.api.app import create_app
    from deepshield.services.access import Principal, Role
    from deepshield.services.api_keys import create_key
    from deepshield.settings import Settings

    home, upload, attempts = Path(sys.argv[1]), Path(sys.argv[2]).read_bytes(), int(sys.argv[3])
    with TestClient(create_app(Settings(home=home))) as client:
        _, token = create_key(client.app.state.context, Role.PLATFORM, "fuzz finding",
                              Principal("test", Role.ADMIN))
        for _ in range(attempts):
            response = client.post("/v1/hash", files={"file": ("upload.mov", upload)},
                                   headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 400, response.text
            assert response.json()["error"] == "corrupt_media", response.text
    print("answered", attempts)
""")


def test_a_corrupt_video_found_by_fuzzing_is_refused_without_hanging_the_server(tmp_path: Path) -> None:
    """tests/fuzz/FINDINGS.md F5: this MOV (one bit flipped by the fuzzer) deadlocked the server
    process in PyAV now and then, while FFmpeg's log went through a Python callback."""
    upload = CORPUS / "video" / "mov-one-bit-flipped-deadlock.mov"
    try:
        result = subprocess.run([sys.executable, "-c", _HASH_UPLOAD, str(tmp_path), str(upload), "30"],
                                capture_output=True, text=True, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail("POST /v1/hash of a 4 KiB corrupt MOV hung the server process")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "answered 30" in result.stdout
