import json

import pytest

from deepshield.errors import Conflict, Forbidden, InvalidRequest, InvalidSignal, LowQualityHash, NotFound
from deepshield.services.access import Principal, Role
from deepshield.services.spread import bank_files, banks
from deepshield.services.spread.banks import Origin, SignalInput
from deepshield.services.spread.hashing import hash_media
from deepshield.store import audit_repository
from factories import encode_image, photo_pixels

#: The operator (as the CLI passes it): every bank action is an admin's.
ACTOR = Principal("test:operator", Role.ADMIN)


def _pdq_of(seed: int, ctx) -> SignalInput:
    media = hash_media(encode_image(photo_pixels(seed)), ctx.settings.limits)
    return SignalInput("pdq", media.pdq.hex, media.pdq.quality)


def test_bank_names_are_unique_and_checked(ctx):
    banks.create_bank(ctx, "ncii-1", "helpline bank", ACTOR)
    with pytest.raises(Conflict):
        banks.create_bank(ctx, "ncii-1", "", ACTOR)
    with pytest.raises(InvalidRequest, match="bank name"):
        banks.create_bank(ctx, "../etc", "", ACTOR)
    assert [(b.name, b.active_entries) for b in banks.list_banks(ctx, ACTOR)] == [("ncii-1", 0)]


def test_adding_the_same_value_twice_returns_the_existing_entry(ctx):
    banks.create_bank(ctx, "b", "", ACTOR)
    signal = _pdq_of(1, ctx)
    first = banks.add_signals(ctx, "b", [signal], origin=Origin.HELPLINE, case_ref="HL-7", principal=ACTOR)
    again = banks.add_signals(ctx, "b", [signal, signal], origin=Origin.HELPLINE, case_ref=None,
                              principal=ACTOR)
    assert first[0].created and first[0].case_ref == "HL-7" and first[0].origin == "helpline"
    assert [e.id for e in again] == [first[0].id, first[0].id]
    assert not any(e.created for e in again)


def test_low_quality_degenerate_and_malformed_hashes_are_refused_with_reasons(ctx):
    banks.create_bank(ctx, "b", "", ACTOR)
    good = _pdq_of(2, ctx)
    cases = [
        (SignalInput("pdq", good.value, 10), LowQualityHash, "quality 10"),
        (SignalInput("pdq", "0" * 64), LowQualityHash, "degenerate"),
        (SignalInput("pdq", "abc"), InvalidSignal, "64 hex digits"),
        (SignalInput("pdq", "g" * 64), InvalidSignal, "hex digits"),
        (SignalInput("sha1", "0" * 40), InvalidSignal, "unknown signal type"),
        (SignalInput("pdq", good.value, 101), InvalidSignal, "quality"),
        (SignalInput("vpdq", "not,a,frame"), InvalidSignal, "vpdq line 1"),
    ]
    for signal, error, message in cases:
        with pytest.raises(error, match=message):
            banks.add_signals(ctx, "b", [signal], origin=Origin.HELPLINE, case_ref=None, principal=ACTOR)
    with pytest.raises(InvalidRequest, match="case reference"):
        banks.add_signals(ctx, "b", [good], origin=Origin.HELPLINE, case_ref="Jane Doe, 5 Main St",
                          principal=ACTOR)
    assert banks.list_banks(ctx, ACTOR)[0].active_entries == 0


def test_a_flat_image_is_refused_for_banking(ctx):
    flat = hash_media(encode_image(photo_pixels(3) * 0 + 128), ctx.settings.limits)
    with pytest.raises(LowQualityHash, match="featureless"):
        banks.signals_of_media(flat, ctx.settings.match.pdq_min_quality)


def test_withdrawn_entries_cannot_come_back_and_unknown_ones_are_not_found(ctx):
    banks.create_bank(ctx, "b", "", ACTOR)
    entry = banks.add_signals(ctx, "b", [_pdq_of(4, ctx)], origin=Origin.VICTIM_DEVICE, case_ref=None,
                              principal=ACTOR)[0]
    withdrawn = banks.withdraw_entry(ctx, "b", entry.id, ACTOR)
    assert withdrawn.withdrawn_at is not None
    with pytest.raises(Conflict, match="withdrawn"):
        banks.set_entry_enabled(ctx, "b", entry.id, True, ACTOR)
    with pytest.raises(NotFound):
        banks.withdraw_entry(ctx, "b", entry.id + 100, ACTOR)
    with pytest.raises(NotFound):
        banks.withdraw_entry(ctx, "other", entry.id, ACTOR)
    # Re-adding a withdrawn value makes a new entry; the withdrawn one stays as the record.
    again = banks.add_signals(ctx, "b", [_pdq_of(4, ctx)], origin=Origin.HELPLINE, case_ref=None,
                              principal=ACTOR)[0]
    assert again.created and again.id != entry.id


def test_export_then_import_round_trips_in_json_and_csv(ctx):
    banks.create_bank(ctx, "source", "", ACTOR)
    signals = [_pdq_of(5, ctx), _pdq_of(6, ctx), SignalInput("md5", "ab" * 16),
               SignalInput("sha256", "cd" * 32)]
    added = banks.add_signals(ctx, "source", signals, origin=Origin.HELPLINE, case_ref="HL-9",
                              principal=ACTOR)
    banks.withdraw_entry(ctx, "source", added[1].id, ACTOR)
    records = banks.export_bank(ctx, "source", ACTOR)
    assert len(records) == 3
    everything = banks.export_bank(ctx, "source", ACTOR, include_inactive=True)
    assert len(everything) == 4
    for name, text in (("from-json", bank_files.render_json_export("source", everything)),
                       ("from-csv", bank_files.render_csv_export(everything))):
        banks.create_bank(ctx, name, "", ACTOR)
        imported = banks.import_records(ctx, name, bank_files.parse_import(text), ACTOR)
        assert sorted((e.signal_type, e.quality, e.case_ref, e.origin) for e in imported) == sorted(
            (r["signal_type"], r["quality"], r["case_ref"], "import") for r in records)
        values = {r["signal_value"] for r in banks.export_bank(ctx, name, ACTOR)}
        assert values == {r["signal_value"] for r in records}


