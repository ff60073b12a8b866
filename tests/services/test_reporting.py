"""Reporting use cases on real databases: the transparency report over seeded rows (exact
numbers, the period, no personal data), and signed evidence packs for files (hashes and the
verification result, checked back), with their authorisation and audit trail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest

import local_kms
from case_forms import request_form
from comparison_pictures import comparison_pictures
from comparison_videos import excerpt, scenes_of, source_video
from deepshield.errors import Forbidden, InvalidRequest, NotFound
from deepshield.forensics.comparison import METHOD_VERSION
from deepshield.media.errors import UnsupportedMedia
from deepshield.provenance.c2pa_signing import SigningKeysMissing
from deepshield.services import reporting
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.label.labelling import label_media
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.spread.hashing import hash_media
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import review as case_review
from deepshield.services.takedown import victim_access
from deepshield.services.verify.source_comparison import KNOWN_LIMITS
from deepshield.settings import ProvenanceSettings, Settings
from deepshield.store import audit_repository
from deepshield.store.models import (
    ApiKey,
    Appeal,
    Bank,
    BankEntry,
    Case,
    CaseClock,
    CaseContact,
    CaseLocation,
    MisuseStrike,
)
from factories import encode_image, photo_pixels

ADMIN = Principal("test:admin", Role.ADMIN)
PLATFORM = Principal("key:platform1", Role.PLATFORM)
HELPLINE = Principal("key:helpline1", Role.HELPLINE)
PARTNER = Principal("key:partner1", Role.PARTNER)
PROVIDER = Principal("test:provider", Role.PROVIDER)
T0 = datetime(2025, 3, 1, tzinfo=UTC)
SECRET_URL = "https://leak.example/victim-name/photo-123"
EMAIL = "jane.roe@example.org"
NAME = "Jane Roe"
BANKED_VALUE = "a1" * 32


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def _case(number: str, state: str, role: str, filed_by: str, jurisdictions: str, received: float,
          complete: float | None, actioned: float | None = None, decision: str | None = None,
          automated: bool | None = None) -> Case:
    return Case(case_number=number, state=state, requester_role=role, filed_by=filed_by,
                jurisdictions=jurisdictions, received_at=at(received),
                completed_at=at(complete) if complete is not None else None,
                actioned_at=at(actioned) if actioned is not None else None, decision=decision,
                decision_automated=automated, decided_by="key:platform1" if decision else None)


def seed(ctx) -> list[str]:
    """Five cases, their clocks, appeals, strikes, PII and hashes. Returns the case numbers."""
    with ctx.store.transaction() as session:
        session.add_all([ApiKey(key_id="helpline1", secret_hash="0" * 64, role="helpline"),
                         ApiKey(key_id="platform1", secret_hash="1" * 64, role="platform")])
        cases = [
            _case("DS-AAAA-AAAA-AAAA", "actioned", "victim", "public", "US", 0, 0, 12, "removed", False),
            _case("DS-BBBB-BBBB-BBBB", "actioned", "helpline", "key:helpline1", "AU,US", 1, 1, 5, "removed",
                  True),
            _case("DS-CCCC-CCCC-CCCC", "appealed", "victim", "public", "UK", 2, 3, 23, "declined", False),
            _case("DS-DDDD-DDDD-DDDD", "incomplete", "representative", "public", "", 4, None),
            _case("DS-EEEE-EEEE-EEEE", "valid", "helpline", "key:helpline1", "EU", 200, 200),
        ]
        session.add_all(cases)
        session.flush()
        first, second, third, _, fifth = cases
        session.add_all([
            CaseContact(case_id=first.id, signature_name=NAME, contact_email=EMAIL),
            CaseLocation(case_id=first.id, kind="url", location=SECRET_URL, status="removed"),
            CaseClock(case_id=first.id, jurisdiction="US", duty="remove", started_at=at(0), due_at=at(48),
                      met_at=at(12)),
            CaseClock(case_id=second.id, jurisdiction="AU", duty="remove", started_at=at(1), due_at=at(25),
                      met_at=at(5)),
            CaseClock(case_id=second.id, jurisdiction="US", duty="remove", started_at=at(1), due_at=at(49),
                      met_at=at(5)),
            CaseClock(case_id=third.id, jurisdiction="UK", duty="acknowledge", started_at=at(3),
                      due_at=at(27), breached_at=at(27)),
            CaseClock(case_id=fifth.id, jurisdiction="EU", duty="acknowledge", started_at=at(200),
                      due_at=at(224)),
            Appeal(case_id=third.id, kind="appeal", filed_by_party="requester", filed_by="public",
                   statement=f"Please, I am {NAME}", filed_at=at(30), reviewer="key:admin2",
                   outcome="overturned", decided_at=at(31)),
            Appeal(case_id=first.id, kind="counter_notice", filed_by_party="uploader",
                   filed_by="key:platform1", statement="mine", filed_at=at(20)),
            MisuseStrike(subject_kind="uploader", subject_ref="acct-1", kind="warning", reason="r",
                         case_id=first.id, at=at(12), by="key:platform1", automated=True),
            MisuseStrike(subject_kind="uploader", subject_ref="acct-1", kind="suspension", reason="r",
                         case_id=first.id, at=at(13), by="key:platform1", automated=True),
            MisuseStrike(subject_kind="reporter", subject_ref="key:x", kind="warning", reason="r",
                         at=at(14), by="test:admin", automated=False),
        ])
        bank = Bank(name="takedown-blocked")
        session.add(bank)
        session.flush()
        session.add(BankEntry(bank_id=bank.id, signal_type="pdq", value=BANKED_VALUE, value_digest="d" * 64,
                              quality=90, origin="victim_device", case_ref=f"case:{first.id}",
                              added_by="public"))
        audit_repository.record_event(session, "key:platform1", "case.decide", f"case:{first.id}",
                                      automated=False, decision="removed")
        audit_repository.record_event(session, "system", "case.decide", f"case:{second.id}",
                                      automated=True, decision="removed")
        audit_repository.record_event(session, "system", "case.tick", "", automated=True, escalated=1)
        return [case.case_number for case in cases]


def test_transparency_counts_seeded_rows_exactly(ctx):
    seed(ctx)
    report = reporting.transparency_report(ctx, PLATFORM)
    assert report["cases"] == {
        "received": 5,
        "by_state": {"actioned": 2, "appealed": 1, "incomplete": 1, "valid": 1},
        "by_requester_role": {"helpline": 2, "representative": 1, "victim": 2},
        "by_source": {"helpline": 2, "public": 3},
        "by_jurisdiction": {"AU": 1, "EU": 1, "UK": 1, "US": 2, "none": 1},
        # By the Monday (UTC) of each week: T0 is Saturday 1 March; 200 h later is Sunday 9 March.
        "by_week": {"2025-02-24": 4, "2025-03-03": 1},
    }
    assert report["decisions"] == {"total": 3, "removed": 2, "declined": 1, "automated": 1, "human": 2}
    # Handling: 12 h (US), 4 h (AU, US), 20 h (UK)
    assert report["handling_time_hours"]["overall"] == {"count": 3, "median": 12.0, "slowest": 20.0}
    assert report["handling_time_hours"]["by_jurisdiction"]["US"] == {"count": 2, "median": 8.0,
                                                                      "slowest": 12.0}
    assert report["clocks"]["started"] == 5
    assert (report["clocks"]["met"], report["clocks"]["breached"], report["clocks"]["open"]) == (3, 1, 1)
    assert report["appeals"] == {"filed": 1, "upheld": 0, "overturned": 1, "pending": 0}
    assert report["counter_notices"] == {"filed": 1, "upheld": 0, "overturned": 0, "pending": 1}
    assert report["misuse"] == {"warnings": {"by_subject": {"reporter": 1, "uploader": 1}},
                                "suspensions": {"by_subject": {"uploader": 1}}, "automated": 2}
    assert report["audit"]["by_action"] == {"case.decide": {"automated": 1, "human": 1},
                                            "case.tick": {"automated": 1, "human": 0}}
    chain = report["audit"]["chain"]
    assert chain["verified"] is True and chain["head_seq"] == 3 and len(chain["head_hash"]) == 64


def test_a_period_selects_by_when_things_happened(ctx):
    seed(ctx)
    report = reporting.transparency_report(ctx, HELPLINE, since=at(1), until=at(24))
    assert report["cases"]["received"] == 3  # received at 1, 2 and 4 hours
    assert report["decisions"]["total"] == 3  # actioned at 12, 5 and 23 hours
    assert report["appeals"]["filed"] == 0 and report["counter_notices"]["filed"] == 1
    assert report["clocks"]["started"] == 3
    assert report["audit"]["events"] == 0  # the seeded events happened now, not in 2025
    with pytest.raises(InvalidRequest, match="period is empty"):
        reporting.transparency_report(ctx, ADMIN, since=at(5), until=at(5))


def test_the_report_holds_no_case_number_personal_data_url_or_hash_value(ctx):
    numbers = seed(ctx)
    report = reporting.transparency_report(ctx, ADMIN)
    for text in (reporting.report_as(report, "json")[0], reporting.report_as(report, "csv")[0]):
        for secret in [*numbers, EMAIL, NAME, SECRET_URL, "leak.example", BANKED_VALUE, "acct-1"]:
            assert secret not in text


def test_reading_the_report_is_authorised_and_audit_logged(ctx):
    with pytest.raises(Forbidden):
        reporting.transparency_report(ctx, PARTNER)
    reporting.transparency_report(ctx, HELPLINE, since=at(0))
    with ctx.store.transaction() as session:
        events = [event for event in audit_repository.recent_events(session)
                  if event.action == "report.transparency"]
    assert [event.actor for event in events] == ["key:helpline1"]
    assert json.loads(events[0].detail)["since"] == at(0).isoformat()


def test_report_formats(ctx):
    report = reporting.transparency_report(ctx, ADMIN)
    assert reporting.report_as(report, "CSV")[1] == "text/csv"
    assert json.loads(reporting.report_as(report, "json")[0])["cases"]["received"] == 0
    with pytest.raises(InvalidRequest, match="json or csv"):
        reporting.report_as(report, "xml")
    assert reporting.parse_period_bound("2026-05-01", "since") == datetime(2026, 5, 1, tzinfo=UTC)
    assert reporting.parse_period_bound("2026-05-01T10:00:00+02:00", "since") == \
        datetime(2026, 5, 1, 8, tzinfo=UTC)
    with pytest.raises(InvalidRequest, match="since must be an ISO 8601"):
        reporting.parse_period_bound("last tuesday", "since")


# --- File packs ------------------------------------------------------------------------------


def _photo(seed: int) -> bytes:
    return encode_image(photo_pixels(seed, 640, 480), "JPEG", quality=92)


def test_a_file_pack_needs_signing_keys_and_says_how_to_make_them(ctx):
    with pytest.raises(SigningKeysMissing, match="deepshield keys init"):
        reporting.evidence_for_file(ctx, _photo(1), HELPLINE)


def test_a_file_pack_carries_the_hashes_and_verdict_and_checks_valid(ctx):
    init_signing_keys(ctx, force=False, principal=ADMIN)
    data = _photo(2)
    report = reporting.evidence_for_file(ctx, data, HELPLINE)
    media = hash_media(data, ctx.settings.limits)
    check = reporting.check_report(ctx, report.pdf)
    assert check.valid and check.trusted, check.problems
    evidence = check.evidence
    assert evidence["kind"] == "file" and evidence["media"]["size_bytes"] == len(data)
    assert {(line["signal_type"], line["value"]) for line in evidence["hashes"]} == {
        ("pdq", media.pdq.hex), ("md5", media.md5), ("sha256", media.sha256)}
    assert evidence["verification"]["verdict"] == "unknown"
    assert "never authentic" in " ".join(evidence["notices"])
    assert data not in report.pdf  # the file is never embedded
    with ctx.store.transaction() as session:
        event = next(e for e in audit_repository.recent_events(session) if e.action == "report.evidence")
    assert event.actor == "key:helpline1" and json.loads(event.detail) == {"kind": "file",
                                                                           "verdict": "unknown"}
    assert media.sha256 not in event.detail and media.pdq.hex not in event.detail


def test_a_labelled_file_pack_names_the_generator_and_signer(ctx):
    init_signing_keys(ctx, force=False, principal=ADMIN)
    labelled = label_media(ctx, _photo(3), generator="ImageGen", model="v2", principal=PROVIDER)
    report = reporting.evidence_for_file(ctx, labelled.data, ADMIN)
    verification = report.pack.verification
    assert verification.verdict == "verified" and verification.generator == "ImageGen"
    assert verification.signer and verification.created_at


def test_a_victim_or_partner_principal_is_checked_before_anything_is_read(ctx):
    with pytest.raises(Forbidden):
        reporting.evidence_for_file(ctx, _photo(4), PARTNER)
    with pytest.raises(InvalidRequest, match="empty"):
        reporting.evidence_for_file(ctx, b"", ADMIN)


def test_a_pack_signed_through_a_kms_callback_checks_valid(ctx, monkeypatch):
    keys = init_signing_keys(ctx, force=False, principal=ADMIN)
    monkeypatch.setenv("DEEPSHIELD_TEST_KMS_KEY", str(keys.signer_key))
    ctx.settings = ctx.settings.with_overrides(provenance=ProvenanceSettings(
        signing_certificate=keys.signer_certificate_chain, signing_callback="local_kms:sign"))
    calls = len(local_kms.CALLS)
    report = reporting.evidence_for_file(ctx, _photo(5), ADMIN)
    assert len(local_kms.CALLS) > calls  # the key stayed in the "KMS"
    assert reporting.check_report(ctx, report.pdf).valid


def test_a_file_pack_with_a_source_adds_the_comparison_and_still_checks_valid(ctx):
    init_signing_keys(ctx, force=False, principal=ADMIN)
    pictures = comparison_pictures()
    report = reporting.evidence_for_file(ctx, pictures.edited, HELPLINE, source=pictures.source,
                                         source_name="her_photo.jpg")
    comparison = report.pack.comparison
    assert comparison is not None and comparison.outcome == "derived_local_difference"
    assert "her_photo.jpg" in comparison.summary and comparison.method == METHOD_VERSION
    assert comparison.source_sha256 == hashlib.sha256(pictures.source).hexdigest()
    assert len(comparison.regions) == 1 and list(comparison.limits) == list(KNOWN_LIMITS)
    assert comparison.figure_png is not None
    document = pdfium.PdfDocument(report.pdf)
    text = " ".join("".join(page.get_textpage().get_text_range() for page in document).split())
    assert "Comparison with a suspected source" in text and METHOD_VERSION in text
    assert comparison.summary in text and KNOWN_LIMITS[0] in text
    assert sum(1 for page in document for item in page.get_objects(max_depth=3)
               if item.type == pdfium_c.FPDF_PAGEOBJ_IMAGE) == 1  # the figure
    check = reporting.check_report(ctx, report.pdf)
    assert check.valid and check.trusted, check.problems
    signed = check.evidence["comparison"]
    assert signed["outcome"] == "derived_local_difference" and signed["source_name"] == "her_photo.jpg"
    assert signed["figure_sha256"] == hashlib.sha256(comparison.figure_png).hexdigest()
    # Neither file is embedded as it was sent: the source shows only inside the figure.
    assert pictures.source not in report.pdf and pictures.edited not in report.pdf
    with ctx.store.transaction() as session:
        events = audit_repository.recent_events(session)
    pack_event = next(event for event in events if event.action == "report.evidence")
    assert json.loads(pack_event.detail) == {"kind": "file", "verdict": "unknown",
                                             "comparison": "derived_local_difference"}
    assert any(event.action == "forensics.compare" for event in events)


def test_a_source_the_comparison_refuses_makes_no_pack_and_says_which_file(ctx):
    init_signing_keys(ctx, force=False, principal=ADMIN)
    pictures = comparison_pictures()
    with pytest.raises(UnsupportedMedia, match=r"suspected source \(notes.txt\)"):
        reporting.evidence_for_file(ctx, pictures.edited, HELPLINE, source=b"just some words",
                                    source_name="notes.txt")
    with pytest.raises(InvalidRequest, match="source file is empty"):
        reporting.evidence_for_file(ctx, pictures.edited, HELPLINE, source=b"")
    with ctx.store.transaction() as session:
        assert not [event for event in audit_repository.recent_events(session)
                    if event.action == "report.evidence"]


def test_check_report_refuses_what_is_not_a_pdf(ctx):
    with pytest.raises(InvalidRequest, match="not a PDF"):
        reporting.check_report(ctx, b"GIF89a....")


# --- Case packs ------------------------------------------------------------------------------


def _form(seed: int, role: str = "victim") -> tuple[dict[str, Any], Any]:
    """A complete request by ``role`` with the PDQ and SHA-256 of photo ``seed`` (and those
    hashes), signed ``NAME``, at ``SECRET_URL`` and a post, reachable at ``EMAIL``."""
    media = hash_media(_photo(seed), Settings().limits)
    return request_form(
        requester_role=role, signature={"name": NAME, "statement_ticked": True},
        locations=[{"url": SECRET_URL}, {"item_id": f"post-{seed}"}],
        hashes=[{"type": "pdq", "value": media.pdq.hex, "quality": media.pdq.quality},
                {"type": "sha256", "value": media.sha256}],
        contact={"email": EMAIL}, safety_check={"in_immediate_danger": False}), media


@pytest.fixture
def cases_ctx(cheap_kdf_settings: Settings) -> Iterator[ServiceContext]:
    """A context with a cheap PIN KDF and the installation's signing keys."""
    ctx = ServiceContext.open(cheap_kdf_settings)
    try:
        init_signing_keys(ctx, force=False, principal=ADMIN)
        yield ctx
    finally:
        ctx.close()


