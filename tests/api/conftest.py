"""Fixtures for the HTTP API: a running app (lifespan included) with one key per role.

Every test gets a fresh database from the shared ``settings`` fixture, so each one runs
against SQLite and PostgreSQL. Keys are made through ``services.keys.create_key`` on the
app's own context, the way ``deepshield keys create`` makes them. A module whose tests share an
expensive world starts its app once with ``start_module_api`` (on ``module_cheap_kdf_settings``).
The case routes' tests use ``case_api`` (cheap PIN KDF, no public rate limit) and ``basic``.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from deepshield.api.app import create_app
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services.access import KEY_ROLES, Principal, Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.settings import Settings

#: Who makes the test keys: an admin, as ``deepshield keys create`` is.
KEY_MAKER = Principal("test:setup", Role.ADMIN)


@dataclass
class Api:
    """A running app, its service context and a key (token and key id) for every role."""

    client: TestClient
    ctx: ServiceContext
    tokens: dict[Role, str] = field(default_factory=dict)
    key_ids: dict[Role, str] = field(default_factory=dict)

    def headers(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def actor(self, role: Role) -> str:
        return f"key:{self.key_ids[role]}"

    def principal(self, role: Role) -> Principal:
        """The principal the server finds for this role's key, for calling a service directly."""
        return Principal(self.actor(role), role)

    def upload(self, path: str, data: bytes, role: Role, filename: str = "upload.jpg",
               **fields: str) -> httpx.Response:
        """POST ``data`` as the multipart form field ``file`` (plus text ``fields``)."""
        return self.client.post(path, files={"file": (filename, data, "application/octet-stream")},
                                data=fields or None, headers=self.headers(role))

    def post_json(self, path: str, body: Any, role: Role) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers(role))

    def create_bank(self, name: str) -> None:
        response = self.post_json("/v1/banks", {"name": name}, Role.ADMIN)
        assert response.status_code == 201, response.text

    def match_upload(self, data: bytes) -> list[dict[str, Any]]:
        response = self.upload("/v1/match", data, Role.PLATFORM)
        assert response.status_code == 200, response.text
        return response.json()["matches"]

    def match_signals(self, signals: list[dict[str, Any]]) -> list[dict[str, Any]]:
        response = self.post_json("/v1/match", {"signals": signals}, Role.PLATFORM)
        assert response.status_code == 200, response.text
        return response.json()["matches"]

    def active_entries(self) -> dict[str, int]:
        response = self.client.get("/v1/banks", headers=self.headers(Role.ADMIN))
        assert response.status_code == 200, response.text
        return {bank["name"]: bank["active_entries"] for bank in response.json()}

    @staticmethod
    def expect_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
        """The response is ``status`` with exactly the body ``{"error": code, "detail": message}``."""
        assert response.status_code == status, f"{response.status_code}: {response.text}"
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert set(body) == {"error", "detail"}, body
        assert isinstance(body["detail"], str) and body["detail"], body
        if code is not None:
            assert body["error"] == code, body
        return body

    def assert_healthy(self) -> None:
        response = self.client.get("/v1/health")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"


def _start(stack: ExitStack, settings: Settings) -> Api:
    """An app on ``settings``, running until ``stack`` closes, with a key for every role."""
    client = stack.enter_context(TestClient(create_app(settings)))
    ctx: ServiceContext = client.app.state.context  # type: ignore[attr-defined]
    api = Api(client, ctx)
    for role in sorted(KEY_ROLES):
        info, token = create_key(ctx, role, f"{role.value} test key", KEY_MAKER)
        api.tokens[role], api.key_ids[role] = token, info.key_id
    return api


@pytest.fixture
def start_api() -> Iterator[Callable[[Settings], Api]]:
    """``start_api(settings)``: start an app on ``settings``; it stops when the test ends."""
    with ExitStack() as stack:
        yield functools.partial(_start, stack)


@pytest.fixture(scope="module")
def start_module_api() -> Iterator[Callable[[Settings], Api]]:
    """``start_module_api(settings)``: as ``start_api``, for a world a module builds once (on
    ``module_cheap_kdf_settings``, say); the app stops after the module's last test."""
    with ExitStack() as stack:
        yield functools.partial(_start, stack)


@pytest.fixture
def api(start_api: Callable[[Settings], Api], settings: Settings) -> Api:
    """The app on the default settings (fresh SQLite or PostgreSQL database)."""
    return start_api(settings)


# -- the case routes ---------------------------------------------------------------------------


def basic(case_number: str, pin: str) -> dict[str, str]:
    """The headers a victim signs in with: her case number and PIN, as HTTP Basic."""
    token = base64.b64encode(f"{case_number}:{pin}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def case_api_settings(cheap_kdf_settings: Settings) -> Settings:
    """The settings ``case_api`` starts on: ``cheap_kdf_settings``. A module that needs other case
    settings (a PIN lockout policy, say) overrides this fixture, building on ``cheap_kdf_settings``."""
    return cheap_kdf_settings


@pytest.fixture
def case_api(start_api: Callable[[Settings], Api], case_api_settings: Settings) -> Api:
    """An app for the case and victim routes: on ``case_api_settings`` (the cheap PIN KDF), with
    the public routes' rate limit off, since a test files many requests from one address."""
    api = start_api(case_api_settings)
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)  # type: ignore[attr-defined]
    return api
