"""Fuzz every route of the HTTP API from its own OpenAPI description, as every role (schemathesis).

Usage::

    .venv/bin/python bench/fuzz_api.py [--requests 20000] [--minutes 25] [--seed 1] [--json]

Set-up: a fresh ``$DEEPSHIELD_HOME`` (SQLite) in a temporary folder; the app (``create_app``)
served by uvicorn on ``127.0.0.1`` in this process; one API key per role (admin, platform,
helpline, partner, provider); a bank with an entry, registered content and a takedown case filed
through the public door, whose case number and PIN make the ``victim`` role
(``Authorization: Basic``); and ``anonymous`` (no ``Authorization`` header at all).

Each round sends, for every (role, operation) pair, ``--per-round`` cases that schemathesis
generates from ``/openapi.json`` (half valid by the schema, half not), with the path parameters
either generated or set to the known bank, entry, case and content item so the deeper code runs.
Every response is checked:

* ``not_a_server_error``: no 5xx;
* ``status_code_conformance``: the status is one that the operation documents;
* ``content_type_conformance`` and ``response_schema_conformance``: the body is what the
  schema says for that status.

Rounds go on until ``--requests`` requests are sent or ``--minutes`` are spent. The report:
requests per role, failures (deduplicated by operation, check and status, each with a curl
reproducer), and the time. Exit status 1 when any failure was found.

The same harness, with a few examples per pair, is the short run in tests/fuzz/test_api_fuzz.py.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transport.requests import REQUESTS_TRANSPORT, binary_serializer

from deepshield.api.app import create_app
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services.access import KEY_ROLES, Principal, Role
from deepshield.services.api_keys import create_key
from deepshield.settings import CaseSettings, Settings

# The C2PA manifest store upload (PUT /manifests/{id}) is raw bytes, like application/octet-stream.
REQUESTS_TRANSPORT.serializer("application/c2pa", "application/x-ndjson")(binary_serializer)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from live_server import serving  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
ROLES = (*tuple(sorted(role.value for role in KEY_ROLES)), "victim", "anonymous")
BANK = "fuzz-bank"
ITEM = "fuzz-item-1"
PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"


def complete_form() -> dict[str, Any]:
    """A complete takedown request, as a victim files it through the public door."""
    return {
        "requester_role": "victim",
        "signature": {"name": "Alex Example", "statement_ticked": True},
        "locations": [{"url": "https://platform.example/p/123"}],
        "good_faith": True,
        "contact": {"email": "survivor-fuzz@example.org"},
        "jurisdiction": {"depicted_person_country": "AU", "platform_countries": ["AU", "US"]},
        "age_check": {"depicted_under_18": False},
        "safety_check": {"in_immediate_danger": False},
        "hashes": [{"type": "pdq", "value": PDQ}],
    }


@dataclass
class Target:
    """A served app: its base URL, the headers of every role, and known path parameter values."""

    base_url: str
    openapi: dict[str, Any]
    headers: dict[str, dict[str, str]]
    known: dict[str, Any]


def fuzz_settings(home: Path, database_url: str = "") -> Settings:
    """Settings for fuzzing: a cheap PIN KDF and no public filing cap (the requests are many)."""
    cases = CaseSettings(pin_kdf_log2_n=10, public_cases_per_address_per_day=0, pin_max_failures=10**6)
    return dataclasses.replace(Settings(home=home, database_url=database_url), cases=cases)


@contextmanager
def serve_target(app_settings: Settings) -> Iterator[Target]:
    """Serve the app on ``app_settings`` (rate limit off) with keys, a bank, content and a case."""
    app = create_app(app_settings)
    app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    with serving(app, "the fuzzed API") as base_url:
        ctx = app.state.context
        headers: dict[str, dict[str, str]] = {"anonymous": {}}
        for role in sorted(KEY_ROLES):
            _, token = create_key(ctx, role, f"fuzz {role.value}", Principal("bench:fuzz_api", Role.ADMIN))
            headers[role.value] = {"Authorization": f"Bearer {token}"}
        with requests.Session() as http:
            def post(path: str, role: str, **kwargs: Any) -> dict[str, Any]:
                response = http.post(base_url + path, headers=headers[role], timeout=30, **kwargs)
                assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
                return response.json()  # type: ignore[no-any-return]

            post("/v1/banks", "admin", json={"name": BANK, "description": "fuzzing"})
            post(f"/v1/banks/{BANK}/entries", "admin",
                 json={"signals": [{"type": "pdq", "value": PDQ}], "case_ref": "FUZZ-1"})
            filed = post("/v1/requests/public", "anonymous", json=complete_form())
            case_number, pin = filed["case"]["case_number"], filed["pin"]
            post("/v1/content", "platform",
                 json={"items": [{"item_id": ITEM, "signals": [{"type": "pdq", "value": PDQ}]}]})
            openapi = http.get(base_url + "/openapi.json", timeout=30).json()
        basic = base64.b64encode(f"{case_number}:{pin}".encode()).decode()
        headers["victim"] = {"Authorization": f"Basic {basic}"}
        known = {"name": BANK, "entry_id": 1, "case_number": case_number, "appeal_id": 1, "item_id": ITEM,
                 "manifest_id": "urn:uuid:00000000-0000-4000-8000-000000000000"}
        yield Target(base_url, openapi, headers, known)


@dataclass
class Failure:
    role: str
    operation: str
    check: str
    status: int
    title: str
    reproducer: str
    count: int = 1


@dataclass
class Report:
    requests_by_role: Counter[str] = field(default_factory=Counter)
    requests_by_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, str, int, str], Failure] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.requests_by_role.values())

    def record_failure(self, failure: Failure) -> None:
        key = (failure.operation, failure.check, failure.status, failure.title)
        if key in self.failures:
            self.failures[key].count += 1
        else:
            self.failures[key] = failure

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "requests_by_role": dict(sorted(self.requests_by_role.items())),
            "operations": len(self.requests_by_operation),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "failures": [dataclasses.asdict(f) for f in self.failures.values()],
            "seconds": round(self.seconds, 1),
        }


def operations(openapi: dict[str, Any]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(openapi)
    return [result.ok() for result in schema.get_all_operations()]


def _strategy(operation: Any, known: dict[str, Any]) -> st.SearchStrategy[Any]:
    names = {p.name for p in operation.path_parameters}
    fixed = {name: value for name, value in known.items() if name in names}
    choices = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
               operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
    if fixed:
        choices.append(operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=fixed))
        choices.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, path_parameters=fixed))
    return st.one_of(choices)


def _describe(error: BaseException) -> list[tuple[str, str]]:
    """(check name, title) of each failure in a schemathesis FailureGroup, or of another error."""
    found = getattr(error, "exceptions", None)
    if found:
        return [(type(f).__name__, getattr(f, "title", str(f))) for f in found]
    return [(type(error).__name__, str(error)[:200])]


def fuzz(target: Target, report: Report, *, per_pair: int, rng_seed: int, roles: tuple[str, ...] = ROLES,
         deadline: float | None = None, only: Callable[[str], bool] | None = None) -> None:
    """Send ``per_pair`` generated requests for every (role, operation) pair; record failures."""
    with requests.Session() as session:
        for operation in operations(target.openapi):
            label = operation.label
            if only is not None and not only(label):
                continue
            strategy = _strategy(operation, target.known)
            for role in roles:
                if deadline is not None and time.monotonic() > deadline:
                    return
                _send_examples(target, report, session, strategy, label, role, per_pair, rng_seed)


def _send_examples(target: Target, report: Report, session: requests.Session, strategy: Any, label: str,
                   role: str, per_pair: int, rng_seed: int) -> None:
    headers = target.headers[role]

    @seed(rng_seed)
    @settings(max_examples=per_pair, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def one(case: Any) -> None:
        try:
            response = case.call(base_url=target.base_url, session=session, headers=headers, timeout=60)
        except requests.RequestException as error:
            report.record_failure(Failure(role, label, "transport", 0, repr(error)[:200], ""))
            return
        report.requests_by_role[role] += 1
        report.requests_by_operation[label] += 1
        report.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers,
                                   transport_kwargs={"base_url": target.base_url})
        except (FailureGroup, Exception) as error:
            curl = case.as_curl_command(headers=headers, verify=False)
            for check, title in _describe(error):
                report.record_failure(Failure(role, label, check, response.status_code, title, curl[:2000]))

    one()


def run(total_requests: int, minutes: float, rng_seed: int, per_round: int) -> Report:
    report = Report()
    started = time.monotonic()
    deadline = started + minutes * 60
    with tempfile.TemporaryDirectory(prefix="deepshield-fuzz-") as home, \
            serve_target(fuzz_settings(Path(home))) as target:
        round_number = 0
        while report.total < total_requests and time.monotonic() < deadline:
            fuzz(target, report, per_pair=per_round, rng_seed=rng_seed + round_number, deadline=deadline)
            round_number += 1
            print(f"round {round_number}: {report.total} requests, {len(report.failures)} distinct failures, "
                  f"{time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    report.seconds = time.monotonic() - started
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="stop after this many requests")
    parser.add_argument("--minutes", type=float, default=25.0, help="stop after this long")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-round", type=int, default=10, help="requests per (role, operation) a round")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = run(args.requests, args.minutes, args.seed, args.per_round)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        rate = report.total / max(report.seconds, 1e-9)
        print(f"requests: {report.total} in {report.seconds:.0f} s ({rate:.1f}/s), "
              f"operations: {len(report.requests_by_operation)}")
        for role, count in sorted(report.requests_by_role.items()):
            print(f"  {role:<10} {count}")
        print("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(report.statuses.items())))
        print(f"distinct failures: {len(report.failures)}")
        for failure in report.failures.values():
            print(f"- [{failure.role}] {failure.operation}: {failure.check} (status {failure.status}, "
                  f"x{failure.count}): {failure.title}\n    {failure.reproducer[:400]}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