def _events(ctx, action: str) -> list:
    with ctx.store.transaction() as session:
        return [event for event in audit_repository.recent_events(session, 500) if event.action == action]


def test_a_case_pack_shows_the_case_its_hashes_and_its_history_and_checks_valid(cases_ctx):
    ctx = cases_ctx
    form, media = _form(11)
    filed = case_intake.file_request(ctx, form, None)
    number = filed.case.case_number
    case_review.decide(ctx, number, "removed", "Non-consensual intimate image", PLATFORM)
    report = reporting.evidence_for_case(ctx, number, ADMIN)
    check = reporting.check_report(ctx, report.pdf)
    assert check.valid, check.problems
    evidence = check.evidence
    assert evidence["case_number"] == number and evidence["state"] == "actioned"
    assert evidence["requester_role"] == "victim" and evidence["jurisdictions"] == ["UK", "US"]
    assert {(h["signal_type"], h["value"]) for h in evidence["hashes"]} == {
        ("pdq", media.pdq.hex), ("sha256", media.sha256)}
    assert [loc["location"] for loc in evidence["locations"]] == [SECRET_URL, "post-11"]
    assert {clock["outcome"] for clock in evidence["clocks"]} == {"met"}
    assert evidence["decision"]["decision"] == "removed" and evidence["decision"]["automated"] is False
    assert evidence["contact"] is None
    # Each history line carries its event's chain hash, which still recomputes.
    with ctx.store.transaction() as session:
        by_seq = {event.seq: event.entry_hash for event in audit_repository.recent_events(session, 500)}
    assert evidence["history"] and all(line["chain_ok"] is True for line in evidence["history"])
    assert all(line["chain_hash"] == by_seq[line["seq"]] for line in evidence["history"])
    assert {"case.file", "case.decide"} <= {line["action"] for line in evidence["history"]}
    text = json.dumps(evidence)
    assert EMAIL not in text and NAME not in text  # no PII unless an admin asks for it
    event = _events(ctx, "report.evidence")[0]
    assert event.target.startswith("case:") and json.loads(event.detail) == {
        "hashes": 2, "include_contact": False, "kind": "case"}
    assert media.pdq.hex not in event.detail


