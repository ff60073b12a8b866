"""The web door's frame: its headers, staff sign-in and sign-out with a session cookie, the
anti-forgery token on forms, and sessions that end. Over real HTTP and in a real Chromium."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from deepshield.errors import Unauthorized
from deepshield.services import web_sessions
from deepshield.services.access import Role
from deepshield.services.api_keys import revoke_key
from deepshield.settings import Settings
from deepshield.store.models import utcnow
from principals import SETUP
from web_site import Site, form_token_in, sign_in_staff


def test_pages_carry_the_strict_policy_and_privacy_headers(site: Site) -> None:
    response = httpx.get(f"{site.url}/staff/sign-in")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                      "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    static = httpx.get(f"{site.url}/static/css/site.css")
    assert static.status_code == 200 and static.headers["content-security-policy"] == policy


def test_the_api_keeps_its_json_errors_and_pages_get_an_html_one(site: Site) -> None:
    api = httpx.get(f"{site.url}/v1/no-such-route")
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert "content-security-policy" not in api.headers
    # Outside the pages' paths the API answers (it serves HMA's and C2PA's routes at their own paths).
    assert httpx.get(f"{site.url}/no-such-page").json()["error"] == "not_found"
    page = httpx.get(f"{site.url}/staff/no-such-page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "We could not find that page" in page.text


def test_sign_in_gives_a_strict_http_only_cookie_and_sign_out_ends_the_session(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        token = form_token_in(client.get("/staff/sign-in").text)
        response = client.post("/staff/sign-in", data={"api_key": site.tokens[Role.PLATFORM],
                                                      "form_token": token})
        assert response.status_code == 303 and response.headers["location"] == "/staff/reviewer"
        cookie = next(value for name, value in response.headers.multi_items()
                      if name == "set-cookie" and value.startswith("ds_staff="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "expires=" in cookie.lower()
        session_token = client.cookies["ds_staff"]
        assert web_sessions.session_principal(site.ctx, session_token).role is Role.PLATFORM
        # The session's forms carry the session's own token; the public one no longer works.
        home = client.get("/staff")
        assert home.status_code == 303
        signed_in_token = web_sessions.form_token(session_token)
        refused = client.post("/staff/sign-out", data={"form_token": token})
        assert refused.status_code == 403
        assert web_sessions.session_principal(site.ctx, session_token).role is Role.PLATFORM
        out = client.post("/staff/sign-out", data={"form_token": signed_in_token})
        assert out.status_code == 303
    with pytest.raises(Unauthorized):
        web_sessions.session_principal(site.ctx, session_token)


def test_cookies_are_secure_where_the_operator_says_tls_ends_at_a_proxy(
        start_site: Callable[[Settings], Site], cheap_kdf_settings: Settings) -> None:
    plain = start_site(cheap_kdf_settings)
    behind_tls = start_site(cheap_kdf_settings.with_overrides(
        server=replace(cheap_kdf_settings.server, secure_cookies=True)))
    for site, secure in ((plain, False), (behind_tls, True)):
        response = httpx.get(f"{site.url}/staff/sign-in")
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("ds_form=") and "HttpOnly" in cookie
        assert ("Secure" in cookie) is secure


def test_a_wrong_key_is_refused_with_the_services_sentence(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        token = form_token_in(client.get("/staff/sign-in").text)
        real = site.tokens[Role.ADMIN]
        wrong = real[:-1] + ("a" if real[-1] != "a" else "b")
        response = client.post("/staff/sign-in", data={"api_key": wrong, "form_token": token})
        assert response.status_code == 401
        assert "the API key is not valid" in response.text
        assert "ds_staff" not in client.cookies


def test_a_form_without_its_token_is_refused_and_does_nothing(site: Site) -> None:
    with httpx.Client(base_url=site.url) as client:
        client.get("/staff/sign-in")
        response = client.post("/staff/sign-in", data={"api_key": site.tokens[Role.ADMIN]})
        assert response.status_code == 403
        assert "did not come from this site" in response.text
        assert "ds_staff" not in client.cookies


def test_sessions_expire_and_end_when_their_key_is_revoked(site: Site) -> None:
    started = web_sessions.sign_in_with_key(site.ctx, site.tokens[Role.HELPLINE])
    assert web_sessions.session_principal(site.ctx, started.token).role is Role.HELPLINE
    later = utcnow() + timedelta(minutes=site.ctx.settings.server.staff_session_minutes + 1)
    with pytest.raises(Unauthorized):
        web_sessions.session_principal(site.ctx, started.token, now=later)
    revoke_key(site.ctx, site.key_ids[Role.HELPLINE], SETUP)
    with pytest.raises(Unauthorized):
        web_sessions.session_principal(site.ctx, started.token)


@pytest.mark.browser
def test_staff_sign_in_and_out_in_chromium(site: Site, page: Any) -> None:
    sign_in_staff(page, site, Role.PLATFORM)
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    assert cookies["ds_staff"]["httpOnly"] and cookies["ds_staff"]["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie") == ""
    page.goto(f"{site.url}/staff")
    page.goto(f"{site.url}/staff/sign-in")
    assert page.get_by_label("API key").input_value() == ""
