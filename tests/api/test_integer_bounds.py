"""Every integer a request carries is range-checked: a 4xx, never a 500 (issue 12, fix 6).

A number past SQL's BIGINT (2**63 - 1) used to reach the database driver, raise OverflowError,
answer 500, and close the keep-alive connection under the next request. Each case here sends one
such number over a real keep-alive connection to a live server, expects a 4xx in the API's error
shape, then sends the next request on the same connection (the same local port) and expects 200.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from deepshield.api.app import create_app
from deepshield.api.schemas import MAX_INT
from deepshield.services.access import Role
from deepshield.services.api_keys import create_key
from deepshield.settings import Settings
from live_server import serving
from principals import SETUP

TOO_BIG = 2**63  # one past BIGINT
HUGE = 99999999999999999999999
PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"
CASE = "DS-AAAA-AAAA-AAAA"
A, P = Role.ADMIN, Role.PARTNER

# (method, path, JSON body or None, whose key is sent: None for a public route)
Probe = tuple[str, str, Any, Role | None]


def _quality(value: int) -> list[dict[str, Any]]:
    return [{"type": "pdq", "value": PDQ, "quality": value}]


def _probes(big: int) -> dict[str, Probe]:
    return {
        "exchange updates checkpoint": ("GET", f"/v1/exchange/updates?checkpoint={big}", None, P),
        "exchange updates limit": ("GET", f"/v1/exchange/updates?limit={big}", None, P),
        "exchange feedback entry_id": ("POST", "/v1/exchange/feedback",
                                       {"feedback": [{"entry_id": big, "status": "Blocked"}]}, P),
        "cases limit": ("GET", f"/v1/cases?limit={big}", None, A),
        "cases due hours": ("GET", f"/v1/cases/due?hours={big}", None, A),
        "appeal id": ("POST", f"/v1/cases/{CASE}/appeals/{big}/decision",
                      {"outcome": "upheld", "reasons": "r"}, A),
        "content flagged case id": ("GET", f"/v1/content/flagged?case={big}", None, A),
        "content flagged limit": ("GET", f"/v1/content/flagged?limit={big}", None, A),
        "content quality": ("POST", "/v1/content",
                            {"items": [{"item_id": "post-1", "signals": _quality(big)}]}, A),
        "audit events limit": ("GET", f"/v1/audit/events?limit={big}", None, A),
        "notifications limit": ("GET", f"/v1/notifications?limit={big}", None, A),
        "notifications deliver limit": ("POST", f"/v1/notifications/deliver?limit={big}", None, A),
        "match quality": ("POST", "/v1/match", {"signals": _quality(big)}, A),
        "bank entries quality": ("POST", "/v1/banks/b/entries", {"signals": _quality(big)}, A),
        "request hash quality": ("POST", "/v1/requests", {"hashes": _quality(big)}, A),
        "public request hash quality": ("POST", "/v1/requests/public", {"hashes": _quality(big)}, None),
        "case update hash quality": ("PATCH", f"/v1/cases/{CASE}", {"hashes": _quality(big)}, A),
    }


PROBES = {f"{name} = {label}": probe for big, label in ((TOO_BIG, "2**63"), (HUGE, "1e23"))
          for name, probe in _probes(big).items()}
PROBES["exchange updates checkpoint = -1"] = ("GET", "/v1/exchange/updates?checkpoint=-1", None, P)
PROBES["exchange updates checkpoint = -1e23"] = ("GET", f"/v1/exchange/updates?checkpoint=-{HUGE}", None, P)
PROBES["cases due hours = nan"] = ("GET", "/v1/cases/due?hours=nan", None, A)
PROBES["cases due hours = inf"] = ("GET", "/v1/cases/due?hours=inf", None, A)
PROBES["exchange feedback entry_id = 0"] = ("POST", "/v1/exchange/feedback",
                                            {"feedback": [{"entry_id": 0, "status": "Blocked"}]}, P)


class Live:
    def __init__(self, url: str, tokens: dict[Role, str]) -> None:
        self.url = url
        self.tokens = tokens

    def headers(self, role: Role | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role is not None else {}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One live server (SQLite) for the whole sweep: the bounds are checked before any store."""
    home = Path(tmp_path_factory.mktemp("bounds")) / "home"
    app = create_app(Settings(home=home, database_url=f"sqlite:///{home.parent / 'db.sqlite'}"))
    with serving(app, "the bounds server") as url:
        yield Live(url, {role: create_key(app.state.context, role, f"bounds {role.value}", SETUP)[1]
                         for role in (Role.ADMIN, Role.PARTNER)})


def _local_port(response: httpx.Response) -> Any:
    return response.extensions["network_stream"].get_extra_info("client_addr")


def _then_healthy(client: httpx.Client, first: httpx.Response) -> None:
    """The next request goes over the same connection, and is answered."""
    port = _local_port(first)
    after = client.get("/v1/health")
    assert after.status_code == 200, after.text
    assert _local_port(after) == port, "the server closed the keep-alive connection"


@pytest.mark.parametrize("probe", list(PROBES.values()), ids=list(PROBES))
def test_an_out_of_range_integer_is_a_4xx_and_the_connection_lives_on(live: Live, probe: Probe) -> None:
    method, path, body, role = probe
    with httpx.Client(base_url=live.url, timeout=30) as client:
        assert client.get("/v1/health").status_code == 200  # opens the connection
        response = client.request(method, path, json=body, headers=live.headers(role))
        # 400 or 422, never 401/403/404: the number itself is what is refused.
        assert response.status_code in (400, 422), f"{response.status_code}: {response.text}"
        assert set(response.json()) == {"error", "detail"}, response.text
        assert response.headers.get("connection", "").lower() != "close"
        _then_healthy(client, response)


def test_the_largest_integer_is_accepted(live: Live) -> None:
    with httpx.Client(base_url=live.url, timeout=30, headers=live.headers(Role.PARTNER)) as client:
        page = client.get(f"/v1/exchange/updates?checkpoint={MAX_INT}")
        assert page.status_code == 200, page.text
        assert page.json() == {"updates": [], "checkpoint": MAX_INT, "more": False}
        feedback = client.post("/v1/exchange/feedback",
                               json={"feedback": [{"entry_id": MAX_INT, "status": "Blocked"}]})
        assert feedback.status_code == 404, feedback.text  # in range, and no such entry


def test_a_checkpoint_past_bigint_is_refused_on_every_store(tmp_path: Path, database_url: str) -> None:
    """The report's own request, on SQLite and PostgreSQL."""
    app = create_app(Settings(home=tmp_path / "home", database_url=database_url))
    with serving(app) as url:
        _, partner = create_key(app.state.context, Role.PARTNER, "partner", SETUP)
        with httpx.Client(base_url=url, timeout=30, headers={"Authorization": f"Bearer {partner}"}) as client:
            response = client.get(f"/v1/exchange/updates?checkpoint={HUGE}")
            assert response.status_code == 422, response.text
            assert response.json()["error"] == "invalid_request"
            assert "checkpoint" in response.json()["detail"]
            _then_healthy(client, response)


def test_an_overflow_nobody_bounded_is_a_400_not_a_reset(tmp_path: Path) -> None:
    """The last resort: an OverflowError out of the store answers 400 and keeps the connection."""
    app: FastAPI = create_app(Settings(home=tmp_path / "home"))

    async def overflowing() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    app.add_api_route("/test/overflow", overflowing)
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        response = client.get("/test/overflow")
        assert response.status_code == 400, response.text
        assert response.json() == {"error": "invalid_request",
                                   "detail": "a number in the request is out of range"}
        _then_healthy(client, response)