def test_only_an_admin_may_include_contact_details_and_the_read_is_logged(cases_ctx):
    ctx = cases_ctx
    number = case_intake.file_request(ctx, _form(12)[0], None).case.case_number
    with pytest.raises(Forbidden, match="only an admin"):
        reporting.evidence_for_case(ctx, number, PLATFORM, include_contact=True)
    report = reporting.evidence_for_case(ctx, number, ADMIN, include_contact=True)
    assert report.pack.contact == {"signature_name": NAME, "contact_email": EMAIL}
    assert json.loads(_events(ctx, "report.evidence")[0].detail)["include_contact"] is True


def test_a_case_pack_is_scoped_like_the_case_itself(cases_ctx):
    ctx = cases_ctx
    filed = case_intake.file_request(ctx, _form(13)[0], None)
    other = case_intake.file_request(ctx, _form(14, "helpline")[0], HELPLINE).case.case_number
    victim = victim_access.victim_principal(ctx, filed.case.case_number, filed.pin)
    assert reporting.evidence_for_case(ctx, filed.case.case_number, victim).pack.case_number == \
        filed.case.case_number
    with pytest.raises(NotFound):  # her PIN opens her own case only
        reporting.evidence_for_case(ctx, other, victim)
    assert reporting.evidence_for_case(ctx, other, HELPLINE).pack.case_number == other
    with pytest.raises(NotFound):  # a helpline sees only what it filed
        reporting.evidence_for_case(ctx, filed.case.case_number, HELPLINE)
    with pytest.raises(Forbidden):
        reporting.evidence_for_case(ctx, other, PARTNER)
    with pytest.raises(NotFound):
        reporting.evidence_for_case(ctx, "DS-0000-0000-0000", ADMIN)


