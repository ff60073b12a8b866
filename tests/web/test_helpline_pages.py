"""The helpline's pages: filing on someone's behalf through the plain form (no JavaScript needed
when the content is named by locations or pasted hashes), the intake's own sentences for what is
missing or malformed, a resubmitted form filing nothing twice, and the victim's view on the case
page in the very words of her own status page. Over real HTTP against a real server and
database; the browser journey is in test_staff_journeys.py."""

from __future__ import annotations

import json
from typing import Any

import pytest

from case_forms import request_form
from deepshield.cases import intake as intake_rules
from deepshield.services.access import Role
from deepshield.services.json_shapes import media_signals_json
from deepshield.services.spread.hashing import hash_media
from deepshield.services.spread.matching import match_media
from deepshield.services.takedown import intake, review, victim_access
from factories import encode_image, encode_video, photo_pixels, scene_video_frames
from web_site import (
    Site,
    accessible_at_both_widths,
    assert_accessible,
    form_token_in,
    found,
    main_text,
    sign_in_staff,
    staff_client,
)


def form_keys(html: str) -> dict[str, str]:
    """The filing form's hidden fields: the session's form token and the request's own key."""
    return {"form_token": form_token_in(html),
            "request_key": found(r'name="request_key" value="([^"]+)"', html)}


def complete_fields(site: Site, seed: int = 5) -> dict[str, Any]:
    """A complete filing, as the form's fields: a location, and a PDQ hash pasted from the CLI."""
    media = hash_media(encode_image(photo_pixels(seed)), site.ctx.settings.limits)
    assert media.pdq is not None
    return {
        "requester_role": "helpline", "signature_name": "Sam Helper", "statement_ticked": "yes",
        "location_urls": "https://forum.example/t/77\n\n", "location_item_ids": "",
        "pasted_hashes": f"pdq {media.pdq.hex} {media.pdq.quality}", "good_faith": "yes",
        "contact_email": "cases@helpline.example", "webhook_url": "", "depicted_person_country": "GB",
        "platform_countries": "US, IE", "depicted_under_18": "no",
    }


def test_a_request_filed_through_the_plain_form_shows_its_case_number_and_pin_once(site: Site) -> None:
    with staff_client(site, Role.HELPLINE) as client:
        page = client.get("/staff/helpline/file").text
        fields = {**complete_fields(site), **form_keys(page)}
        response = client.post("/staff/helpline/file", data=fields)
        assert response.status_code == 201, main_text(response.text)
        number = found(r'id="filed-case-number">(DS-[A-Z0-9-]+)<', response.text)
        pin = found(r'id="filed-pin">([^<]+)<', response.text)

        case = review.get_case(site.ctx, number, site.principal(Role.HELPLINE))
        assert case.state == "valid" and case.hash_count == 1 and case.requester_role == "helpline"
        assert [loc.location for loc in case.locations] == ["https://forum.example/t/77"]
        assert sorted(case.jurisdictions) == ["EU", "UK", "US"]
        # The PIN shown is the victim's: it opens her own status page.
        victim = victim_access.victim_principal(site.ctx, number, pin)
        assert victim_access.victim_status(site.ctx, victim).case_number == number

        # The same form sent again (a double click, a reload) files nothing twice.
        again = client.post("/staff/helpline/file", data=fields)
        assert again.status_code == 201
        assert "filed before" in main_text(again.text) and number in again.text
        assert 'id="filed-pin"' not in again.text
    assert [c.case_number for c in review.list_cases(site.ctx, site.principal(Role.HELPLINE))] == [number]


def test_hashes_pasted_from_the_command_lines_json_file_a_video_with_its_vpdq(site: Site) -> None:
    limits, min_quality = site.ctx.settings.limits, site.ctx.settings.match.pdq_min_quality
    video = encode_video(scene_video_frames(3, seconds=3))
    image = encode_image(photo_pixels(8))
    # What `deepshield hash --json` prints for the two files on the person's own device.
    printed = json.dumps([
        {"file": "/home/robin/clip.mp4", **media_signals_json(hash_media(video, limits), min_quality)},
        {"file": "/home/robin/photo.jpg", **media_signals_json(hash_media(image, limits), min_quality)},
        {"file": "/home/robin/notes.txt", "error": {"code": "unsupported_media"}}])
    with staff_client(site, Role.HELPLINE) as client:
        page = client.get("/staff/helpline/file").text
        fields = {**complete_fields(site), **form_keys(page), "pasted_hashes": printed}
        response = client.post("/staff/helpline/file", data=fields)
        assert response.status_code == 201, main_text(response.text)
        assert "/home/robin" not in response.text
    number = found(r'id="filed-case-number">(DS-[A-Z0-9-]+)<', response.text)
    # The video's vPDQ, SHA-256 and MD5, and the photo's PDQ, SHA-256 and MD5.
    assert review.get_case(site.ctx, number, site.principal(Role.HELPLINE)).hash_count == 6
    _, outcome = match_media(site.ctx, video, site.principal(Role.PLATFORM))
    assert {m.signal_type for m in outcome.matches} >= {"vpdq", "md5", "sha256"}


