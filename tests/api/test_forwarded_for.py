"""``X-Forwarded-For`` is believed only from proxies named in settings (issue 12, fix 3).

A real ``deepshield serve`` process on 127.0.0.1 with a small public bucket: a caller who rotates
the header on every request must still be limited as one address, unless 127.0.0.1 is named as a
trusted proxy, and then the header's right-most untrusted address is the client.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request

from deepshield.api.app import create_app
from deepshield.api.rate_limit import TrustedProxies, client_address
from deepshield.errors import InvalidRequest
from deepshield.settings import ServerSettings, Settings, load_settings
from live_server import ServerProcess

# The servers started here run on a database of their own, which their first start migrates.
pytestmark = pytest.mark.empty_database

BURST = 3

StartServer = Callable[..., ServerProcess]


@pytest.fixture
def start_server(tmp_path: Path, database_url: str, cheap_kdf_env: dict[str, str]) -> Iterator[StartServer]:
    """``start_server(**env)``: ``deepshield serve`` on a fresh home, a public bucket of ``BURST``
    refilled at 1 a minute, and no per-address filing cap (so only the bucket answers 429)."""
    servers: list[ServerProcess] = []

    def start(**extra: str) -> ServerProcess:
        env = {**os.environ, "DEEPSHIELD_HOME": str(tmp_path / "home"),
               "DEEPSHIELD_DATABASE_URL": database_url,
               **cheap_kdf_env, "DEEPSHIELD_PUBLIC_RATE_PER_MINUTE": "1",
               "DEEPSHIELD_PUBLIC_BURST": str(BURST), "DEEPSHIELD_PUBLIC_CASES_PER_ADDRESS_PER_DAY": "0",
               **extra}
        if "DEEPSHIELD_TRUSTED_PROXIES" not in extra:
            env.pop("DEEPSHIELD_TRUSTED_PROXIES", None)
        servers.append(ServerProcess(env, tmp_path / f"server{len(servers)}.log").start())
        return servers[-1]

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


def _file_publicly(client: httpx.Client, forwarded_for: str) -> int:
    response = client.post("/v1/requests/public", json={}, headers={"X-Forwarded-For": forwarded_for})
    assert response.status_code in (201, 429), response.text
    if response.status_code == 429:
        assert response.json()["error"] == "rate_limited"
        assert int(response.headers["Retry-After"]) >= 1
    return response.status_code


def test_a_rotated_forwarded_for_does_not_escape_the_public_limit(start_server: StartServer) -> None:
    server = start_server()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        statuses = [_file_publicly(client, f"198.51.100.{n}") for n in range(1, 11)]
    assert statuses == [201] * BURST + [429] * (10 - BURST), statuses


def test_a_trusted_proxy_s_forwarded_for_names_the_client(start_server: StartServer) -> None:
    server = start_server(DEEPSHIELD_TRUSTED_PROXIES="127.0.0.1")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        # Each address the proxy names has a bucket of its own ...
        assert [_file_publicly(client, f"198.51.100.{n}") for n in range(1, 6)] == [201] * 5
        # ... and one address is limited, whatever its own client wrote to the left of it.
        spoofed = [_file_publicly(client, f"203.0.113.{n}, 192.0.2.77") for n in range(1, 6)]
        assert spoofed == [201] * BURST + [429] * (5 - BURST), spoofed


# --- The one rule, without a server --------------------------------------------------------------


def test_without_trusted_proxies_the_peer_is_the_client_whatever_the_headers() -> None:
    proxies = TrustedProxies()
    assert proxies.client("127.0.0.1", ["198.51.100.1"]) == "127.0.0.1"
    assert proxies.client("203.0.113.9", ["198.51.100.1, 10.0.0.1"]) == "203.0.113.9"
    assert proxies.client(None, ["198.51.100.1"]) == "unknown"


def test_a_trusted_peer_gives_the_right_most_untrusted_forwarded_address() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "127.0.0.1", "2001:db8::/32"])
    # The left-most entries are the caller's own words: only the right-most untrusted one counts.
    assert proxies.client("127.0.0.1", ["6.6.6.6, 198.51.100.7"]) == "198.51.100.7"
    # Trusted hops on the right are skipped, over several headers too.
    assert proxies.client("10.1.2.3", ["6.6.6.6, 198.51.100.7", "10.9.9.9"]) == "198.51.100.7"
    assert proxies.client("2001:db8::1", ["[2001:db8::5]:443, 192.0.2.1:1234"]) == "192.0.2.1"
    # No header: the proxy itself. Only trusted hops: the left-most of them.
    assert proxies.client("127.0.0.1", []) == "127.0.0.1"
    assert proxies.client("127.0.0.1", ["10.0.0.2, 10.0.0.3"]) == "10.0.0.2"
    # Garbage where the client should be is not believed: the last trusted hop stands for it.
    assert proxies.client("127.0.0.1", ["198.51.100.7, not-an-address"]) == "127.0.0.1"
    # An untrusted peer's header is ignored.
    assert proxies.client("192.0.2.50", ["10.0.0.2"]) == "192.0.2.50"
    # An IPv4 peer seen through an IPv6 socket is the same peer.
    assert proxies.client("::ffff:127.0.0.1", ["198.51.100.8"]) == "198.51.100.8"


def test_trusted_proxies_come_from_the_environment_and_bad_ones_are_refused() -> None:
    settings = load_settings({"DEEPSHIELD_TRUSTED_PROXIES": " 10.0.0.0/8, 127.0.0.1 ,"})
    assert settings.server.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert TrustedProxies(settings.server.trusted_proxies).trusts(None) is False
    with pytest.raises(InvalidRequest, match="TRUSTED_PROXIES"):
        TrustedProxies(["10.0.0.0/33"])
    with pytest.raises(InvalidRequest, match="TRUSTED_PROXIES"):
        TrustedProxies(["proxy.example"])


def test_the_app_takes_its_limiter_and_proxies_from_settings(tmp_path: Path, database_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The limiter and the proxies come from the app's Settings, never from os.environ."""
    monkeypatch.setenv("DEEPSHIELD_PUBLIC_RATE_PER_MINUTE", "999")
    monkeypatch.setenv("DEEPSHIELD_TRUSTED_PROXIES", "0.0.0.0/0")
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        server=ServerSettings(trusted_proxies=("127.0.0.1",), public_rate_per_minute=7,
                                              public_burst=4))
    app = create_app(settings)
    assert (app.state.public_rate_limiter.rate_per_minute, app.state.public_rate_limiter.burst) == (7, 4)
    assert app.state.trusted_proxies.trusts(ipaddress.ip_address("127.0.0.1"))
    assert not app.state.trusted_proxies.trusts(ipaddress.ip_address("127.0.0.2"))
    with pytest.raises(InvalidRequest):
        create_app(settings.with_overrides(server=ServerSettings(trusted_proxies=("nonsense",))))


def test_client_address_reads_the_peer_and_the_header_through_the_app_s_proxies(
        tmp_path: Path, database_url: str) -> None:
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        server=ServerSettings(trusted_proxies=("127.0.0.0/8",)))
    app = create_app(settings)

    def request(peer: str, *forwarded: str) -> Request:
        headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
        return Request({"type": "http", "app": app, "client": (peer, 5000), "headers": headers})

    assert client_address(request("127.0.0.1", "6.6.6.6, 198.51.100.3")) == "198.51.100.3"
    assert client_address(request("192.0.2.1", "198.51.100.3")) == "192.0.2.1"


def test_serve_refuses_a_malformed_trusted_proxy_with_exit_code_3(tmp_path: Path, database_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from deepshield.cli.main import app as cli_app
    from deepshield.cli.output import ExitCode

    monkeypatch.setenv("DEEPSHIELD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", database_url)
    monkeypatch.setenv("DEEPSHIELD_TRUSTED_PROXIES", "10.0.0.1,my-proxy")
    result = CliRunner().invoke(cli_app, ["serve", "--port", "1", "--json"])
    assert result.exit_code == ExitCode.INVALID_INPUT, result.output
    assert "my-proxy" in result.output
