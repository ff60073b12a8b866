""""Is this labelled?" (``/verify``): a labelled file, a stripped copy and a plain photo over real
HTTP and in a real Chromium; the unknown verdict's fixed words; the anti-forgery token, the rate
limit and the heavy-work cap on the page's upload; and the signed evidence pack, which only staff
get (``REPORT_FILE``)."""

from __future__ import annotations

import base64
import dataclasses
import html as html_text
import io
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from PIL import Image

import deepshield.api.routes.verification as verification_route
from comparison_pictures import comparison_pictures
from comparison_videos import excerpt, scenes_of, source_video
from deepshield.api.app import create_app
from deepshield.forensics.comparison import METHOD_VERSION
from deepshield.services import reporting
from deepshield.services.access import Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.services.label.labelling import label_media
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.verify.source_comparison import KNOWN_LIMITS
from deepshield.settings import Settings
from deepshield.store import audit_repository
from factories import encode_image, photo_pixels
from live_server import serving
from principals import SETUP
from web_site import (
    Site,
    assert_accessible,
    form_token_in,
    script_problems,
    sign_in_staff,
    staff_client,
    staff_form_token,
)

UNKNOWN = "No label found. That does not mean it is real."


@dataclasses.dataclass(frozen=True)
class Files:
    labelled: bytes
    stripped: bytes
    plain: bytes


def make_files(site_ctx: ServiceContext) -> Files:
    """A file labelled by this installation (dev CA keys), the same pixels re-encoded without its
    manifest, and a photo nobody labelled."""
    init_signing_keys(site_ctx, force=False, principal=SETUP)
    labelled = label_media(site_ctx, encode_image(photo_pixels(61, 640, 480), "JPEG", quality=92),
                           generator="GenWeb", model="gw-1", principal=SETUP).data
    buffer = io.BytesIO()
    Image.open(io.BytesIO(labelled)).save(buffer, "PNG")
    return Files(labelled, buffer.getvalue(), encode_image(photo_pixels(62, 640, 480), "JPEG"))


def form_token(client: httpx.Client) -> str:
    """The token of the public's form on /verify (getting the page sets its ``ds_form`` cookie)."""
    return form_token_in(client.get("/verify").text)


def post_file(client: httpx.Client, data: bytes, *, path: str = "/verify", token: str | None = None,
              name: str = "file.jpg", source: bytes | None = None,
              source_name: str = "original.jpg") -> httpx.Response:
    """Post the form with ``data`` as the file and, when given, ``source`` as the original."""
    fields = {"form_token": form_token(client) if token is None else token}
    files = {"file": (name, data, "application/octet-stream")}
    if source is not None:
        files["source"] = (source_name, source, "application/octet-stream")
    return client.post(path, data=fields, files=files, timeout=60)


def verify_events(ctx: ServiceContext) -> list[Any]:
    with ctx.store.transaction() as session:
        return [event for event in audit_repository.recent_events(session) if event.action == "verify"]


