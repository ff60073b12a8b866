"""No image ever leaves her device: a network capture of a whole submission in Chromium (choose
pictures and a video, fingerprint them, file the request, check the case, withdraw it) shows every
request going to the portal's own server, every body small, none holding any part of any file's
bytes (raw, base64 or hex), and the one request that carries fingerprints holding exactly the
API's form with the hashes of her files and nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from deepshield.cases import intake
from deepshield.services.access import Role
from deepshield.services.takedown import review
from factories import encode_video, scene_video_frames
from web_portal import (
    choose_files,
    fill_request,
    problems_of,
    server_pdq,
    sign_in_case,
    submit_request,
    watch_problems,
    write_photos,
)
from web_site import Site

pytestmark = pytest.mark.browser

#: The largest body any request of the journey may have: a form, or the request's JSON with the
#: fingerprints of a few files. Any file of the test is larger than this.
MAX_BODY_BYTES = 8 * 1024
#: Length of the pieces of each file looked for in every body, and the step between them.
PIECE_BYTES = 48
PIECE_STEP = 257
#: The fields of the request form (``cases.intake``) and of one of its hashes.
FORM_FIELDS = {"requester_role", "signature", "locations", "hashes", "good_faith", "contact", "jurisdiction",
               "age_check", "safety_check"}
HASH_FIELDS = {"type", "value", "quality"}


@pytest.fixture
def page(new_page: Any) -> Any:
    made = new_page()
    watch_problems(made)
    return made


def _pieces(data: bytes) -> list[bytes]:
    """Pieces of ``data`` as they could appear in a body: raw, base64 (at each of the 3 byte
    alignments) and hex."""
    found = []
    for start in range(0, max(1, len(data) - PIECE_BYTES), PIECE_STEP):
        piece = data[start:start + PIECE_BYTES]
        found.append(piece)
        found.append(piece.hex().encode())
        for shift in range(3):
            encoded = base64.b64encode(piece[shift:])
            found.append(encoded[4:-4])  # away from the padding, which depends on what surrounds it
    return found


def test_a_whole_submission_sends_fingerprints_and_never_a_byte_of_the_files(
        site: Site, page: Any, tmp_path: Path) -> None:
    files = write_photos(tmp_path, 2) + write_photos(tmp_path, 1, seed=80, fmt="PNG", suffix="png")
    video = tmp_path / "clip.mp4"
    video.write_bytes(encode_video(scene_video_frames(5, 3, width=320, height=240)))
    files.append(video)
    assert all(path.stat().st_size > MAX_BODY_BYTES for path in files)

    sent: list[dict[str, Any]] = []
    page.context.on("request", lambda request: sent.append({
        "method": request.method, "url": request.url, "type": request.resource_type,
        "content_type": request.headers.get("content-type", ""), "body": request.post_data_buffer or b""}))

    page.goto(f"{site.url}/request")
    choose_files(page, files)
    assert page.locator("#video-note").is_visible()
    fill_request(page)
    number, pin = submit_request(page)
    sign_in_case(page, site.url, number, pin)
    page.get_by_label("I want to withdraw my request").check()
    page.get_by_role("button", name="Withdraw my request").click()
    page.wait_for_url(f"{site.url}/case/status?done=withdraw")

    portal = urlsplit(site.url).netloc
    # The capture sees the Worker's own requests too (its module and the hasher it imports).
    assert any(item["url"].split("?")[0].endswith("/static/hashing/pdq.js") for item in sent)
    elsewhere = [item["url"] for item in sent
                 if not item["url"].startswith(("blob:", "data:")) and urlsplit(item["url"]).netloc != portal]
    assert elsewhere == [], f"requests left the portal: {elsewhere}"

    with_body = [item for item in sent if item["body"]]
    assert {(item["method"], urlsplit(item["url"]).path) for item in with_body} == {
        ("POST", "/v1/requests/public"), ("POST", "/case/sign-in"), ("POST", "/case/withdraw")}
    pieces = {path.name: _pieces(path.read_bytes()) for path in files}
    for item in with_body:
        where = f"{item['method']} {item['url']}"
        assert len(item["body"]) <= MAX_BODY_BYTES, f"{where}: {len(item['body'])} bytes"
        assert "multipart" not in item["content_type"], where
        for name, file_pieces in pieces.items():
            assert not any(piece in item["body"] for piece in file_pieces), f"{where} holds bytes of {name}"

    # The one request with fingerprints: the API's form, and the hashes of these very files.
    filing = next(item for item in with_body if item["url"].endswith("/v1/requests/public"))
    assert filing["content_type"] == "application/json"
    form = json.loads(filing["body"])
    assert set(form) <= FORM_FIELDS
    assert all(set(entry) <= HASH_FIELDS for entry in form["hashes"])
    expected = []
    for path in files:
        data = path.read_bytes()
        if path.suffix != ".mp4":
            pdq = server_pdq(path)
            expected.append({"type": "pdq", "value": pdq.hex, "quality": pdq.quality})
        expected += [{"type": "sha256", "value": hashlib.sha256(data).hexdigest()},
                     {"type": "md5", "value": hashlib.md5(data).hexdigest()}]
    assert form["hashes"] == expected
    assert form["signature"]["statement_ticked"] is True and form["good_faith"] is True
    assert form["age_check"] == {"depicted_under_18": False}
    assert form["locations"] == [{"url": "https://forum.example/t/123"}]
    assert intake.missing(intake.parse_form(form)) == []
    assert review.get_case(site.ctx, number, site.principal(Role.ADMIN)).hash_count == len(expected)
    assert problems_of(page) == []
