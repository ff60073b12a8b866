"""Takedown cases through the service, on SQLite and PostgreSQL: intake, clocks, decisions,
appeals, misuse, victims' PINs, withdrawal and scoping."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from case_forms import request_form as form
from deepshield.errors import Conflict, Forbidden, InvalidRequest, NotFound, Unauthorized
from deepshield.services import access
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.spread import content_registry, exchange
from deepshield.services.spread.matching import match_media
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import review as case_review
from deepshield.services.takedown import victim_access
from deepshield.settings import Settings
from deepshield.store.models import (
    AuditEvent,
    Bank,
    BankEntry,
    Case,
    CaseClock,
    CaseContact,
    CaseLocation,
    Notification,
)
from factories import encode_image, photo_pixels

ADMIN = Principal("key:admin", Role.ADMIN)
REVIEWER = Principal("key:reviewer-1", Role.PLATFORM)
SECOND_REVIEWER = Principal("key:reviewer-2", Role.PLATFORM)
HELPLINE = Principal("key:helpline-a", Role.HELPLINE)
OTHER_HELPLINE = Principal("key:helpline-b", Role.HELPLINE)
PLATFORM = Principal("key:platform", Role.PLATFORM)  # the platform's uploads: matched, registered
PARTNER = Principal("partner-x", Role.PARTNER)
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ctx(cheap_kdf_settings: Settings) -> Iterator[ServiceContext]:
    # A cheap KDF keeps the PIN tests fast (the format and the checks are the same); three
    # failures lock a case for 10 minutes.
    settings = cheap_kdf_settings.with_overrides(cases=dataclasses.replace(
        cheap_kdf_settings.cases, pin_max_failures=3, pin_lockout_minutes=10))
    context = ServiceContext.open(settings)
    yield context
    context.close()


def copy_of(seed: int) -> bytes:
    return encode_image(photo_pixels(seed), "JPEG", quality=55)


def count(ctx, model) -> int:
    with ctx.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def case_row(ctx, number: str) -> Case:
    with ctx.store.transaction() as session:
        return session.scalar(select(Case).where(Case.case_number == number))


def actions(ctx, case_id: int) -> list[tuple[str, bool]]:
    with ctx.store.transaction() as session:
        return [(e.action, e.automated) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.target == f"case:{case_id}").order_by(AuditEvent.seq))]


# --- intake -------------------------------------------------------------------------------------


def test_a_complete_request_is_valid_at_once_its_hashes_match_and_no_pii_leaves_the_contact_table(ctx):
    filed = case_intake.file_request(ctx, form(ctx, seed=1), None, now=T0)
    case = filed.case
    assert case.state == "valid" and case.missing == [] and case.completed_at == T0
    assert sorted((c.jurisdiction, c.duty, c.due_at) for c in case.clocks) == [
        ("UK", "acknowledge", T0 + timedelta(hours=24)), ("US", "remove", T0 + timedelta(hours=48))]
    assert case.due_at == T0 + timedelta(hours=24) and case.jurisdictions == ["UK", "US"]
    assert case.hash_count == 1 and [loc.location for loc in case.locations] == ["https://forum.example/t/123"]
    assert filed.pin is not None and len(filed.pin) == 8 and filed.pin.isdigit()
    assert case.case_number.startswith("DS-")

    row = case_row(ctx, case.case_number)
    assert row.pin_hash.startswith("$scrypt$10$8$1$") and filed.pin not in row.pin_hash
    assert "Jane" not in row.answers and "jane.private" not in row.answers
    with ctx.store.transaction() as session:
        contact = session.get(CaseContact, row.id)
        assert (contact.signature_name, contact.contact_email) == (
            "Jane Q. Example", "jane.private@example.org")
        entry = session.scalar(select(BankEntry).join(Bank).where(Bank.name == "case-reports"))
        assert (entry.case_ref, entry.origin) == (f"case:{row.id}", "victim_device")
        audit_text = " ".join(e.detail + e.actor for e in session.scalars(select(AuditEvent)))
        receipts = session.scalars(select(Notification).where(Notification.case_id == row.id)).all()
    assert "Jane" not in audit_text and "jane.private" not in audit_text and entry.value not in audit_text
    assert filed.pin not in audit_text
    assert [n.kind for n in receipts] == ["receipt"]
    # Acknowledged means matchable: a copy of the image hits the case's entry at once.
    _, outcome = match_media(ctx, copy_of(1), PLATFORM)
    assert [(m.bank, m.entry_id) for m in outcome.matches] == [("case-reports", entry.id)]
    assert ("case.file", False) in actions(ctx, row.id) and ("case.valid", True) in actions(ctx, row.id)


def test_an_incomplete_request_lists_exactly_what_it_lacks_and_its_clock_starts_when_completed(ctx):
    partial = form(ctx, seed=2, good_faith=False, signature={"name": "Jane"}, contact={})
    filed = case_intake.file_request(ctx, partial, None, now=T0)
    assert filed.case.state == "incomplete" and filed.case.clocks == [] and filed.case.due_at is None
    assert filed.case.missing == [
        "signature.statement_ticked: tick the statement that the request is accurate",
        "good_faith: tick the statement that you believe in good faith the depiction was published "
        "without consent",
        "contact.email: give an email address to reach you at (an anonymous address is fine)",
    ]
    assert filed.case.hash_count == 1
    # Not matchable before it is complete: nothing is banked yet.
    assert match_media(ctx, copy_of(2), PLATFORM)[1].matches == []

    victim = victim_access.victim_principal(ctx, filed.case.case_number, filed.pin, now=T0)
    later = T0 + timedelta(hours=5)
    half = case_intake.update_request(ctx, filed.case.case_number, {"good_faith": True}, victim, now=later)
    assert half.state == "incomplete" and len(half.missing) == 2
    done = case_intake.update_request(ctx, filed.case.case_number,
                                {"signature": {"statement_ticked": True},
                                 "contact": {"email": "anon@example.net"},
                                 "locations": [{"item_id": "post-77"}]}, victim, now=later)
    assert done.state == "valid" and done.missing == [] and done.completed_at == later
    assert {c.due_at for c in done.clocks} == {later + timedelta(hours=24), later + timedelta(hours=48)}
    assert [loc.kind for loc in done.locations] == ["url", "item"]
    assert match_media(ctx, copy_of(2), PLATFORM)[1].matches
    with pytest.raises(Conflict, match="a case in state valid cannot be updated"):
        case_intake.update_request(ctx, done.case_number, {"good_faith": True}, victim)


@pytest.mark.parametrize("bad", [
    {"hashes": [{"type": "pdq", "value": "0" * 64}]},  # degenerate hash
    {"hashes": [{"type": "pdq", "value": "ab" * 31}]},  # wrong length
    {"locations": [{"url": "file:///etc/passwd"}]},
    {"contact": {"email": "jane at example"}},
    {"age_check": {"depicted_under_18": "maybe"}},
    {"image": "iVBORw0KGgo" + "A" * 5000},
    {"signature": {"name": ["nested", {"junk": True}]}},
])
def test_a_malformed_request_is_refused_and_nothing_is_written(ctx, bad):
    before = [count(ctx, model) for model in (Case, CaseContact, CaseLocation, BankEntry, AuditEvent,
                                              Notification)]
    with pytest.raises(InvalidRequest):
        case_intake.file_request(ctx, form(ctx, seed=3, **bad), None, now=T0)
    after = [count(ctx, model) for model in (Case, CaseContact, CaseLocation, BankEntry, AuditEvent,
                                             Notification)]
    assert after == before


def test_an_image_sent_instead_of_hashes_is_refused_with_the_reason(ctx):
    blob = "/9j/4AAQSkZJRgABAQ" + "QUJD" * 2000
    with pytest.raises(InvalidRequest, match="send hashes made on your device, never the image"):
        case_intake.file_request(ctx, form(ctx, hashes=[{"type": "pdq", "value": blob}]), None)
    assert count(ctx, Case) == 0


def test_a_requester_in_danger_is_told_to_contact_emergency_services(ctx):
    filed = case_intake.file_request(ctx, form(ctx, seed=25, safety_check={"in_immediate_danger": True}),
                                     None)
    assert "emergency services" in filed.case.safety_advice
    victim = victim_access.victim_principal(ctx, filed.case.case_number, filed.pin)
    assert victim_access.victim_status(ctx, victim).summary.startswith(filed.case.safety_advice)
    assert case_intake.file_request(ctx, form(ctx, seed=26), None).case.safety_advice is None


def test_an_under_18_request_is_referred_to_take_it_down_and_keeps_nothing_identifying(ctx):
    filed = case_intake.file_request(ctx, form(ctx, seed=4, age_check={"depicted_under_18": True}), None,
                                     now=T0)
    assert filed.case.state == "referred"
    assert filed.case.referral == "NCMEC Take It Down: https://takeitdown.ncmec.org/"
    assert filed.case.clocks == [] and filed.case.locations == [] and filed.case.hash_count == 0
    assert count(ctx, CaseContact) == 0 and count(ctx, BankEntry) == 0 and count(ctx, CaseClock) == 0
    assert match_media(ctx, copy_of(4), PLATFORM)[1].matches == []
    victim = victim_access.victim_principal(ctx, filed.case.case_number, filed.pin)
    assert "takeitdown.ncmec.org" in victim_access.victim_status(ctx, victim).summary


def test_a_retry_with_the_same_request_key_returns_the_same_case_without_a_pin(ctx):
    first = case_intake.file_request(ctx, form(ctx, seed=5), HELPLINE, request_key="req-1", now=T0)
    again = case_intake.file_request(ctx, form(ctx, seed=6), HELPLINE, request_key="req-1", now=T0)
    assert again.case.case_number == first.case.case_number and again.pin is None and first.pin
    assert count(ctx, Case) == 1 and count(ctx, BankEntry) == 1
    # The key is the filer's own: another filer's same key is another request.
    other = case_intake.file_request(ctx, form(ctx, seed=5), OTHER_HELPLINE, request_key="req-1", now=T0)
    assert other.case.case_number != first.case.case_number and count(ctx, Case) == 2


def test_a_public_retry_finds_its_case_only_with_the_same_form_so_a_guessed_key_reveals_nothing(ctx):
    first = case_intake.file_request(ctx, form(ctx, seed=7), None, request_key="guessable-key-0001", now=T0)
    again = case_intake.file_request(ctx, form(ctx, seed=7), None, request_key="guessable-key-0001", now=T0)
    assert again.case.case_number == first.case.case_number and again.pin is None
    stranger = case_intake.file_request(ctx, form(ctx, seed=8), None, request_key="guessable-key-0001",
                                        now=T0)
    assert stranger.case.case_number != first.case.case_number and stranger.pin is not None


def test_only_a_helpline_key_files_as_a_helpline_and_only_a_helpline_gives_a_webhook(ctx):
    with pytest.raises(Forbidden, match="helpline"):
        case_intake.file_request(ctx, form(ctx, requester_role="helpline"), None)
    with pytest.raises(InvalidRequest, match=r"contact\.webhook_url"):
        case_intake.file_request(ctx, form(ctx, contact={"email": "a@b.org", "webhook_url": "https://h.example/x"}),
                           None)
    with pytest.raises(Forbidden):
        case_intake.file_request(ctx, form(ctx), REVIEWER)
    filed = case_intake.file_request(ctx, form(ctx, requester_role="helpline",
                                         contact={"email": "case@helpline.example",
                                                  "webhook_url": "https://helpline.example/hook"}),
                               HELPLINE)
    assert filed.case.requester_role == "helpline"
    with ctx.store.transaction() as session:
        assert session.scalar(select(BankEntry.origin)) == "helpline"
    assert case_review.read_contact(ctx, filed.case.case_number, ADMIN).webhook_url == "https://helpline.example/hook"
    with pytest.raises(Forbidden):
        case_review.read_contact(ctx, filed.case.case_number, REVIEWER)


# --- clocks -------------------------------------------------------------------------------------


def test_an_australian_clock_escalates_before_it_breaches_and_tick_is_idempotent(ctx):
    au = form(ctx, seed=7, jurisdiction={"depicted_person_country": "AU"})
    number = case_intake.file_request(ctx, au, None, now=T0).case.case_number
    [clock] = case_review.get_case(ctx, number, ADMIN).clocks
    assert (clock.jurisdiction, clock.duty, clock.due_at) == ("AU", "remove", T0 + timedelta(hours=24))

    assert case_review.tick(ctx, now=T0 + timedelta(hours=17)) == case_records.TickReport(0, 0, 0)
    assert case_review.tick(ctx, now=T0 + timedelta(hours=18)) == case_records.TickReport(1, 0, 0)
    assert case_review.tick(ctx, now=T0 + timedelta(hours=19)) == case_records.TickReport(0, 0, 0)
    assert case_review.tick(ctx, now=T0 + timedelta(hours=24)) == case_records.TickReport(0, 1, 0)
    assert case_review.tick(ctx, now=T0 + timedelta(hours=30)) == case_records.TickReport(0, 0, 0)
    [clock] = case_review.get_case(ctx, number, ADMIN).clocks
    assert clock.escalated_at == T0 + timedelta(hours=18) and clock.breached_at == T0 + timedelta(hours=24)
    row = case_row(ctx, number)
    assert ("case.escalate", True) in actions(ctx, row.id) and ("case.breach", True) in actions(ctx, row.id)
    due = case_review.due_cases(ctx, ADMIN, within=timedelta(0), now=T0 + timedelta(hours=30))
    assert [(d.case_number, d.breached, d.remaining) for d in due] == [(number, True, timedelta(hours=-6))]


def test_a_pause_holds_the_clocks_and_moves_every_open_deadline_by_its_length(ctx):
    number = case_intake.file_request(ctx, form(ctx, seed=8), None, now=T0).case.case_number
    case_review.acknowledge(ctx, number, REVIEWER, now=T0 + timedelta(hours=1))
    paused = case_review.pause_clocks(ctx, number, "waiting for a location that loads", REVIEWER,
                                now=T0 + timedelta(hours=10))
    assert all(c.paused for c in paused.clocks if c.met_at is None)
    with pytest.raises(Conflict, match="already paused"):
        case_review.pause_clocks(ctx, number, "again", REVIEWER, now=T0 + timedelta(hours=11))
    # Paused: past the original deadline, nothing escalates or breaches.
    assert case_review.tick(ctx, now=T0 + timedelta(hours=49)) == case_records.TickReport(0, 0, 0)
    resumed = case_review.resume_clocks(ctx, number, REVIEWER, now=T0 + timedelta(hours=50))
    clocks = {c.jurisdiction: c for c in resumed.clocks}
    assert clocks["UK"].met_at == T0 + timedelta(hours=1) and clocks["UK"].due_at == T0 + timedelta(hours=24)
    assert clocks["US"].due_at == T0 + timedelta(hours=88) and resumed.due_at == T0 + timedelta(hours=88)
    assert [(p.reason, p.ended_at) for p in resumed.pauses] == [
        ("waiting for a location that loads", T0 + timedelta(hours=50))]
    # The running time (48 h) is what the warning is measured against, not the pause.
    assert case_review.tick(ctx, now=T0 + timedelta(hours=81)) == case_records.TickReport(0, 0, 0)
    assert case_review.tick(ctx, now=T0 + timedelta(hours=82)) == case_records.TickReport(1, 0, 0)
    history = [item.action for item in resumed.history]
    assert history[-3:] == ["case.acknowledge", "case.pause", "case.resume"]


def test_the_due_list_is_soonest_first_and_a_helpline_sees_only_its_own(ctx):
    au = case_intake.file_request(ctx, form(ctx, seed=9, jurisdiction={"platform_countries": ["AU"]}),
                            HELPLINE, now=T0).case.case_number
    us = case_intake.file_request(ctx, form(ctx, seed=10, jurisdiction={"platform_countries": ["US"]}),
                            OTHER_HELPLINE, now=T0).case.case_number
    due = case_review.due_cases(ctx, REVIEWER, within=timedelta(hours=48), now=T0)
    assert [(d.case_number, d.jurisdiction, d.remaining) for d in due] == [
        (au, "AU", timedelta(hours=24)), (us, "US", timedelta(hours=48))]
    assert [d.case_number for d in case_review.due_cases(ctx, REVIEWER, within=timedelta(hours=30),
                                                         now=T0)] == [au]
    assert [d.case_number for d in case_review.due_cases(ctx, HELPLINE, within=timedelta(days=9),
                                                         now=T0)] == [au]
    assert [c.case_number for c in case_review.list_cases(ctx, HELPLINE)] == [au]
    assert {c.case_number for c in case_review.list_cases(ctx, ADMIN)} == {au, us}
    with pytest.raises(NotFound) as not_theirs:
        case_review.get_case(ctx, us, HELPLINE)
    with pytest.raises(NotFound) as no_such:
        case_review.get_case(ctx, "DS-2222-3333-4444", HELPLINE)
    assert not_theirs.value.detail == no_such.value.detail == access.NOT_VISIBLE


# --- decisions and appeals ----------------------------------------------------------------------


def test_illegal_moves_and_fake_as_a_ground_are_refused(ctx):
    incomplete = case_intake.file_request(ctx, form(ctx, seed=11, good_faith=False), None).case.case_number
    with pytest.raises(Conflict, match="a case in state incomplete cannot be removed"):
        case_review.decide(ctx, incomplete, "removed", "intimate image shared without consent", REVIEWER)
    valid = case_intake.file_request(ctx, form(ctx, seed=12), None).case.case_number
    with pytest.raises(Conflict, match="a case in state valid cannot be closed"):
        case_review.close_case(ctx, valid, "done", REVIEWER)
    with pytest.raises(Conflict, match="a case in state valid cannot be appealed"):
        case_review.file_appeal(ctx, valid, "please look again at this", ADMIN)
    with pytest.raises(InvalidRequest, match="real and fake intimate images are treated the same"):
        case_review.decide(ctx, valid, "declined", "The image is AI-generated, so not a real photo", REVIEWER)
    with pytest.raises(InvalidRequest, match="reasons"):
        case_review.decide(ctx, valid, "declined", "no", REVIEWER)
    with pytest.raises(InvalidRequest, match="decision"):
        case_review.decide(ctx, valid, "ignored", "some long enough reasons", REVIEWER)
    assert case_review.get_case(ctx, valid, ADMIN).state == "valid"


def test_a_removal_meets_every_clock_runs_the_copy_sweep_and_notifies(ctx):
    data = encode_image(photo_pixels(13))
    content_registry.register_media(ctx, "upload-13", data, PLATFORM, uploader_ref="acct-9")
    content_registry.register_media(ctx, "reupload-13", copy_of(13), PLATFORM, uploader_ref="acct-10")
    filed = case_intake.file_request(ctx, form(ctx, seed=13, locations=[{"item_id": "upload-13"}]), None,
                                     now=T0)
    number = filed.case.case_number
    decision = case_review.decide(ctx, number, "removed", "Intimate image published without consent.",
                                  REVIEWER,
                            uploader_ref="acct-9", now=T0 + timedelta(hours=3))
    case = decision.case
    assert case.state == "actioned" and case.decision == "removed" and case.decided_by == REVIEWER.actor
    assert case.decision_automated is False and case.due_at is None
    assert all(c.met_at == T0 + timedelta(hours=3) for c in case.clocks)
    assert [loc.status for loc in case.locations] == ["removed"]
    assert {hit.item_id: hit.status for hit in decision.sweep.hits} == {
        "upload-13": "removed", "reupload-13": "flagged"}
    victim = victim_access.victim_principal(ctx, number, filed.pin)
    status = victim_access.victim_status(ctx, victim)
    assert (status.locations_removed, status.locations_total, status.copies_found) == (1, 1, 2)
    assert status.decision == "removed" and "removed" in status.summary
    row = case_row(ctx, number)
    with ctx.store.transaction() as session:
        kinds = [n.kind for n in session.scalars(select(Notification).where(Notification.case_id == row.id))]
        blocked = session.scalars(select(BankEntry).join(Bank).where(
            Bank.name == ctx.settings.cases.block_bank, BankEntry.case_ref == f"case:{row.id}")).all()
    assert "decision" in kinds and blocked
    # Re-uploads are refused at registration now.
    assert content_registry.register_media(ctx, "third-13", copy_of(13), PLATFORM).blocked


def test_an_appeal_goes_to_a_different_reviewer_and_overturning_a_removal_unblocks(ctx):
    filed = case_intake.file_request(ctx, form(ctx, seed=14), None, now=T0)
    number = filed.case.case_number
    case_review.decide(ctx, number, "removed", "Intimate image published without consent.", REVIEWER)
    row = case_row(ctx, number)
    with ctx.store.transaction() as session:
        block = session.scalars(select(BankEntry).join(Bank).where(
            Bank.name == ctx.settings.cases.block_bank, BankEntry.case_ref == f"case:{row.id}")).all()
    assert block and all(entry.withdrawn_at is None for entry in block)

    victim = victim_access.victim_principal(ctx, number, filed.pin)
    with pytest.raises(InvalidRequest, match="counter-notice"):
        case_review.file_appeal(ctx, number, "I object to this removal", victim, kind="counter_notice")
    with pytest.raises(Forbidden):
        case_review.file_appeal(ctx, number, "I object to this removal", victim, party="uploader")
    with pytest.raises(Forbidden):
        case_review.file_appeal(ctx, number, "I object to this removal", REVIEWER, party="requester")
    appealed = case_review.file_appeal(ctx, number, "The image is of me at the beach, not intimate", REVIEWER,
                                 party="uploader", kind="counter_notice")
    assert appealed.state == "appealed"
    [appeal] = appealed.appeals
    assert (appeal.kind, appeal.filed_by_party) == ("counter_notice", "uploader")
    with pytest.raises(Forbidden, match="an appeal goes to a different reviewer"):
        case_review.decide_appeal(ctx, number, appeal.id, "overturned", "The image is not intimate.",
                                  REVIEWER)
    with pytest.raises(InvalidRequest, match="treated the same"):
        case_review.decide_appeal(ctx, number, appeal.id, "overturned", "It is only a deepfake.",
                                  SECOND_REVIEWER)
    decided = case_review.decide_appeal(ctx, number, appeal.id, "overturned", "The image is not intimate.",
                                  SECOND_REVIEWER)
    assert decided.state == "actioned" and decided.decision == "declined"
    assert decided.appeals[0].reviewer == SECOND_REVIEWER.actor and decided.appeals[0].outcome == "overturned"
    assert [loc.status for loc in decided.locations] == ["declined"]
    with ctx.store.transaction() as session:
        assert all(session.get(BankEntry, entry.id).withdrawn_at is not None for entry in block)
    with pytest.raises(Conflict):
        case_review.decide_appeal(ctx, number, appeal.id, "upheld", "Looked at it once more.", ADMIN)
    closed = case_review.close_case(ctx, number, "appeal decided", ADMIN)
    assert closed.state == "closed"
    with pytest.raises(Conflict, match="a case in state closed cannot be withdrawn"):
        victim_access.request_withdrawal(ctx, number, ADMIN)


def test_a_removal_with_nothing_to_sweep_for_stands_without_a_sweep(ctx):
    only_urls = form(locations=[{"url": "https://forum.example/t/9"}, {"item_id": "never-registered"}])
    number = case_intake.file_request(ctx, only_urls, None).case.case_number
    decision = case_review.decide(ctx, number, "removed", "Intimate image published without consent.",
                                  REVIEWER)
    assert decision.sweep is None and decision.case.decision == "removed"
    assert [loc.status for loc in decision.case.locations] == ["removed", "removed"]


def test_overturning_a_decline_runs_the_removal(ctx):
    number = case_intake.file_request(ctx, form(ctx, seed=15), HELPLINE).case.case_number
    case_review.decide(ctx, number, "declined", "The location shows a different person.", REVIEWER)
    case_review.file_appeal(ctx, number, "It is her; here is why the URL is right", HELPLINE)
    [appeal] = case_review.get_case(ctx, number, ADMIN).appeals
    upheld_not = case_review.decide_appeal(ctx, number, appeal.id, "overturned",
                                           "On review the person matches.",
                                     SECOND_REVIEWER)
    assert upheld_not.decision == "removed" and [loc.status for loc in upheld_not.locations] == ["removed"]
    with ctx.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(BankEntry).join(Bank).where(
            Bank.name == ctx.settings.cases.block_bank, BankEntry.withdrawn_at.is_(None))) >= 1


# --- misuse -------------------------------------------------------------------------------------


def test_a_baseless_reporter_is_warned_then_suspended_and_then_refused(ctx):
    number = case_intake.file_request(ctx, form(ctx, seed=16, contact={"email": "Abuser@Example.org"}),
                                None).case.case_number
    first = case_review.record_strike(ctx, "reporter", "",
                                      "a notice about the filer's own ex's wedding photo",
                                REVIEWER, case_number=number, now=T0)
    assert first.kind == "warning" and first.until is None and "abuser" not in first.subject_ref.lower()
    second = case_review.record_strike(ctx, "reporter", first.subject_ref, "another baseless notice",
                                       REVIEWER,
                                 now=T0 + timedelta(days=1))
    assert second.kind == "suspension" and second.until == T0 + timedelta(days=31)
    with pytest.raises(Forbidden, match="this reporter is suspended until"):
        case_intake.file_request(ctx, form(ctx, seed=17, contact={"email": "abuser@example.org"}), None,
                           now=T0 + timedelta(days=2))
    # A key's strikes are kept by its actor.
    case_review.record_strike(ctx, "reporter", HELPLINE.actor, "bulk notices without checks", ADMIN, now=T0)
    case_review.record_strike(ctx, "reporter", HELPLINE.actor, "bulk notices without checks", ADMIN, now=T0)
    with pytest.raises(Forbidden, match="suspended"):
        case_intake.file_request(ctx, form(ctx, seed=18), HELPLINE, now=T0 + timedelta(hours=1))
    assert [s.kind for s in case_review.strikes_for(ctx, "reporter", first.subject_ref, ADMIN)] == [
        "warning", "suspension"]
    with pytest.raises(Forbidden):
        case_review.strikes_for(ctx, "reporter", first.subject_ref, HELPLINE)


# --- victims ------------------------------------------------------------------------------------


def test_pin_failures_lock_the_case_and_every_failure_answers_alike(ctx):
    filed = case_intake.file_request(ctx, form(ctx, seed=19), None, now=T0)
    number, pin = filed.case.case_number, filed.pin
    wrong = f"{(int(pin) + 1) % 10 ** 8:08d}"
    messages = set()
    for attempt in range(3):
        with pytest.raises(Unauthorized) as failure:
            victim_access.victim_principal(ctx, number, wrong, now=T0 + timedelta(minutes=attempt))
        messages.add(failure.value.detail)
    for guess_number, guess_pin in ((number, pin), ("DS-2222-3333-4444", pin), ("garbage", "x" * 500)):
        with pytest.raises(Unauthorized) as failure:
            victim_access.victim_principal(ctx, guess_number, guess_pin, now=T0 + timedelta(minutes=5))
        messages.add(failure.value.detail)
    assert messages == {case_records.NOT_RECOGNISED}
    victim = victim_access.victim_principal(ctx, number.lower(), pin, now=T0 + timedelta(minutes=13))
    assert victim == Principal(f"victim:case:{case_row(ctx, number).id}", Role.VICTIM, number)
    row = case_row(ctx, number)
    assert row.pin_failures == 0 and row.locked_until is None
    with ctx.store.transaction() as session:
        details = " ".join(e.detail for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(["victim.login_failed", "victim.locked"]))))
    assert pin not in details and wrong not in details
    assert ("victim.locked", True) in actions(ctx, row.id)
    # A victim sees her own case only.
    other = case_intake.file_request(ctx, form(ctx, seed=20), None).case.case_number
    with pytest.raises(NotFound):
        case_review.get_case(ctx, other, victim)
    assert case_review.get_case(ctx, number, victim).case_number == number


def test_a_victims_withdrawal_waits_for_the_cool_off_then_leaves_every_bank_and_feed(ctx):
    filed = case_intake.file_request(ctx, form(ctx, seed=21), None, now=T0)
    number = filed.case.case_number
    case_review.decide(ctx, number, "removed", "Intimate image published without consent.", REVIEWER)
    row = case_row(ctx, number)
    with ctx.store.transaction() as session:
        banks_holding = set(session.scalars(select(Bank.name).join(BankEntry).where(
            BankEntry.case_ref == f"case:{row.id}")))
    assert banks_holding == {"case-reports", "takedown-blocked"}
    checkpoint = exchange.fetch_updates(ctx, PARTNER, 0).checkpoint
    assert match_media(ctx, copy_of(21), PLATFORM)[1].matches

    victim = victim_access.victim_principal(ctx, number, filed.pin)
    now = datetime.now(UTC)
    pending = victim_access.request_withdrawal(ctx, number, victim, now=now)
    assert pending.withdraw_effective_at == now + timedelta(hours=24) and pending.state == "actioned"
    assert "unless you cancel" in victim_access.victim_status(ctx, victim).summary
    assert case_review.tick(ctx, now=now + timedelta(hours=23)).withdrawals_applied == 0
    assert match_media(ctx, copy_of(21), PLATFORM)[1].matches  # still blocked in the cool-off

    report = case_review.tick(ctx, now=now + timedelta(hours=24))
    assert report.withdrawals_applied == 1
    assert match_media(ctx, copy_of(21), PLATFORM)[1].matches == []
    page = exchange.fetch_updates(ctx, PARTNER, checkpoint)
    assert page.updates and {(u.bank, u.active) for u in page.updates} == {
        ("case-reports", False), ("takedown-blocked", False)}
    withdrawn = case_review.get_case(ctx, number, ADMIN)
    assert withdrawn.state == "withdrawn" and withdrawn.hash_count == 0 and withdrawn.due_at is None
    with pytest.raises(NotFound, match="erased"):
        case_review.read_contact(ctx, number, ADMIN)
    assert ("case.withdraw", True) in actions(ctx, row.id)
    assert case_review.tick(ctx, now=now + timedelta(hours=25)).withdrawals_applied == 0


def test_a_helpline_withdraws_its_own_case_at_once_and_a_victim_can_cancel_in_the_cool_off(ctx):
    filed = case_intake.file_request(ctx, form(ctx, seed=22), HELPLINE, now=T0)
    number = filed.case.case_number
    victim = victim_access.victim_principal(ctx, number, filed.pin)
    victim_access.request_withdrawal(ctx, number, victim, now=T0)
    cancelled = victim_access.cancel_withdrawal(ctx, number, victim)
    assert cancelled.withdraw_effective_at is None
    with pytest.raises(Conflict, match="no pending withdrawal"):
        victim_access.cancel_withdrawal(ctx, number, victim)
    assert case_review.tick(ctx, now=T0 + timedelta(days=3)).withdrawals_applied == 0
    with pytest.raises(NotFound):
        victim_access.request_withdrawal(ctx, number, OTHER_HELPLINE)
    with pytest.raises(Forbidden):
        victim_access.request_withdrawal(ctx, number, REVIEWER)
    victim_access.request_withdrawal(ctx, number, victim, now=T0)  # pending again; the helpline confirms it
    done = victim_access.request_withdrawal(ctx, number, HELPLINE)
    assert done.state == "withdrawn" and done.withdrawn_at is not None
    assert match_media(ctx, copy_of(22), PLATFORM)[1].matches == []
    with pytest.raises(Conflict, match="a case in state withdrawn cannot be withdrawn"):
        victim_access.request_withdrawal(ctx, number, HELPLINE)


def test_a_legal_hold_keeps_the_contact_but_the_hashes_still_go(ctx):
    number = case_intake.file_request(ctx, form(ctx, seed=23), None).case.case_number
    with pytest.raises(Forbidden):
        case_review.set_legal_hold(ctx, number, True, REVIEWER)
    assert case_review.set_legal_hold(ctx, number, True, ADMIN).legal_hold
    victim_access.request_withdrawal(ctx, number, ADMIN)
    assert match_media(ctx, copy_of(23), PLATFORM)[1].matches == []
    assert case_review.read_contact(ctx, number, ADMIN).contact_email == "jane.private@example.org"
    case_review.set_legal_hold(ctx, number, False, ADMIN)
    with pytest.raises(NotFound):
        case_review.read_contact(ctx, number, ADMIN)


def test_history_holds_state_changes_not_reads(ctx):
    number = case_intake.file_request(ctx, form(ctx, seed=24), None, now=T0).case.case_number
    for _ in range(3):
        case_review.get_case(ctx, number, REVIEWER)
    case_review.read_contact(ctx, number, ADMIN)
    case_review.acknowledge(ctx, number, REVIEWER)
    case_review.acknowledge(ctx, number, REVIEWER)  # again: nothing changes, nothing is logged
    history = case_review.get_case(ctx, number, ADMIN).history
    assert [(h.action, h.automated) for h in history] == [
        ("case.file", False), ("case.valid", True), ("case.acknowledge", False)]
    assert all(h.action != "case.read" for h in history)


def test_two_cases_reporting_one_image_each_keep_their_entries_so_one_withdrawal_leaves_the_other(ctx):
    # A victim files herself and a helpline files for her too: the same hash in two cases.
    own = case_intake.file_request(ctx, form(ctx, seed=31), None)
    helpline = case_intake.file_request(ctx, form(ctx, seed=31), HELPLINE)
    for filed in (own, helpline):
        case_review.decide(ctx, filed.case.case_number, "removed", "Intimate image shared without consent.",
                     REVIEWER)
    with ctx.store.transaction() as session:
        per_bank = sorted(session.execute(select(Bank.name, func.count()).join(BankEntry)
                                          .where(BankEntry.withdrawn_at.is_(None))
                                          .group_by(Bank.name)).all())
    assert per_bank == [("case-reports", 2), ("takedown-blocked", 2)]

    victim_access.request_withdrawal(ctx, own.case.case_number, ADMIN)  # at once
    assert case_review.get_case(ctx, own.case.case_number, ADMIN).hash_count == 0
    still = {m.bank for m in match_media(ctx, copy_of(31), PLATFORM)[1].matches}
    assert still == {"case-reports", "takedown-blocked"}, "the helpline's case lost its block"
    assert case_review.get_case(ctx, helpline.case.case_number, ADMIN).hash_count == 1


def test_removals_strike_the_uploader_and_baseless_declines_the_reporter_warn_then_suspend(ctx):
    for seed in (41, 42):
        number = case_intake.file_request(ctx, form(ctx, seed=seed), HELPLINE).case.case_number
        case_review.decide(ctx, number, "removed", "Intimate image shared without consent.", REVIEWER,
                     uploader_ref="user-991")
    strikes = case_review.strikes_for(ctx, "uploader", "user-991", REVIEWER)
    assert [(s.kind, s.automated) for s in strikes] == [("warning", True), ("suspension", True)]

    with pytest.raises(InvalidRequest, match="only a declined request"):
        number = case_intake.file_request(ctx, form(ctx, seed=43), OTHER_HELPLINE).case.case_number
        case_review.decide(ctx, number, "removed", "Intimate image shared without consent.", REVIEWER,
                     baseless=True)
    declined = case_review.decide(ctx, number, "declined", "The location shows a landscape photo, no person.",
                            REVIEWER, baseless=True)
    assert declined.case.decision == "declined"
    assert [s.kind for s in case_review.strikes_for(ctx, "reporter", OTHER_HELPLINE.actor,
                                                    REVIEWER)] == ["warning"]