def test_a_withdrawn_case_pack_holds_no_hashes(cases_ctx):
    ctx = cases_ctx
    filed = case_intake.file_request(ctx, _form(15)[0], None)
    victim = victim_access.victim_principal(ctx, filed.case.case_number, filed.pin)
    victim_access.request_withdrawal(ctx, filed.case.case_number, victim, cool_off=timedelta(0))
    pack = reporting.evidence_for_case(ctx, filed.case.case_number, victim).pack
    assert pack.hashes == [] and any("withdrawn" in note for note in pack.notes)


def test_a_case_pack_without_signing_keys_reads_nothing(ctx):
    number = case_intake.file_request(ctx, _form(16)[0], None).case.case_number
    with pytest.raises(SigningKeysMissing, match="keys init"):
        reporting.evidence_for_case(ctx, number, ADMIN)
    assert _events(ctx, "report.evidence") == [] and _events(ctx, "case.read") == []


def test_a_file_pack_with_a_source_video_lists_the_frames_compared(ctx):
    init_signing_keys(ctx, force=False, principal=ADMIN)
    scenes = scenes_of(40)
    clip = excerpt(scenes, 2.0, 4.0, 15, edit=True)
    report = reporting.evidence_for_file(ctx, clip, HELPLINE, source=source_video(scenes),
                                         source_name="original.mp4")
    comparison = report.pack.comparison
    assert comparison is not None and comparison.kind == "video"
    assert comparison.outcome == "derived_local_difference"
    assert comparison.offset_s == pytest.approx(2.0, abs=0.11)
    assert len(comparison.frames) == 12 and sum(frame.regions > 0 for frame in comparison.frames) >= 10
    assert comparison.method.startswith("deepshield-forensics-compare-video/")
    document = pdfium.PdfDocument(report.pdf)
    text = " ".join("".join(page.get_textpage().get_text_range() for page in document).split())
    assert "Frames compared" in text and "Where the file starts in the source" in text
    assert "0:02.000" in text and comparison.method in text and "frame rate" in text
    check = reporting.check_report(ctx, report.pdf)
    assert check.valid and check.trusted, check.problems
    assert check.evidence["comparison"]["kind"] == "video"