def check_pack(ctx: ServiceContext, pdf: bytes) -> Any:
    """``reporting.check_report`` in a thread of its own: it runs an event loop, and where this
    worker has started Playwright, Playwright's loop is running in the main thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(reporting.check_report, ctx, pdf).result(timeout=60)


def test_the_page_says_the_file_is_sent_and_not_kept_before_any_upload(site: Site) -> None:
    response = httpx.get(f"{site.url}/verify")
    assert response.status_code == 200
    html = response.text
    assert 'enctype="multipart/form-data"' in html and 'name="file"' in html
    assert "This file is sent to DeepShield's server to be" in html and "it is not stored" in html
    assert html.index("it is not stored") < html.index('type="file"')
    assert "authentic" not in html.lower()
    assert "Check and download a signed evidence pack" not in html  # the public gets no pack
    assert "Need a signed record of this check?" in html and 'href="/case"' in html


def test_the_three_verdicts_over_http(site: Site) -> None:
    files = make_files(site.ctx)
    with httpx.Client(base_url=site.url, timeout=60) as client:
        labelled = post_file(client, files.labelled)
        stripped = post_file(client, files.stripped, name="copy.png")
        plain = post_file(client, files.plain)
    assert labelled.status_code == 200, labelled.text
    assert 'data-verdict="verified"' in labelled.text
    assert "This file carries a valid AI label" in labelled.text
    assert "Labelled as AI-generated by GenWeb (signature verified)" in labelled.text
    assert "<dt>Made with</dt><dd>GenWeb</dd>" in labelled.text
    assert "<dt>Model</dt><dd>gw-1</dd>" in labelled.text
    assert 'data-verdict="recovered"' in stripped.text
    assert "AI label recovered from the watermark after the metadata was removed" in stripped.text
    assert "<dt>Made with</dt><dd>GenWeb</dd>" in stripped.text
    assert 'data-verdict="unknown"' in plain.text
    assert f'<h1 id="verdict-heading">{UNKNOWN}</h1>' in plain.text
    for response in (labelled, stripped, plain):
        assert "authentic" not in response.text.lower()
        assert response.headers["cache-control"] == "no-store"
    # Checked as the public, each logged with its verdict; nothing of the file is kept.
    assert sorted(event.detail for event in verify_events(site.ctx)) == sorted(
        f'{{"verdict": "{verdict}"}}' for verdict in ("verified", "recovered", "unknown"))
    assert {event.actor for event in verify_events(site.ctx)} == {"public"}


def test_a_form_without_its_token_checks_nothing(site: Site, photo_jpeg: Callable[..., bytes]) -> None:
    photo = photo_jpeg(63)
    with httpx.Client(base_url=site.url, timeout=60) as client:
        form_token(client)  # the browser's ds_form cookie is set
        missing = client.post("/verify", files={"file": ("f.jpg", photo, "image/jpeg")})
        wrong = post_file(client, photo, token="not-the-token")
    bare = httpx.post(f"{site.url}/verify", data={"form_token": "x"},
                      files={"file": ("f.jpg", photo, "image/jpeg")})
    for response in (missing, wrong, bare):
        assert response.status_code == 403 and "did not come from this site" in response.text
    assert verify_events(site.ctx) == []


@pytest.mark.parametrize(("data", "status", "words"), [
    (b"not an image at all", 415, "That file could not be checked"),
    (encode_image(photo_pixels(64, 320, 240), "JPEG")[:400], 400, "truncated"),
])
def test_a_file_that_cannot_be_read_gets_the_form_back_with_the_reason(
        site: Site, data: bytes, status: int, words: str) -> None:
    with httpx.Client(base_url=site.url, timeout=60) as client:
        response = post_file(client, data)
    assert response.status_code == status and words in response.text
    assert 'role="alert"' in response.text and 'type="file"' in response.text


def _serve(stack: ExitStack, settings: Settings) -> tuple[str, ServiceContext]:
    """The app on ``settings`` as ``serve`` builds it (its own rate limiter and heavy-work cap)."""
    ctx = ServiceContext.open(settings)
    stack.callback(ctx.close)
    return stack.enter_context(serving(create_app(settings, context=ctx), "the web server")), ctx


def test_the_public_is_rate_limited_and_staff_are_not(cheap_kdf_settings: Settings,
                                                      photo_jpeg: Callable[..., bytes]) -> None:
    settings = cheap_kdf_settings.with_overrides(server=dataclasses.replace(
        cheap_kdf_settings.server, public_rate_per_minute=1, public_burst=2))
    photo = photo_jpeg(65)
    with ExitStack() as stack:
        url, ctx = _serve(stack, settings)
        _, helpline_key = create_key(ctx, Role.HELPLINE, "verify test", SETUP)
        # The sign-in spends one of the address's two.
        with staff_client(url, None, token=helpline_key) as staff:
            with httpx.Client(base_url=url, timeout=60) as public:
                assert post_file(public, photo).status_code == 200
                limited = post_file(public, photo)
            for _ in range(3):
                assert post_file(staff, photo).status_code == 200
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert "Too many checks for now" in limited.text and 'type="file"' in limited.text


def test_when_every_heavy_slot_is_taken_the_page_says_so_with_retry_after(
        cheap_kdf_settings: Settings, photo_jpeg: Callable[..., bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings = cheap_kdf_settings.with_overrides(server=dataclasses.replace(
        cheap_kdf_settings.server, max_heavy_requests=1, heavy_retry_after_s=7, public_rate_per_minute=0))
    arrived, release = threading.Event(), threading.Event()
    real_verify = verification_route.verify_upload

    def held(*args: Any) -> Any:  # an API upload that holds the only slot until released
        arrived.set()
        assert release.wait(60)
        return real_verify(*args)

    monkeypatch.setattr(verification_route, "verify_upload", held)
    photo = photo_jpeg(66)
    with ExitStack() as stack:
        url, _ = _serve(stack, settings)
        pool = stack.enter_context(ThreadPoolExecutor(1))
        holding = pool.submit(httpx.post, f"{url}/v1/verify", files={"file": ("f.jpg", photo, "image/jpeg")},
                              timeout=60)
        assert arrived.wait(30)
        with httpx.Client(base_url=url, timeout=60) as client:
            busy = post_file(client, photo)
            release.set()
            assert holding.result(timeout=60).status_code == 200
            after = post_file(client, photo)
    assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
    assert busy.headers["content-type"].startswith("text/html")
    assert "We are busy for a moment" in busy.text and "nothing was kept" in busy.text
    assert 'type="file"' in busy.text
    assert after.status_code == 200 and 'data-verdict="unknown"' in after.text


def test_the_evidence_pack_is_for_staff_and_the_public_is_told_how_to_get_one(site: Site) -> None:
    files = make_files(site.ctx)
    with httpx.Client(base_url=site.url, timeout=60) as public:
        refused = post_file(public, files.labelled, path="/verify/evidence")
    assert refused.status_code == 403 and "application/pdf" not in refused.headers["content-type"]
    assert "Signed evidence packs are made by staff" in refused.text and 'href="/case"' in refused.text

    with staff_client(site, Role.HELPLINE) as staff:
        page = staff.get("/verify")
        assert "Check and download a signed evidence pack" in page.text
        token = staff_form_token(staff)
        pack = post_file(staff, files.labelled, path="/verify/evidence", token=token)
        checked = post_file(staff, files.plain, token=token)
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/pdf"
    assert 'filename="evidence-file.pdf"' in pack.headers["content-disposition"]
    result = check_pack(site.ctx, pack.content)
    assert result.valid, result.problems
    assert result.evidence["verification"]["verdict"] == "verified"  # type: ignore[index]
    # A signed-in member of staff checks under her own key, not as the public.
    assert checked.status_code == 200 and "Check and download a signed evidence pack" in checked.text
    assert {event.actor for event in verify_events(site.ctx)} == {f"key:{site.key_ids[Role.HELPLINE]}"}

    with staff_client(site, Role.PARTNER) as partner:
        assert "Check and download a signed evidence pack" not in partner.get("/verify").text
        token = staff_form_token(partner)
        denied = post_file(partner, files.labelled, path="/verify/evidence", token=token)
    assert denied.status_code == 403 and "may not perform report.file" in denied.text


# --- Compared with the original (issue 16) ---------------------------------------------------


def comparison_section(page_html: str) -> str:
    """The comparison's section of a result page, as text (tags dropped)."""
    found = re.search(r'<section class="comparison".*?</section>', page_html, re.S)
    assert found, "the result has no comparison section"
    return html_text.unescape(" ".join(re.sub(r"<[^>]+>", " ", found.group(0)).split()))


