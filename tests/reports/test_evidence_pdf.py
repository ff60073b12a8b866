"""Evidence packs: escaped HTML, an offline PDF whose text is really drawn, and a PAdES signature
that shows any change (a flipped byte, an incremental update, a foreign signer)."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from deepshield.errors import InvalidRequest
from deepshield.provenance.certificates import DevelopmentKeys, init_development_keys
from deepshield.reports import (
    AppealLine,
    ChainHead,
    ClockLine,
    DecisionLine,
    EvidencePack,
    HashLine,
    HistoryLine,
    LocationLine,
    PdfAttachment,
    TimestampLine,
    check_pdf,
    render_html,
    render_pdf,
    sign_pdf,
)
from deepshield.reports.evidence import (
    COMPARISON_FIGURE_URL,
    FIGURE_NOTICE,
    MISSING_LABEL_NOTICE,
    NO_PICTURE_NOTICE,
    ComparisonLine,
    MediaLine,
    RegionLine,
    VerificationLine,
)
from deepshield.reports.pdf_signing import EVIDENCE_ATTACHMENT, ReportSigningError

NOW = datetime(2026, 5, 20, 9, 30, tzinfo=UTC)
CASE_NUMBER = "DS-7KQ2-M4XP-9TRW"
PDQ = "f8f8f0cee0f4a84f06370a32038f67f0b36e2ed596623e1d33e6339f1e7c0e0c"
SHA256 = "3b1f5c0d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c"
HOSTILE_URL = 'https://example.org/p?id=7&x="><script>alert(1)</script><img src=x>'


def sample_pack() -> EvidencePack:
    received = NOW - timedelta(hours=30)
    complete = received + timedelta(minutes=20)
    return EvidencePack(
        kind="case", title=f"Evidence pack for case {CASE_NUMBER}", generated_at=NOW,
        generator="DeepShield 0.1.0", case_number=CASE_NUMBER, state="actioned", requester_role="victim",
        jurisdictions=["US", "UK"], legal_hold=False,
        timestamps=[TimestampLine("received", received), TimestampLine("complete (clocks started)", complete),
                    TimestampLine("decided", NOW - timedelta(hours=2)), TimestampLine("withdrawn", None)],
        locations=[LocationLine("url", HOSTILE_URL, "removed"), LocationLine("item", "post-991", "pending")],
        hashes=[HashLine("pdq", PDQ, 94, "victim_device"), HashLine("sha256", SHA256, None, "victim_device")],
        clocks=[ClockLine("US", "remove", complete, complete + timedelta(hours=48),
                          met_at=NOW - timedelta(hours=2)),
                ClockLine("UK", "acknowledge", complete, complete + timedelta(hours=24),
                          breached_at=complete + timedelta(hours=24))],
        decision=DecisionLine("removed", "Non-consensual intimate image <b>confirmed</b>", "key:reviewer1",
                              False, NOW - timedelta(hours=2)),
        appeals=[AppealLine("counter_notice", "uploader", NOW - timedelta(hours=1),
                            "This is <i>my</i> picture & I object")],
        history=[HistoryLine(1, received, "public", "case.file", False, {"state": "received"}, "ab" * 32,
                             True),
                 HistoryLine(2, NOW - timedelta(hours=2), "key:reviewer1", "case.decide", False,
                             {"decision": "removed"}, "cd" * 32, True)],
        chain_head=ChainHead(2, "cd" * 32))


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentKeys:
    return init_development_keys(tmp_path_factory.mktemp("provenance"))


@pytest.fixture(scope="module")
def foreign_keys(tmp_path_factory: pytest.TempPathFactory) -> DevelopmentKeys:
    return init_development_keys(tmp_path_factory.mktemp("someone-else"))


def _sign(pdf: bytes, keys: DevelopmentKeys) -> bytes:
    return sign_pdf(pdf, keys.signer_certificate_chain.read_bytes(), keys.signer_key.read_bytes())


def _unsigned_pack_pdf() -> bytes:
    pack = sample_pack()
    return render_pdf(render_html(pack),
                      attachments=[PdfAttachment(EVIDENCE_ATTACHMENT, pack.to_json().encode(), "contents")])


@pytest.fixture(scope="module")
def signed_pack(keys: DevelopmentKeys) -> bytes:
    return _sign(_unsigned_pack_pdf(), keys)


def anchors(keys: DevelopmentKeys) -> bytes:
    return keys.trust_anchors.read_bytes()


# --- HTML and rendering ----------------------------------------------------------------------


def test_html_escapes_every_value_and_links_or_loads_nothing():
    html = render_html(sample_pack())
    assert "<script>" not in html and "<img" not in html and "<b>confirmed" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "This is &lt;i&gt;my&lt;/i&gt; picture &amp; I object" in html
    assert "href=" not in html and "src=" not in html.replace("src=x", "")  # no link, no resource
    assert MISSING_LABEL_NOTICE in html and "treated the same" in html


def test_a_pack_without_contact_says_so_and_shows_no_personal_data():
    html = render_html(sample_pack())
    assert "Contact details" in html and "not included" in html
    with_contact = render_html(replace(sample_pack(), contact={"signature_name": "Jane Roe",
                                                               "contact_email": "jane@example.org"}))
    assert "Jane Roe" in with_contact and "jane@example.org" in with_contact


class _CountingHandler(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _CountingHandler.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_rendering_fetches_no_url_and_reads_no_local_file(tmp_path: Path):
    server = HTTPServer(("127.0.0.1", 0), _CountingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = tmp_path / "secret.css"
    secret.write_text("body { color: red }")
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        html = (f'<html><head><link rel="stylesheet" href="{base}/style.css">'
                f'<link rel="stylesheet" href="file://{secret}"></head>'
                f'<body><p>Visible text</p><img src="{base}/tracker.png">'
                f'<div style="background: url({base}/bg.png)">x</div></body></html>')
        pdf = render_pdf(html)
    finally:
        server.shutdown()
        server.server_close()
    assert _CountingHandler.hits == []
    assert pdf.startswith(b"%PDF-")
    text = pdfium.PdfDocument(pdf)[0].get_textpage().get_text_range()
    assert "Visible text" in text


def _text_box(page: pdfium.PdfPage, needle: str) -> tuple[float, float, float, float]:
    """The box (left, bottom, right, top) in PDF points around the first occurrence of ``needle``."""
    textpage = page.get_textpage()
    found = textpage.search(needle, match_case=True).get_next()
    assert found is not None, f"{needle!r} is not on the page"
    start, count = found
    boxes = [textpage.get_charbox(index) for index in range(start, start + count)]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


def test_the_pack_pdf_shows_its_text_really_drawn(signed_pack: bytes):
    document = pdfium.PdfDocument(signed_pack)
    first = document[0]
    text = "".join(document[index].get_textpage().get_text_range() for index in range(len(document)))
    flat = " ".join(text.split())
    for expected in (CASE_NUMBER, "actioned", "victim", "US, UK", MISSING_LABEL_NOTICE,
                     "Real and fake (AI-made) intimate images are treated the same", "removed",
                     "counter-notice", "This is <i>my</i> picture & I object", "DeepShield 0.1.0",
                     "2026-05-20 09:30:00 UTC", "Page 1 of"):
        assert expected in flat, expected
    compact = "".join(text.split())  # long hashes may wrap inside their cell
    assert PDQ in compact and SHA256 in compact and ("ab" * 8) in compact
    assert "breached" in flat
    scale = 2.0
    image = np.asarray(first.render(scale=scale).to_pil().convert("L"))
    height_pt = first.get_height()
    for needle in (CASE_NUMBER, "A missing label means unknown"):
        left, bottom, right, top = _text_box(first, needle)
        crop = image[int((height_pt - top) * scale):int((height_pt - bottom) * scale) + 1,
                     int(left * scale):int(right * scale) + 1]
        assert crop.size > 0
        dark = int((crop < 110).sum())
        assert dark > 0.05 * crop.size, f"{needle!r}: the text box holds no ink ({dark} dark pixels)"
    # And a blank stretch of page (the right margin) holds none: the check above is meaningful.
    margin = image[:, int((first.get_width() - 20) * scale):]
    assert int((margin < 110).sum()) == 0


# --- Signing and checking --------------------------------------------------------------------


def test_an_untouched_pack_checks_valid_and_returns_its_signed_evidence(signed_pack, keys):
    check = check_pdf(signed_pack, anchors(keys))
    assert check.valid and check.intact and check.trusted and check.problems == []
    assert "DeepShield development signer" in check.signer
    assert check.signed_at is not None and abs(datetime.now(UTC) - check.signed_at) < timedelta(minutes=5)
    assert check.evidence == sample_pack().to_dict()
    assert check.evidence["hashes"][0]["value"] == PDQ
    assert [clock["outcome"] for clock in check.evidence["clocks"]] == ["met", "breached"]


def test_signing_and_checking_work_inside_a_running_event_loop(keys):
    # pyHanko's synchronous calls wrap asyncio.run, which refuses a running loop (a notebook, an
    # async caller, Playwright's synchronous API in the same test process); they must still work.
    unsigned = _unsigned_pack_pdf()

    async def inside_a_loop() -> tuple[bytes, bool]:
        signed = _sign(unsigned, keys)
        return signed, check_pdf(signed, anchors(keys)).valid

    signed, valid = asyncio.run(inside_a_loop())
    assert valid and signed.startswith(unsigned)


def _first_stream_offset(pdf: bytes) -> int:
    offset = pdf.index(b"stream\n") + len(b"stream\n")
    return offset + 5


def test_one_flipped_byte_inside_the_signed_range_is_caught(signed_pack, keys):
    position = _first_stream_offset(signed_pack)
    tampered = bytearray(signed_pack)
    tampered[position] ^= 0x01
    check = check_pdf(bytes(tampered), anchors(keys))
    assert not check.valid and not check.intact
    assert check.evidence is None
    assert any("changed after signing" in problem for problem in check.problems)


def test_an_incremental_update_that_edits_a_page_is_caught(signed_pack, keys):
    writer = IncrementalPdfFileWriter(io.BytesIO(signed_pack))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    content = b"BT /F1 30 Tf 72 700 Td (REMOVED: NO) Tj ET"
    forged = writer.add_object(generic.StreamObject(stream_data=content))
    page["/Contents"] = forged
    writer.update_container(page)
    output = io.BytesIO()
    writer.write(output)
    check = check_pdf(output.getvalue(), anchors(keys))
    assert check.intact  # the signed bytes are untouched ...
    assert not check.valid  # ... but the file is no longer what was signed
    assert any("added after signing" in problem for problem in check.problems)


def test_even_bytes_appended_after_the_signature_invalidate_it(signed_pack, keys):
    check = check_pdf(signed_pack + b"\n% a note\n", anchors(keys))
    assert not check.valid and check.intact
    assert any("added after signing" in problem for problem in check.problems)


def test_a_pack_signed_by_a_foreign_ca_is_not_trusted(keys, foreign_keys):
    pack = sample_pack()
    pdf = render_pdf(render_html(pack),
                     attachments=[PdfAttachment(EVIDENCE_ATTACHMENT, pack.to_json().encode(), "")])
    forged = _sign(pdf, foreign_keys)
    check = check_pdf(forged, anchors(keys))
    assert check.intact and not check.trusted and not check.valid
    assert any("not trusted" in problem for problem in check.problems)
    # The same file checks valid where that CA is trusted: nothing else is wrong with it.
    assert check_pdf(forged, anchors(foreign_keys)).valid


def test_no_trust_anchors_means_nothing_is_trusted(signed_pack):
    check = check_pdf(signed_pack, b"")
    assert not check.valid and any("keys init" in problem for problem in check.problems)


def test_a_ca_key_cannot_sign_a_pack(keys):
    pdf = render_pdf("<p>x</p>")
    with pytest.raises(ReportSigningError):
        sign_pdf(pdf, keys.ca_certificate.read_bytes(), keys.ca_key.read_bytes())


def test_an_unsigned_pdf_is_invalid_not_an_error(keys):
    check = check_pdf(render_pdf("<p>no signature</p>"), anchors(keys))
    assert not check.valid and not check.intact and check.signer == ""
    assert "no signature" in check.problems[0]


@pytest.mark.parametrize("data", [b"", b"hello, not a pdf", b"\x89PNG\r\n\x1a\n" + bytes(100)])
def test_input_that_is_not_a_pdf_is_refused_clearly(data, keys):
    with pytest.raises(InvalidRequest, match=r"PDF|empty"):
        check_pdf(data, anchors(keys))


def test_a_truncated_pack_is_refused_clearly(signed_pack, keys):
    with pytest.raises(InvalidRequest, match="truncated or corrupt"):
        check_pdf(signed_pack[: len(signed_pack) // 2], anchors(keys))


def test_a_mangled_signature_value_reads_as_tampered(signed_pack, keys):
    start = signed_pack.index(b"/Contents <") + len(b"/Contents <")
    tampered = bytearray(signed_pack)
    tampered[start + 40] = ord("0") if tampered[start + 40] != ord("0") else ord("1")
    check = check_pdf(bytes(tampered), anchors(keys))
    assert not check.valid


def test_rendering_a_pack_leaves_media_intake_strict_about_truncated_images():
    # WeasyPrint switches Pillow's process-wide LOAD_TRUNCATED_IMAGES on when imported; a
    # server that made a pack must still refuse a truncated upload.
    from deepshield.media.errors import CorruptMedia
    from deepshield.media.image import decode_image
    from deepshield.media.limits import MediaLimits
    from deepshield.reports.pdf import render_pdf
    from factories import encode_image, photo_pixels

    assert render_pdf("<p>pack</p>").startswith(b"%PDF")
    jpeg = encode_image(photo_pixels(5), "JPEG", quality=90)
    with pytest.raises(CorruptMedia):
        decode_image(jpeg[: len(jpeg) // 2], MediaLimits())


# --- The comparison with a suspected source (issue 16) ---------------------------------------

COMPARISON_SUMMARY = ("This file matches the source (her_photo.jpg) everywhere except in the outlined region "
                      "(at the top centre, 4.4% of the picture); elsewhere it differs only as much as "
                      "reposting changes a picture.")
METHOD = "deepshield-forensics-compare/1"
LIMITS = ["It compares the file with this one source only; another source may still be the origin.",
          "Subtle edits that move a few pixels stay within what reposting changes and are not outlined."]
SOURCE_SHA256 = "9e" * 32


def _figure() -> bytes:
    """A PNG of four flat panels (the figure's shape), each a colour of its own."""
    panels = [np.full((120, 160, 3), colour, np.uint8)
              for colour in ((200, 30, 30), (30, 160, 40), (40, 60, 200), (230, 200, 20))]
    buffer = io.BytesIO()
    Image.fromarray(np.hstack(panels)).save(buffer, "PNG")
    return buffer.getvalue()


def comparison_pack() -> EvidencePack:
    return EvidencePack(
        kind="file", title="Evidence pack for a file", generated_at=NOW, generator="DeepShield 0.1.0",
        media=MediaLine("image", "jpeg", 41_000, 448, 336), hashes=[HashLine("sha256", SHA256)],
        verification=VerificationLine("unknown", "No label found"),
        comparison=ComparisonLine(
            outcome="derived_local_difference", summary=COMPARISON_SUMMARY, method=METHOD,
            source_sha256=SOURCE_SHA256, source_name="her_photo.jpg", inliers=212, matches=260,
            mirrored=False, overlap=0.9993, agreement=0.9871, correlation=0.9645, noise_floor=2.31,
            regions=[RegionLine((226, 60, 109, 135), 0.076, 18.8)], limits=LIMITS,
            numbers={"method": METHOD, "inliers": 212}, figure_png=_figure()))


def _pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    return " ".join("".join(document[index].get_textpage().get_text_range()
                            for index in range(len(document))).split())


def _image_objects(pdf: bytes) -> int:
    document = pdfium.PdfDocument(pdf)
    return sum(1 for index in range(len(document))
               for item in document[index].get_objects(max_depth=3)
               if item.type == pdfium_c.FPDF_PAGEOBJ_IMAGE)


def test_a_pack_with_a_comparison_draws_its_figure_and_words_and_still_checks(keys):
    pack = comparison_pack()
    html = render_html(pack)
    assert "Comparison with a suspected source" in html
    assert html.count("<img") == 1 and f'src="{COMPARISON_FIGURE_URL}"' in html
    assert FIGURE_NOTICE in html and NO_PICTURE_NOTICE not in html
    pdf = _sign(render_pdf(html, attachments=[PdfAttachment(EVIDENCE_ATTACHMENT, pack.to_json().encode())],
                           images=pack.images()), keys)
    text = _pdf_text(pdf)
    for expected in ("Comparison with a suspected source", COMPARISON_SUMMARY, METHOD, *LIMITS,
                     "derived_local_difference", "her_photo.jpg", "212 of 260 matched", "99.9%", "98.7%",
                     "0.965", "2.31", "226, 60, 109, 135", "7.6%", "18.8"):
        assert expected in text, expected
    assert SOURCE_SHA256 in "".join(text.split())
    assert _image_objects(pdf) == 1  # the figure, drawn
    check = check_pdf(pdf, anchors(keys))
    assert check.valid and check.intact and check.trusted, check.problems
    comparison = check.evidence["comparison"]  # type: ignore[index]
    # The signed JSON copy carries the words and numbers, and names the figure by its hash only.
    assert comparison["summary"] == COMPARISON_SUMMARY and comparison["method"] == METHOD
    assert comparison["limits"] == LIMITS and comparison["regions"][0]["box"] == [226, 60, 109, 135]
    assert "figure_png" not in comparison and len(comparison["figure_sha256"]) == 64
    assert FIGURE_NOTICE in check.evidence["notices"]  # type: ignore[index]


def test_only_the_images_handed_over_are_drawn_and_nothing_is_fetched(tmp_path: Path):
    figure = _figure()
    (tmp_path / "other.png").write_bytes(figure)
    html = (f'<p>Figure</p><img src="{COMPARISON_FIGURE_URL}"><img src="file://{tmp_path}/other.png">'
            f'<img src="data:image/png;base64,{base64.b64encode(figure).decode()}">')
    assert _image_objects(render_pdf(html)) == 0
    assert _image_objects(render_pdf(html, images={COMPARISON_FIGURE_URL: figure})) == 1


def test_a_comparison_without_a_figure_says_so_and_keeps_the_no_picture_notice():
    pack = replace(comparison_pack(), comparison=replace(
        comparison_pack().comparison, outcome="inconclusive", regions=[], figure_png=None,  # type: ignore[arg-type]
        summary="Inconclusive: one of the pictures has too little detail to align."))
    html = render_html(pack)
    assert "<img" not in html and pack.images() == {}
    assert "No figure: the source could not be laid onto the file." in html
    assert NO_PICTURE_NOTICE in html and "No region differs beyond what reposting changes." in html
    assert pack.to_dict()["comparison"]["figure_sha256"] is None