def test_plain_signal_type_value_csv_imports(ctx):
    banks.create_bank(ctx, "b", "", ACTOR)
    pdq = _pdq_of(7, ctx).value
    csv_text = f"signal_type,signal_value\npdq,{pdq}\nmd5,{'e' * 32}\n"
    imported = banks.import_records(ctx, "b", bank_files.parse_import(csv_text), ACTOR)
    assert [e.signal_type for e in imported] == ["pdq", "md5"]


def test_bad_import_files_say_what_is_wrong(ctx):
    banks.create_bank(ctx, "b", "", ACTOR)
    with pytest.raises(InvalidRequest, match="empty"):
        bank_files.parse_import("  ")
    with pytest.raises(InvalidRequest, match="signal_type and signal_value"):
        bank_files.parse_import("a,b\n1,2\n")
    with pytest.raises(InvalidRequest, match="not valid JSON"):
        bank_files.parse_import("[{")
    with pytest.raises(InvalidRequest, match="record 2: missing signal_value"):
        banks.import_records(ctx, "b", [{"signal_type": "md5", "signal_value": "a" * 32},
                                        {"signal_type": "md5"}], ACTOR)
    with pytest.raises(InvalidSignal, match="signal 1"):
        banks.import_records(ctx, "b", [{"signal_type": "md5", "signal_value": "zz"}], ACTOR)
    assert banks.list_banks(ctx, ACTOR)[0].active_entries == 0


def test_every_write_and_every_export_is_audit_logged_without_hash_values(ctx):
    banks.create_bank(ctx, "b", "", ACTOR)
    signal = _pdq_of(8, ctx)
    entry = banks.add_signals(ctx, "b", [signal], origin=Origin.HELPLINE, case_ref=None, principal=ACTOR)[0]
    banks.set_entry_enabled(ctx, "b", entry.id, False, ACTOR)
    banks.set_entry_enabled(ctx, "b", entry.id, True, ACTOR)
    banks.withdraw_entry(ctx, "b", entry.id, ACTOR)
    banks.export_bank(ctx, "b", ACTOR)
    with ctx.store.transaction() as session:
        events = audit_repository.recent_events(session)
        actions = [event.action for event in reversed(events)]
        details = [event.detail for event in events]
    assert actions == ["bank.create", "bank.add", "bank.disable", "bank.enable", "bank.withdraw",
                       "bank.export"]
    assert all(json.loads(detail) is not None for detail in details)
    assert not any(signal.value in detail for detail in details)


def test_the_service_authorises_and_scopes_a_principal_whatever_the_door(ctx):
    # Issue 12, Fix 1: the rules live in the service, not in the doors.
    banks.create_bank(ctx, "b", "", ACTOR)
    banks.create_bank(ctx, ctx.settings.cases.block_bank, "", ACTOR)
    helpline, other = Principal("key:h1", Role.HELPLINE), Principal("key:h2", Role.HELPLINE)
    platform = Principal("key:p1", Role.PLATFORM)
    [entry] = banks.add_signals(ctx, "b", [SignalInput("md5", "a" * 32)], origin=Origin.HELPLINE,
                                case_ref=None, principal=helpline)
    with pytest.raises(Forbidden):
        banks.withdraw_entry(ctx, "b", entry.id, platform)
    with pytest.raises(Forbidden):
        banks.set_entry_enabled(ctx, "b", entry.id, False, helpline)
    with pytest.raises(Forbidden, match="takedown"):
        banks.add_signals(ctx, ctx.settings.cases.block_bank, [SignalInput("md5", "b" * 32)],
                          origin=Origin.HELPLINE, case_ref=None, principal=helpline)
    with pytest.raises(NotFound, match=f"has no entry {entry.id}$"):
        banks.withdraw_entry(ctx, "b", entry.id, other)
    assert banks.withdraw_entry(ctx, "b", entry.id, helpline).withdrawn_at is not None
    # The operator (the CLI's principal) may write a system bank.
    operator = Principal("cli:operator", Role.ADMIN)
    [blocked] = banks.add_signals(ctx, ctx.settings.cases.block_bank, [SignalInput("md5", "c" * 32)],
                                  origin=Origin.PLATFORM, case_ref=None, principal=operator)
    assert banks.withdraw_entry(ctx, ctx.settings.cases.block_bank, blocked.id, ACTOR).withdrawn_at


@pytest.mark.parametrize("entry_id", [2**31, 2**63 - 1, 2**63, 2**64, 0, -1])
def test_an_entry_id_that_cannot_exist_is_not_found_and_not_a_crash(ctx, entry_id):
    # Issue 12, Fix 6: 2**63 and above cannot be bound at all (OverflowError), and PostgreSQL's
    # 32-bit id column refuses 2**31 and above with an error.
    banks.create_bank(ctx, "b", "", ACTOR)
    with pytest.raises(NotFound, match=f"has no entry {entry_id}$"):
        banks.withdraw_entry(ctx, "b", entry_id, ACTOR)
    with pytest.raises(NotFound, match=f"has no entry {entry_id}$"):
        banks.set_entry_enabled(ctx, "b", entry_id, False, ACTOR)
    assert banks.list_banks(ctx, ACTOR)[0].active_entries == 0