def test_the_form_offers_the_original_as_an_optional_second_file(site: Site) -> None:
    page = httpx.get(f"{site.url}/verify").text
    assert '<label for="source">The original, if you know it (optional)</label>' in page
    assert re.search(r'<input type="file" id="source" name="source"(?![^>]*required)[^>]*>', page)
    assert 'aria-describedby="source-hint' in page


def test_a_file_made_from_the_original_shows_the_sentence_figure_numbers_and_limits(site: Site) -> None:
    pictures = comparison_pictures()
    with httpx.Client(base_url=site.url, timeout=60) as client:
        response = post_file(client, pictures.edited, source=pictures.source, source_name="her_photo.jpg")
    assert response.status_code == 200, response.text
    page = response.text
    # The label's answer is as it always is, and the comparison follows it.
    assert 'data-verdict="unknown"' in page and f'<h1 id="verdict-heading">{UNKNOWN}</h1>' in page
    assert 'data-outcome="derived_local_difference"' in page
    section = comparison_section(page)
    assert "The same picture as the original you gave, except in the outlined part" in section
    assert ("This file matches the source (her_photo.jpg) everywhere except in the outlined region"
            in section)
    figure = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"'
                       r'\s+width="(\d+)" height="(\d+)">', page)
    assert figure, "no inline figure"
    png = base64.b64decode(figure.group(1))
    with Image.open(io.BytesIO(png)) as shown:
        assert shown.format == "PNG" and shown.size == (int(figure.group(3)), int(figure.group(4)))
    assert "heat map" in figure.group(2) and "outlined" in figure.group(2)
    for words in ("Outcome derived_local_difference", "Features that agree on one alignment",
                  "Share of this file the original covers", f"Method {METHOD_VERSION}",
                  "The parts that differ", "What this comparison cannot see", *KNOWN_LIMITS):
        assert words in section, words
    assert '<details class="comparison-limits"' in page
    assert not re.search(r"\b(fake|real)\b", section, re.I), section
    assert "authentic" not in page.lower()
    # The inline figure is allowed by the page's policy for images, and only there.
    policy = response.headers["content-security-policy"]
    assert "img-src 'self' blob: data:;" in policy and "script-src 'self';" in policy
    with site.ctx.store.transaction() as session:
        events = [event for event in audit_repository.recent_events(session)
                  if event.action == "forensics.compare"]
    assert len(events) == 1 and events[0].actor == "public"


