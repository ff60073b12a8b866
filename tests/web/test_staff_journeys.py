"""The staff journeys of issue 14, each against a real server and database, in a real Chromium:

- the helpline's: sign in, file a request on someone's behalf with the files hashed in the browser
  (no request carries the image; the hashes are the server's own, bit for bit), get the case number
  and PIN, then follow the case in the list and on its page;
- the reviewer's: the queue in deadline order, the case, "remove", the sweep listing the platform's
  copy with its distance, and a re-upload of the image blocked;
- who may open which staff page, checked against a literal table written here (not computed from
  the code under test), over plain HTTP.
"""

from __future__ import annotations

import io
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from case_forms import image_hash, request_form
from deepshield.services import web_sessions
from deepshield.services.access import Principal, Role
from deepshield.services.spread import content_registry
from deepshield.services.spread.hashing import hash_media
from deepshield.services.spread.matching import match_media
from deepshield.services.takedown import intake, review, victim_access
from deepshield.signals.pdq import pdq_distance
from deepshield.store.models import utcnow
from factories import encode_image, photo_pixels
from web_site import Site, assert_accessible, script_problems, sign_in_staff, staff_client


def resized_copy(pixels: np.ndarray) -> bytes:
    """A re-upload as a platform sees one: scaled down and re-encoded at a lower JPEG quality."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((400, 300)).save(buffer, "JPEG", quality=60)
    return buffer.getvalue()


@pytest.mark.browser
def test_the_helpline_files_for_someone_with_browser_hashes_and_follows_the_case(
        site: Site, page: Any, tmp_path: Path, save_screenshots: Any) -> None:
    image = encode_image(photo_pixels(61))
    photo = tmp_path / "holiday.jpg"
    photo.write_bytes(image)
    sent: list[bytes] = []
    page.on("request", lambda request: sent.append(request.post_data_buffer or b""))

    sign_in_staff(page, site, Role.HELPLINE)
    page.goto(f"{site.url}/staff/helpline/file")
    page.wait_for_function("() => document.getElementById('hasher-status').textContent"
                           ".startsWith('This browser makes fingerprints correctly')")
    page.set_input_files("#files", str(photo))
    page.wait_for_selector('#file-list li[data-state="done"]')
    assert page.locator("#file-list img").count() == 1  # the thumbnail, from the local file
    assert page.locator('#browser-hashes input[name="hash"]').count() == 3  # PDQ, SHA-256, MD5
    save_screenshots(page, "helpline-file-hashed")

    page.get_by_label("Web addresses, one per line").fill("https://forum.example/t/9")
    page.get_by_label("The requester").select_option("victim")
    page.get_by_label("Name, typed as the signature").fill("Robin Example")
    page.get_by_label("I declare the information in this request is accurate").check()
    page.get_by_label("I have a good-faith belief").check()
    page.get_by_label("Email address for updates").fill("robin.private@example.org")
    page.get_by_label("Country where the person depicted lives").fill("GB")
    page.get_by_label("Where the website or app is based").fill("US")
    page.get_by_label("No, 18 or older").check()
    with page.expect_navigation():
        page.get_by_role("button", name="File the request").click()
    assert page.get_by_role("heading", name="The request is filed").is_visible()
    number = page.locator("#filed-case-number").inner_text()
    pin = page.locator("#filed-pin").inner_text()
    assert_accessible(page)
    save_screenshots(page, "helpline-filed")

    # Only hashes left the browser: no request carried the image or any sizeable part of it.
    assert sent and not any(image[2000:2064] in body or image[-64:] in body for body in sent)
    # The browser's hashes are the server's own for this file: the image matches its case's
    # hashes at distance 0, exact digests included.
    _, outcome = match_media(site.ctx, image, site.principal(Role.PLATFORM))
    reports_bank = site.ctx.settings.cases.reports_bank
    reports = {m.signal_type: m.distance for m in outcome.matches if m.bank == reports_bank}
    assert reports == {"pdq": 0, "md5": 0, "sha256": 0}
    victim = victim_access.victim_principal(site.ctx, number, pin)
    assert victim_access.victim_status(site.ctx, victim).state == "valid"

    # Following the case: its page, then the list, with state and clocks counting down.
    page.get_by_role("link", name="Follow this case").click()
    page.wait_for_url(f"**/staff/helpline/cases/{number}")
    assert page.get_by_text("Awaiting a decision").first.is_visible()
    clocks = page.locator("table.clocks")
    assert clocks.get_by_text("Remove the content").is_visible()
    assert clocks.locator(".countdown").first.inner_text().startswith("in ")
    summary = page.locator("#victim-summary").inner_text()
    assert summary.startswith("Your request is complete and is being reviewed.")
    page.get_by_role("link", name="Our cases", exact=True).click()
    page.wait_for_url("**/staff/helpline")
    row = page.locator(f'tr:has(a[href="/staff/helpline/cases/{number}"])')
    assert row.get_by_text("Awaiting a decision").is_visible()
    assert re.fullmatch(r"in (23 h \d+ min|1 d 23 h)", row.locator(".countdown").inner_text())
    assert script_problems(page) == []


@pytest.mark.browser
def test_the_reviewer_removes_and_the_sweep_lists_the_copy_and_a_reupload_is_blocked(
        site: Site, page: Any, save_screenshots: Any) -> None:
    platform = site.principal(Role.PLATFORM)
    pixels = photo_pixels(71)
    original, copy, other = encode_image(pixels), resized_copy(pixels), encode_image(photo_pixels(72))
    earlier = intake.file_request(site.ctx, request_form(site.ctx, seed=73), site.principal(Role.HELPLINE),
                                  now=utcnow() - timedelta(hours=30)).case.case_number
    form = request_form(None, locations=[{"item_id": "post/original"}])
    form["hashes"] = [image_hash(site.ctx, 71)]
    number = intake.file_request(site.ctx, form, site.principal(Role.HELPLINE)).case.case_number
    # The platform has registered its uploads by hash: a copy of the image, and an unrelated one.
    for item_id, data in (("post/copy", copy), ("post/other", other)):
        registered = content_registry.register_media(site.ctx, item_id, data, platform, uploader_ref="acct-7")
        assert registered.status == "live"
    limits = site.ctx.settings.limits
    expected = pdq_distance(hash_media(original, limits).pdq.hex, hash_media(copy, limits).pdq.hex)  # type: ignore[union-attr]
    assert 0 < expected <= site.ctx.settings.match.pdq_threshold

    sign_in_staff(page, site, Role.PLATFORM)
    assert page.url.endswith("/staff/reviewer")
    cases_in_order = page.locator("table.queue tbody tr td:first-child a").all_inner_texts()
    assert cases_in_order == [earlier, number]  # the earlier request's deadline is nearer
    page.get_by_role("link", name=number).click()
    page.wait_for_url(f"**/staff/reviewer/cases/{number}")
    assert page.locator("table").get_by_text("post/original").is_visible()
    page.get_by_label("Remove the content").check()
    page.get_by_label("Reasons").fill("An intimate image shared without the consent of the person depicted.")
    page.get_by_label("Uploader's account reference (optional)").fill("acct-7")
    with page.expect_navigation():
        page.get_by_role("button", name="Record the decision").click()
    assert page.get_by_role("status").get_by_text("The content was removed").is_visible()
    sweep = page.locator("table.sweep")
    copy_row = sweep.locator("tr", has_text="post/copy")
    assert copy_row.get_by_text(f"{expected} bits").is_visible()
    assert copy_row.get_by_text("flagged").is_visible()
    assert sweep.get_by_text("post/other").count() == 0
    assert_accessible(page)
    save_screenshots(page, "reviewer-case-removed")

    # Later visits list the copy still waiting for action, and the reviewer can mark it taken down.
    page.goto(f"{site.url}/staff/reviewer/cases/{number}")
    flagged = page.locator("table.flagged")
    assert flagged.get_by_role("cell", name="post/copy", exact=True).is_visible()
    with page.expect_navigation():
        flagged.get_by_role("button", name="Mark removed: post/copy").click()
    assert page.get_by_role("status").get_by_text("The item is marked removed.").is_visible()
    assert page.get_by_text("No registered copy is waiting for action.").is_visible()

    # A re-upload of the image is refused where the platform registers uploads, and matches the block bank.
    answer = httpx.post(f"{site.url}/v1/content", headers=site.headers(Role.PLATFORM),
                        files={"file": ("again.jpg", resized_copy(pixels), "image/jpeg")},
                        data={"item_id": "post/again"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["items"][0]["blocked"] is True
    block_bank = site.ctx.settings.cases.block_bank
    deadline = time.monotonic() + 5  # the matcher catches up with new bank entries within its sync interval
    while True:
        matched = httpx.post(f"{site.url}/v1/match", headers=site.headers(Role.PLATFORM),
                             files={"file": ("again.jpg", original, "image/jpeg")}).json()["matches"]
        if any(match["bank"] == block_bank for match in matched) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any(match["bank"] == block_bank and match["distance"] == 0 for match in matched)
    assert script_problems(page) == []


#: Who may open which staff page. Written out by hand from issue 14 and docs/CASES.md: helplines
#: file and follow their own cases; reviewers (platform) and the operator (admin) review every case;
#: partners and providers have no staff pages; without a session, every page sends to the sign-in.
#: "own" is a case the helpline filed, "other" one a second helpline filed.
WHO = ("helpline", "platform", "admin", "partner", "provider", "nobody")
ACCESS: dict[str, tuple[int, ...]] = {
    #                                 helpline platform admin partner provider nobody
    "/staff/helpline":               (200,     403,     200,  403,    403,     303),
    "/staff/helpline/file":          (200,     403,     200,  403,    403,     303),
    "/staff/helpline/cases/{own}":   (200,     403,     200,  403,    403,     303),
    "/staff/helpline/cases/{other}": (404,     403,     200,  403,    403,     303),
    "/staff/reviewer":               (403,     200,     200,  403,    403,     303),
    "/staff/reviewer/cases/{own}":   (403,     200,     200,  403,    403,     303),
    "/staff/reviewer/cases/{other}": (403,     200,     200,  403,    403,     303),
    "/staff/reviewer/appeals":       (403,     200,     200,  403,    403,     303),
}  # fmt: skip


def test_who_may_open_which_staff_page_follows_the_written_table(site: Site) -> None:
    own = intake.file_request(site.ctx, request_form(site.ctx, seed=81, locations=[
        {"url": "https://forum.example/own-secret-place"}]), site.principal(Role.HELPLINE)).case.case_number
    other_token, other_key = site.add_key(Role.HELPLINE, "another helpline")
    other = intake.file_request(site.ctx, request_form(site.ctx, seed=82, locations=[
        {"url": "https://forum.example/other-secret-place"}]),
        Principal(f"key:{other_key}", Role.HELPLINE)).case.case_number
    clients = {"helpline": Role.HELPLINE, "platform": Role.PLATFORM, "admin": Role.ADMIN,
               "partner": Role.PARTNER, "provider": Role.PROVIDER, "nobody": None}
    for who, role in clients.items():
        with staff_client(site, role) as client:
            for pattern, expected in ACCESS.items():
                path = pattern.format(own=own, other=other)
                response = client.get(path)
                assert response.status_code == expected[WHO.index(who)], (who, path, response.status_code)
                if response.status_code == 303:
                    assert response.headers["location"] == "/staff/sign-in"
                if response.status_code in (403, 404):
                    # A refusal shows nothing of the case: not its places, nor any table of it.
                    assert "secret-place" not in response.text and "<table" not in response.text
    # The second helpline sees its own case, and the first helpline's as one that does not exist.
    with staff_client(site, None, token=other_token) as client:
        assert client.get(f"/staff/helpline/cases/{other}").status_code == 200
        refused = client.get(f"/staff/helpline/cases/{own}")
        assert refused.status_code == 404 and "no case with that number is visible to you" in refused.text
        assert "own-secret-place" not in refused.text
    with staff_client(site, Role.HELPLINE) as client:
        listed = client.get("/staff/helpline").text
        assert own in listed and other not in listed


def test_a_victims_session_opens_no_staff_page(site: Site) -> None:
    filed = intake.file_request(site.ctx, request_form(site.ctx, seed=83), site.principal(Role.HELPLINE))
    number = filed.case.case_number
    session = web_sessions.sign_in_victim(site.ctx, number, filed.pin or "")
    # Her own session cookie, and the same token slipped into the staff cookie: neither opens a staff page.
    for cookie in ("ds_case", "ds_staff"):
        with httpx.Client(base_url=site.url, cookies={cookie: session.token}) as client:
            for path in ACCESS:
                response = client.get(path.format(own=number, other=number))
                assert response.status_code == 303, (cookie, path)
                assert response.headers["location"] == "/staff/sign-in"
            refused = client.post(f"/staff/reviewer/cases/{number}/decide", data={
                "form_token": web_sessions.form_token(session.token), "decision": "declined",
                "reasons": "The content is not intimate."})
            assert refused.status_code == 303
    assert review.get_case(site.ctx, number, site.principal(Role.ADMIN)).state == "valid"