def test_an_incomplete_request_is_not_filed_and_the_form_says_what_it_lacks_in_the_intakes_words(
        site: Site) -> None:
    with staff_client(site, Role.HELPLINE) as client:
        page = client.get("/staff/helpline/file").text
        fields = {**complete_fields(site), **form_keys(page)}
        for left_out in ("signature_name", "contact_email", "depicted_under_18"):
            fields[left_out] = ""
        fields["statement_ticked"] = ""
        response = client.post("/staff/helpline/file", data=fields)
        assert response.status_code == 400
        text = main_text(response.text)
        expected = intake_rules.missing(intake_rules.parse_form({
            "requester_role": "helpline", "good_faith": True,
            "locations": [{"url": "https://forum.example/t/77"}]}))
        assert len(expected) == 4
        for sentence in expected:
            assert sentence in text
        # What was typed is kept, and each sentence links to its field.
        assert "https://forum.example/t/77" in response.text and 'href="#signature_name"' in response.text
    assert review.list_cases(site.ctx, site.principal(Role.HELPLINE)) == []


@pytest.mark.parametrize(("change", "sentence"), [
    ({"location_urls": "ftp://files.example/x"}, "locations[0].url: must be a web address"),
    ({"pasted_hashes": "pdq nothex 90"}, "hashes[0].value: a pdq hash is hex digits"),
    ({"pasted_hashes": "pdq"}, "hashes, line 1: write a hash as its type and value"),
    ({"pasted_hashes": '[{"file": "a.jpg", "kind": "image"}]'}, "hashes: the pasted JSON holds no hashes"),
    ({"pasted_hashes": '[{"pdq": '}, "hashes: the pasted text is not the JSON that deepshield hash --json"),
    ({"signature_name": "A" * 300}, "signature.name: String should have at most 200 characters"),
    ({"location_urls": "data:image/png;base64,iVBORw0KGgo="}, "locations[0].url: this looks like image data"),
    ({"depicted_person_country": "Narnia"}, "is not an ISO 3166 two-letter country code"),
])
def test_a_malformed_field_is_refused_with_the_sentence_naming_it_and_nothing_is_filed(
        site: Site, change: dict[str, str], sentence: str) -> None:
    with staff_client(site, Role.HELPLINE) as client:
        page = client.get("/staff/helpline/file").text
        fields = {**complete_fields(site), **form_keys(page), **change}
        response = client.post("/staff/helpline/file", data=fields)
        assert response.status_code == 400
        assert sentence in main_text(response.text)
        assert "The request was not filed" in main_text(response.text)
    assert review.list_cases(site.ctx, site.principal(Role.HELPLINE)) == []


def test_a_filing_without_the_form_token_is_refused_and_files_nothing(site: Site) -> None:
    with staff_client(site, Role.HELPLINE) as client:
        response = client.post("/staff/helpline/file", data=complete_fields(site))
        assert response.status_code == 403 and "did not come from this site" in response.text
    assert review.list_cases(site.ctx, site.principal(Role.HELPLINE)) == []


def test_the_case_page_shows_the_victims_view_in_the_words_of_her_own_status_page(site: Site) -> None:
    helpline, platform = site.principal(Role.HELPLINE), site.principal(Role.PLATFORM)
    filed = {}
    for name, changes in (("valid", {}), ("removed", {}), ("declined", {}),
                          ("in danger", {"safety_check": {"in_immediate_danger": True}}),
                          ("incomplete", {"good_faith": None}), ("withdrawing", {})):
        form = {key: value for key, value in request_form(site.ctx, seed=len(filed) + 30, **changes).items()
                if value is not None}
        filed[name] = intake.file_request(site.ctx, form, helpline)
    review.decide(site.ctx, filed["removed"].case.case_number, "removed", "Shared without consent.", platform)
    review.decide(site.ctx, filed["declined"].case.case_number, "declined", "The content is not intimate.",
                  platform)
    victims = {name: victim_access.victim_principal(site.ctx, one.case.case_number, one.pin or "")
               for name, one in filed.items()}
    victim_access.request_withdrawal(site.ctx, filed["withdrawing"].case.case_number, victims["withdrawing"])

    with staff_client(site, Role.HELPLINE) as client:
        for name, one in filed.items():
            response = client.get(f"/staff/helpline/cases/{one.case.case_number}")
            assert response.status_code == 200, name
            shown = found(r'<p id="victim-summary">([^<]*)</p>', response.text)
            her_own = victim_access.victim_status(site.ctx, victims[name]).summary
            assert shown.replace("&#39;", "'") == her_own, name


@pytest.mark.browser
def test_the_helpline_pages_are_accessible_and_keep_their_screenshots(
        site: Site, page: Any, save_screenshots: Any) -> None:
    filed = intake.file_request(site.ctx, request_form(site.ctx, seed=40, requester_role="helpline"),
                                site.principal(Role.HELPLINE))
    sign_in_staff(page, site, Role.HELPLINE)
    page.goto(f"{site.url}/staff/helpline")
    assert page.locator("table.helpline-cases").get_by_text(filed.case.case_number).is_visible()
    accessible_at_both_widths(page)
    save_screenshots(page, "helpline-cases")

    page.goto(f"{site.url}/staff/helpline/file")
    page.wait_for_function("() => document.getElementById('hasher-status').textContent"
                           ".startsWith('This browser makes fingerprints correctly')")
    accessible_at_both_widths(page)
    save_screenshots(page, "helpline-file")
    # With what it lacks shown (the error summary is checked too).
    page.get_by_label("Web addresses, one per line").fill("https://forum.example/t/1")
    with page.expect_navigation():
        page.get_by_role("button", name="File the request").click()
    assert page.get_by_role("alert").get_by_text("signature.name: type your name").is_visible()
    assert_accessible(page)
    save_screenshots(page, "helpline-file-missing")

    page.goto(f"{site.url}/staff/helpline/cases/{filed.case.case_number}")
    assert page.locator("#victim-summary").inner_text().startswith("Your request is complete")
    accessible_at_both_widths(page)
    save_screenshots(page, "helpline-case")