def test_two_videos_show_the_footage_sentence_the_timeline_and_the_frames_compared(site: Site) -> None:
    scenes = scenes_of(40)
    with httpx.Client(base_url=site.url, timeout=120) as client:
        response = post_file(client, excerpt(scenes, 2.0, 4.0, 15, edit=True), name="clip.mp4",
                             source=source_video(scenes), source_name="original.mp4")
    assert response.status_code == 200, response.text
    page = response.text
    assert 'data-outcome="derived_local_difference"' in page
    section = comparison_section(page)
    assert "The same footage as the original you gave, except in the outlined parts" in section
    assert "frame for frame from 0:02.0 to 0:06.0 of the source" in section
    for words in ("Where this file starts in the original 0:02.0", "Frames compared pixel for pixel 12",
                  "The frames compared", "Time in this file", "Method deepshield-forensics-compare-video/"):
        assert words in section, words
    figure = re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+" alt="([^"]+)"', page)
    assert figure and "strip of the frames compared" in figure.group(1)
    assert not re.search(r"\b(fake|real)\b", section, re.I), section


def test_an_unrelated_original_is_said_not_to_be_the_origin_and_nothing_more(site: Site) -> None:
    pictures = comparison_pictures()
    with httpx.Client(base_url=site.url, timeout=60) as client:
        response = post_file(client, pictures.edited, source=pictures.unrelated, source_name="other.jpg")
    assert response.status_code == 200, response.text
    assert 'data-outcome="not_derived"' in response.text
    section = comparison_section(response.text)
    assert "The original you gave is not where this file comes from" in section
    assert "The source (other.jpg) is not the origin of this file" in section
    assert "This says nothing about any other source." in section
    assert not re.search(r"\b(fake|real)\b", section, re.I), section
    assert f'<h1 id="verdict-heading">{UNKNOWN}</h1>' in response.text


@pytest.mark.parametrize(("source", "status", "words"), [
    (b"not an image at all", 415, "The two files could not be compared"),
    (b"", 400, "the uploaded source file is empty"),
])
def test_an_original_that_cannot_be_compared_gets_the_form_back_with_the_reason(
        site: Site, source: bytes, status: int, words: str) -> None:
    pictures = comparison_pictures()
    with httpx.Client(base_url=site.url, timeout=60) as client:
        response = post_file(client, pictures.edited, source=source, source_name="notes.txt")
    assert response.status_code == status, response.text
    assert words in response.text and 'role="alert"' in response.text
    assert 'type="file" id="file"' in response.text and 'id="source"' in response.text
    assert "data-outcome" not in response.text and "data:image/png" not in response.text


def test_no_original_chosen_leaves_the_result_as_it_was(site: Site) -> None:
    pictures = comparison_pictures()
    with httpx.Client(base_url=site.url, timeout=60) as client:
        plain = post_file(client, pictures.edited)
        # A browser sends a file input left empty as a part with no file name and no bytes.
        empty_input = client.post("/verify", data={"form_token": form_token(client)}, files={
            "file": ("file.jpg", pictures.edited, "image/jpeg"),
            "source": ("", b"", "application/octet-stream")}, timeout=60)
    for response in (plain, empty_input):
        assert response.status_code == 200, response.text
        assert f'<h1 id="verdict-heading">{UNKNOWN}</h1>' in response.text
        assert "What else the file shows" not in response.text and "data:image/png" not in response.text
    with site.ctx.store.transaction() as session:
        assert not [event for event in audit_repository.recent_events(session)
                    if event.action == "forensics.compare"]


def test_the_staff_pack_adds_the_comparison_with_the_original(site: Site) -> None:
    init_signing_keys(site.ctx, force=False, principal=SETUP)
    pictures = comparison_pictures()
    with staff_client(site, Role.HELPLINE) as staff:
        token = staff_form_token(staff)
        pack = post_file(staff, pictures.edited, path="/verify/evidence", token=token,
                         source=pictures.source, source_name="her_photo.jpg")
        refused = post_file(staff, pictures.edited, path="/verify/evidence", token=token,
                            source=b"not an image at all")
    assert pack.status_code == 200 and pack.headers["content-type"] == "application/pdf"
    result = check_pack(site.ctx, pack.content)
    assert result.valid, result.problems
    comparison = result.evidence["comparison"]  # type: ignore[index]
    assert comparison["outcome"] == "derived_local_difference"
    assert comparison["source_name"] == "her_photo.jpg"
    assert refused.status_code == 415 and 'role="alert"' in refused.text
    assert "suspected source" in refused.text


@pytest.mark.browser
def test_the_comparison_in_chromium_at_1280_and_360_px(
        site: Site, page: Any, save_screenshots: Callable[[Any, str], list[Any]]) -> None:
    pictures = comparison_pictures()
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(f"{site.url}/verify")
        page.get_by_label("Choose a picture or video").set_input_files(
            {"name": "suspect.jpg", "mimeType": "image/jpeg", "buffer": pictures.edited})
        page.get_by_label("The original, if you know it").set_input_files(
            {"name": "her_photo.jpg", "mimeType": "image/jpeg", "buffer": pictures.source})
        # Keyboard only from the original's field: Tab to the button, Enter.
        page.get_by_label("The original, if you know it").focus()
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.textContent.trim()") == "Check this file"
        page.keyboard.press("Enter")
        page.locator('[data-outcome="derived_local_difference"]').wait_for()
        summary = page.locator("#comparison-summary")
        assert summary.is_visible() and "everywhere except in the outlined region" in summary.inner_text()
        figure = page.locator(".comparison-figure img")
        assert figure.is_visible()
        shown = page.evaluate("""() => {
            const img = document.querySelector('.comparison-figure img');
            const box = img.getBoundingClientRect();
            return {natural: img.naturalWidth, left: box.left, right: box.right, width: box.width,
                    viewport: document.documentElement.clientWidth,
                    scroll: document.documentElement.scrollWidth};
        }""")
        assert shown["natural"] > 0, "the figure did not load (blocked or broken)"
        assert shown["left"] >= 0 and shown["right"] <= shown["viewport"] + 0.5, shown
        assert shown["scroll"] <= shown["viewport"], f"sideways scroll at {width} px: {shown}"
        if width == 360:
            assert shown["width"] < shown["natural"]  # scaled down to fit
        # The limits open from the keyboard.
        page.locator("#comparison-limits summary").focus()
        page.keyboard.press("Enter")
        assert page.get_by_text(KNOWN_LIMITS[0]).is_visible()
        assert_accessible(page, what=f"the comparison at {width} px")
    save_screenshots(page, "verify-comparison")
    assert script_problems(page) == []


@pytest.mark.browser
def test_the_three_verdicts_in_chromium(site: Site, page: Any,
                                        save_screenshots: Callable[[Any, str], list[Any]]) -> None:
    files = make_files(site.ctx)
    page.goto(f"{site.url}/verify")
    assert page.get_by_text("This file is sent to DeepShield's server to be checked.").is_visible()
    assert_accessible(page)
    save_screenshots(page, "verify-form")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_accessible(page, what="the verify form at 360 px")
    page.set_viewport_size({"width": 1280, "height": 900})

    for name, data, verdict, headline in (
            ("labelled.jpg", files.labelled, "verified", "This file carries a valid AI label"),
            ("stripped.png", files.stripped, "recovered", "An AI label was found for this file"),
            ("plain.jpg", files.plain, "unknown", UNKNOWN)):
        # Keyboard only: choose the file (the dialog is the browser's), then Tab past the optional
        # original to the button.
        mime_type = "image/png" if name.endswith(".png") else "image/jpeg"
        page.get_by_label("Choose a picture or video").first.set_input_files(
            {"name": name, "mimeType": mime_type, "buffer": data})
        page.get_by_label("Choose a picture or video").first.focus()
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.id") == "source"
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.textContent.trim()") == "Check this file"
        # The result replaces the page in place (no step in history for Back to return to).
        page.keyboard.press("Enter")
        page.locator(f'[data-verdict="{verdict}"]').wait_for()
        assert page.get_by_role("heading", level=1).inner_text() == headline
        assert "authentic" not in page.content().lower()
        if verdict != "unknown":
            assert page.locator("#made-by").get_by_text("GenWeb").is_visible()
        assert_accessible(page, what=f"the {verdict} result")
        save_screenshots(page, f"verify-result-{verdict}")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_accessible(page, what="a result at 360 px")
    assert script_problems(page) == []


@pytest.mark.browser
def test_a_file_over_the_limit_is_stopped_in_the_browser_before_it_is_sent(site: Site, page: Any) -> None:
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    page.goto(f"{site.url}/verify")
    limit = int(page.locator("form.verify-form").get_attribute("data-max-bytes") or "0")
    assert limit == site.ctx.settings.limits.max_bytes
    page.evaluate(
        """(size) => {
            const input = document.querySelector('#file');
            const transfer = new DataTransfer();
            // A file that says it is larger than the limit, without holding that many bytes.
            const big = new File([new Uint8Array(16)], 'huge.jpg', {type: 'image/jpeg'});
            Object.defineProperty(big, 'size', {value: size});
            transfer.items.add(big);
            input.files = transfer.files;
        }""", limit + 1)
    page.get_by_role("button", name="Check this file").click()
    status = page.locator("[data-verify-status]").first
    assert "Nothing was sent" in status.inner_text()
    assert page.url.endswith("/verify") and sent == []


@pytest.mark.browser
def test_signed_in_staff_download_the_pack_from_the_page(site: Site, page: Any) -> None:
    files = make_files(site.ctx)
    sign_in_staff(page, site, Role.PLATFORM)
    page.goto(f"{site.url}/verify")
    page.get_by_label("Choose a picture or video").set_input_files(
        {"name": "labelled.jpg", "mimeType": "image/jpeg", "buffer": files.labelled})
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Check and download a signed evidence pack (PDF)").click()
    path = download_info.value.path()
    with open(path, "rb") as downloaded:
        result = check_pack(site.ctx, downloaded.read())
    assert result.valid and result.evidence["verification"]["verdict"] == "verified"  # type: ignore[index]
