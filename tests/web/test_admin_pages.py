"""The administration pages (``/staff/admin``): banks, keys, the live index and the audit check,
over real HTTP against a real server, and in a real Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from deepshield.services import api_keys
from deepshield.services.access import Role
from deepshield.services.spread.banks import Origin, SignalInput, add_signals, create_bank, withdraw_entry
from principals import SETUP
from web_site import Site, assert_accessible, script_problems, sign_in_staff, staff_client, staff_form_token

ADMIN_PAGES = ("/staff/admin", "/staff/admin/banks", "/staff/admin/keys", "/staff/admin/index")
NON_ADMIN_ROLES = (Role.PLATFORM, Role.HELPLINE, Role.PARTNER, Role.PROVIDER)


def _pdq_values(count: int, seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    return [f"{rng.getrandbits(256):064x}" for _ in range(count)]


@pytest.mark.parametrize("role", NON_ADMIN_ROLES, ids=lambda role: role.value)
def test_other_roles_get_a_refusal_page_without_data_and_change_nothing(site: Site, role: Role) -> None:
    create_bank(site.ctx, "secret-bank-name", "", SETUP)
    with staff_client(site, role) as client:
        form_token = staff_form_token(client)
        for path in ADMIN_PAGES:
            response = client.get(path)
            assert response.status_code == 403, (path, response.status_code)
            assert response.headers["content-type"].startswith("text/html")
            assert "This page or action is not available to you" in response.text
            others = [key_id for other, key_id in site.key_ids.items() if other is not role]
            for secret in (*others, "secret-bank-name", "Live index"):
                assert secret not in response.text, (path, secret)
        keys_before = api_keys.list_keys(site.ctx, SETUP)
        created = client.post("/staff/admin/keys", data={"form_token": form_token, "role": "admin",
                                                          "label": "sneaky", "form_id": "x" * 24})
        assert created.status_code == 403 and "ds_" not in created.text
        revoked = client.post(f"/staff/admin/keys/{site.key_ids[Role.ADMIN]}/revoke",
                              data={"form_token": form_token})
        assert revoked.status_code == 403
        assert api_keys.list_keys(site.ctx, SETUP) == keys_before
        for path in ("/staff/admin/audit/verify", "/staff/admin/index/refresh"):
            answer = client.post(path, data={"form_token": form_token})
            assert answer.status_code == 403 and "intact" not in answer.text, path


def test_admin_pages_need_a_staff_session(site: Site) -> None:
    for path in ADMIN_PAGES:
        response = httpx.get(f"{site.url}{path}")
        assert response.status_code == 303 and response.headers["location"] == "/staff/sign-in", path


def test_a_form_without_its_token_creates_no_key(site: Site) -> None:
    with staff_client(site, Role.ADMIN) as client:
        before = len(api_keys.list_keys(site.ctx, SETUP))
        response = client.post("/staff/admin/keys",
                               data={"role": "helpline", "label": "x", "form_id": "y" * 24})
        assert response.status_code == 403 and "did not come from this site" in response.text
        assert len(api_keys.list_keys(site.ctx, SETUP)) == before


def test_a_create_form_sent_twice_makes_one_key_and_shows_it_once(site: Site) -> None:
    with staff_client(site, Role.ADMIN) as client:
        form_token = staff_form_token(client)
        before = {key.key_id for key in api_keys.list_keys(site.ctx, SETUP)}
        form = {"form_token": form_token, "role": "platform", "label": "Platform Two", "form_id": "f" * 24}
        first = client.post("/staff/admin/keys", data=form)
        assert first.status_code == 200
        token = re.search(r'value="(ds_[0-9a-f]{12}_[A-Za-z0-9_-]{43})"', first.text).group(1)  # type: ignore[union-attr]
        made = {key.key_id for key in api_keys.list_keys(site.ctx, SETUP)} - before
        assert len(made) == 1 and token.startswith(f"ds_{next(iter(made))}_")
        assert api_keys.authenticate(site.ctx, token).role is Role.PLATFORM
        again = client.post("/staff/admin/keys", data=form)
        assert again.status_code == 409
        assert token not in again.text and "already sent" in again.text and next(iter(made)) in again.text
        assert {key.key_id for key in api_keys.list_keys(site.ctx, SETUP)} - before == made
        listed = client.get("/staff/admin/keys")
        assert token not in listed.text and token.split("_", 2)[2] not in listed.text
        bad_role = client.post("/staff/admin/keys", data={**form, "form_id": "g" * 24, "role": "victim"})
        assert bad_role.status_code == 400 and "cannot hold the victim role" in bad_role.text


def test_audit_verify_names_the_first_broken_event_of_a_tampered_log(site: Site) -> None:
    with staff_client(site, Role.ADMIN) as client:
        form_token = staff_form_token(client)
        intact = client.post("/staff/admin/audit/verify", data={"form_token": form_token})
        assert intact.status_code == 200 and "The audit log is intact" in intact.text
        # What an attacker with write access to the database does (tests/store/test_audit_chain.py).
        with site.ctx.store.engine.begin() as connection:
            connection.execute(text("DROP TRIGGER audit_events_append_only_update"))
            connection.execute(text("UPDATE audit_events SET actor = 'someone else' WHERE seq = 2"))
        broken = client.post("/staff/admin/audit/verify", data={"form_token": form_token})
        assert broken.status_code == 200
        assert "The audit log is broken" in broken.text and "breaks first at event 2" in broken.text
        assert "event 2" in broken.text and "altered after it was written" in broken.text


@pytest.mark.browser
def test_an_admin_creates_a_key_in_the_page_and_revoking_it_ends_its_session(
        site: Site, new_page: Callable[..., Any], save_screenshots: Callable[[Any, str], list[Any]]) -> None:
    admin = new_page()
    sign_in_staff(admin, site, Role.ADMIN)
    assert admin.url.endswith("/staff/admin")
    admin.get_by_role("link", name="API keys").first.click()
    admin.get_by_label("helpline: files requests for victims and follows them").check()
    admin.get_by_label("Label", exact=True).fill("Helpline North")
    admin.get_by_role("button", name="Create the key").click()
    admin.wait_for_load_state()
    assert admin.get_by_role("heading", name="Copy the new key now").is_visible()
    token = admin.locator("#new-key-value").input_value()
    key_id = token.split("_")[1]
    assert api_keys.authenticate(site.ctx, token).role is Role.HELPLINE
    assert any(key.key_id == key_id and key.label == "Helpline North"
               for key in api_keys.list_keys(site.ctx, SETUP))
    assert_accessible(admin)
    save_screenshots(admin, "admin-keys-new-key")

    # Reloading the answer sends the form again: no second key, and the key is not shown again.
    keys_before = len(api_keys.list_keys(site.ctx, SETUP))
    admin.reload()
    assert token not in admin.content() and admin.locator("#new-key-value").count() == 0
    assert "already sent" in admin.locator("#keys-notice").inner_text()
    assert len(api_keys.list_keys(site.ctx, SETUP)) == keys_before
    admin.goto(f"{site.url}/staff/admin/keys")
    assert token not in admin.content()
    assert_accessible(admin)
    save_screenshots(admin, "admin-keys")
    admin.set_viewport_size({"width": 360, "height": 800})
    assert_accessible(admin, what="the keys page at 360 px")
    # At 360 px the table scrolls inside its own region; the page itself does not.
    assert admin.evaluate("() => document.documentElement.scrollWidth") <= 360
    admin.set_viewport_size({"width": 1280, "height": 900})

    # The new key's holder signs in in a browser of her own.
    holder = new_page()
    sign_in_staff(holder, site, Role.HELPLINE, token=token)
    holder.goto(f"{site.url}/staff/transparency")
    assert holder.url.endswith("/staff/transparency")

    admin.get_by_role("button", name=f"Revoke key {key_id}").click()
    admin.wait_for_load_state()
    assert f"Key {key_id} is revoked" in admin.locator("#keys-notice").inner_text()
    row = admin.locator(f'tr[data-key-id="{key_id}"]')
    assert "Revoked" in row.inner_text() and row.get_by_role("button").count() == 0

    holder.goto(f"{site.url}/staff/transparency")
    assert holder.url.endswith("/staff/sign-in")
    assert "ds_staff" not in {cookie["name"] for cookie in holder.context.cookies()}
    assert script_problems(admin) == [] and script_problems(holder) == []


@pytest.mark.browser
def test_banks_and_index_show_the_numbers_the_services_hold(
        site: Site, page: Any, save_screenshots: Callable[[Any, str], list[Any]]) -> None:
    create_bank(site.ctx, "nci-reports", "Reports from partners", SETUP)
    added = add_signals(site.ctx, "nci-reports",
                        [SignalInput("pdq", value, 100) for value in _pdq_values(5, 1)],
                        origin=Origin.HELPLINE, case_ref=None, principal=SETUP)
    withdraw_entry(site.ctx, "nci-reports", added[0].id, SETUP)
    create_bank(site.ctx, "partner-feed", "", SETUP)
    add_signals(site.ctx, "partner-feed", [SignalInput("md5", "0123456789abcdef0123456789abcdef")],
                origin=Origin.IMPORT, case_ref=None, principal=SETUP)

    sign_in_staff(page, site, Role.ADMIN)
    assert page.locator("#bank-count").inner_text() == "2"
    assert page.locator("#bank-entries").inner_text() == "5"
    assert_accessible(page)
    save_screenshots(page, "admin-overview")

    page.get_by_role("link", name="Bank sizes and recent changes").click()
    assert page.locator('[data-bank-size="nci-reports"]').inner_text() == "4"
    assert page.locator('[data-bank-size="partner-feed"]').inner_text() == "1"
    changes = page.locator("#bank-changes tbody").inner_text()
    assert "5 entries added (origin helpline)" in changes
    assert f"entry {added[0].id} withdrawn in nci-reports" in changes
    assert "1 entry added (origin import)" in changes and "bank created" in changes
    assert_accessible(page)
    save_screenshots(page, "admin-banks")

    page.get_by_role("link", name="Live index").click()
    page.get_by_role("button", name="Catch up with the banks now").click()
    page.wait_for_load_state()
    assert "caught up" in page.locator("[role=status]").inner_text()
    status = site.ctx.matcher.index_status()
    assert status.sizes["pdq"] == 4 and status.sizes["md5"] == 1
    assert page.locator('[data-index-size="pdq"]').inner_text() == "4"
    assert page.locator('[data-index-size="md5"]').inner_text() == "1"
    assert page.locator("#index-entries").inner_text() == "5"
    assert page.locator("#bank-entries").inner_text() == "5"
    assert_accessible(page)
    save_screenshots(page, "admin-index")
    assert script_problems(page) == []


@pytest.mark.browser
def test_audit_verify_runs_from_the_page_and_shows_an_intact_chain(
        site: Site, page: Any, save_screenshots: Callable[[Any, str], list[Any]]) -> None:
    sign_in_staff(page, site, Role.ADMIN)
    page.get_by_role("button", name="Check the audit log now").click()
    page.wait_for_load_state()
    result = page.locator("#audit-result")
    assert "The audit log is intact" in result.inner_text()
    checked = int(re.search(r"All (\d+) events were checked", result.inner_text()).group(1))  # type: ignore[union-attr]
    with site.ctx.store.engine.connect() as connection:
        # The check is logged after it runs: every event but that one was checked.
        assert checked == connection.execute(text("SELECT count(*) FROM audit_events")).scalar_one() - 1
    assert_accessible(page)
    save_screenshots(page, "admin-audit-verify")
    # Keyboard only: the check can be run again from the result page.
    page.get_by_role("button", name="Check the audit log now").focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert "The audit log is intact" in page.locator("#audit-result").inner_text()
    assert script_problems(page) == []
