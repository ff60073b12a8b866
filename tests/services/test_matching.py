import hashlib
import io
import time
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from deepshield.errors import InvalidSignal
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.spread import banks
from deepshield.services.spread import live_index as matcher_module
from deepshield.services.spread.banks import Origin, SignalInput
from deepshield.services.spread.matching import (
    match_media,
    match_query,
    match_query_async,
    parse_query_signals,
)
from factories import encode_image, encode_video, photo_pixels, scene_video_frames
from principals import operator

#: The platform matches; the operator keeps the banks.
ACTOR = Principal("test:platform", Role.PLATFORM)
OPERATOR = Principal("test:operator", Role.ADMIN)
ASYNC = Principal("test:async", Role.PLATFORM)


def _bank_image(ctx, seed: int, bank: str = "victims") -> list[banks.EntryInfo]:
    if bank not in {b.name for b in banks.list_banks(ctx, OPERATOR)}:
        banks.create_bank(ctx, bank, "", OPERATOR)
    return banks.add_media(ctx, bank, encode_image(photo_pixels(seed)), "victim_device", "C-1", OPERATOR)


def _copy(pixels: np.ndarray, *, scale: float = 1.0, quality: int = 90) -> bytes:
    image = Image.fromarray(pixels)
    if scale != 1.0:
        image = image.resize((int(image.width * scale), int(image.height * scale)), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def test_recompressed_and_resized_copies_match_and_unrelated_images_do_not(ctx):
    entries = _bank_image(ctx, 11)
    pdq_entry = next(e for e in entries if e.signal_type == "pdq")
    original = photo_pixels(11)
    for copy in (_copy(original, quality=40), _copy(original, scale=0.5), _copy(original, scale=1.7)):
        _, outcome = match_media(ctx, copy, ACTOR)
        assert [(m.bank, m.entry_id, m.signal_type, m.variant) for m in outcome.matches] == [
            ("victims", pdq_entry.id, "pdq", "original")]
        assert outcome.matches[0].distance <= 31
    for seed in range(100, 110):
        _, outcome = match_media(ctx, encode_image(photo_pixels(seed)), ACTOR)
        assert outcome.matches == []


def test_an_exact_copy_matches_on_every_signal_at_distance_zero(ctx):
    data = encode_image(photo_pixels(12))
    banks.create_bank(ctx, "victims", "", OPERATOR)
    banks.add_media(ctx, "victims", data, "helpline", None, OPERATOR)
    _, outcome = match_media(ctx, data, ACTOR)
    assert sorted(m.signal_type for m in outcome.matches) == ["md5", "pdq", "sha256"]
    assert {m.distance for m in outcome.matches} == {0}


def test_rotated_and_flipped_copies_match_through_a_dihedral_variant(ctx):
    _bank_image(ctx, 13)
    original = photo_pixels(13)
    for transformed in (np.rot90(original), np.fliplr(original), np.rot90(original, 2)):
        _, outcome = match_media(ctx, _copy(np.ascontiguousarray(transformed)), ACTOR)
        assert len(outcome.matches) == 1
        assert outcome.matches[0].variant != "original"


def test_withdrawal_and_disabling_take_effect_on_the_next_match(ctx):
    entries = _bank_image(ctx, 14)
    pdq_entry = next(e for e in entries if e.signal_type == "pdq")
    copy = _copy(photo_pixels(14), scale=0.6, quality=60)
    assert match_media(ctx, copy, ACTOR)[1].matches
    banks.set_entry_enabled(ctx, "victims", pdq_entry.id, False, OPERATOR)
    assert match_media(ctx, copy, ACTOR)[1].matches == []
    banks.set_entry_enabled(ctx, "victims", pdq_entry.id, True, OPERATOR)
    assert match_media(ctx, copy, ACTOR)[1].matches
    banks.withdraw_entry(ctx, "victims", pdq_entry.id, OPERATOR)
    assert match_media(ctx, copy, ACTOR)[1].matches == []


class _MatcherClock:
    """Stands in for the matcher module's ``time``: its monotonic time moves only when told to."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def monotonic(self) -> float:
        return self.now

    @staticmethod
    def time() -> float:
        return time.time()  # only the "synced at" stamp of the index status


def test_a_running_matcher_sees_writes_made_by_another_process(ctx, settings, monkeypatch):
    """Another process's write shows once the sync interval has passed, on an injected clock; how
    soon that is in wall time is a target of bench/copy_sweep.py, not of this test."""
    clock = _MatcherClock()
    monkeypatch.setattr(matcher_module, "time", clock)
    copy = _copy(photo_pixels(15), scale=0.5)
    assert match_media(ctx, copy, ACTOR)[1].matches == []  # index loaded, empty
    other = ServiceContext.open(settings)  # as the CLI beside a running server
    interval = settings.match.sync_interval_s
    assert interval > 0
    try:
        entries = _bank_image(other, 15)
        clock.now += interval / 2  # not due yet: the change feed is read once per interval
        assert match_media(ctx, copy, ACTOR)[1].matches == []
        clock.now += interval / 2
        assert len(match_media(ctx, copy, ACTOR)[1].matches) == 1
        for entry in entries:
            banks.withdraw_entry(other, "victims", entry.id, operator("cli:other"))
        # A withdrawn entry is never reported, even before the index hears of it: every hit
        # is confirmed active in the store.
        assert match_media(ctx, copy, ACTOR)[1].matches == []
    finally:
        other.close()


def test_with_a_zero_sync_interval_another_process_s_write_shows_at_once(settings):
    immediate = settings.with_overrides(match=replace(settings.match, sync_interval_s=0.0))
    ctx = ServiceContext.open(immediate)
    other = ServiceContext.open(immediate)
    try:
        copy = _copy(photo_pixels(15), scale=0.5)
        assert match_media(ctx, copy, ACTOR)[1].matches == []
        _bank_image(other, 15)
        assert len(match_media(ctx, copy, ACTOR)[1].matches) == 1
    finally:
        other.close()
        ctx.close()


def test_the_matcher_reads_the_change_feed_only_when_due(settings):
    """Between syncs a match costs no change-feed query; a write through this store forces one."""
    ctx = ServiceContext.open(settings.with_overrides(match=replace(settings.match, sync_interval_s=60.0)))
    try:
        copy = _copy(photo_pixels(17), scale=0.5)
        match_media(ctx, copy, ACTOR)
        assert not ctx.matcher._sync_due()
        _bank_image(ctx, 17)  # written through the same store: due at once, not in 60 s
        assert ctx.matcher._sync_due()
        assert len(match_media(ctx, copy, ACTOR)[1].matches) == 1
        assert not ctx.matcher._sync_due()
    finally:
        ctx.close()


def test_matching_by_hash_uses_the_threshold_from_settings(ctx):
    entries = _bank_image(ctx, 16)
    pdq_value = banks.export_bank(ctx, "victims", OPERATOR)[0]["signal_value"]
    near = f"{int(pdq_value, 16) ^ ((1 << 31) - 1):064x}"  # 31 bits away
    far = f"{int(pdq_value, 16) ^ ((1 << 32) - 1):064x}"  # 32 bits away
    found = match_query(ctx, parse_query_signals([("pdq", near)]), ACTOR)
    assert [(m.entry_id, m.distance) for m in found] == [(entries[0].id, 31)]
    assert match_query(ctx, parse_query_signals([("pdq", far)]), ACTOR) == []
    with pytest.raises(InvalidSignal):
        parse_query_signals([("pdq", "12")])


def test_a_featureless_upload_is_matched_only_exactly_with_a_warning(ctx):
    flat = encode_image(np.full((200, 200, 3), 90, dtype=np.uint8), "PNG")
    banks.create_bank(ctx, "victims", "", OPERATOR)
    digest = hashlib.sha256(flat).hexdigest()
    banks.add_signals(ctx, "victims", [SignalInput("sha256", digest)], origin=Origin.PLATFORM,
                      case_ref=None, principal=OPERATOR)
    _, outcome = match_media(ctx, flat, ACTOR)
    assert [m.signal_type for m in outcome.matches] == ["sha256"]
    assert "featureless" in outcome.warnings[0]


def test_a_video_and_its_reencoded_excerpt_match_by_vpdq(ctx):
    frames = scene_video_frames(seed=3, seconds=8, fps=10)
    banks.create_bank(ctx, "videos", "", OPERATOR)
    added = banks.add_media(ctx, "videos", encode_video(frames, fps=10), "helpline", None, OPERATOR)
    assert sorted(e.signal_type for e in added) == ["md5", "sha256", "vpdq"]
    vpdq_entry = next(e for e in added if e.signal_type == "vpdq")
    excerpt = [np.asarray(Image.fromarray(f).resize((128, 96))) for f in frames[20:60]]
    _, outcome = match_media(ctx, encode_video(excerpt, fps=10, container="matroska"), ACTOR)
    assert [(m.entry_id, m.variant) for m in outcome.matches] == [(vpdq_entry.id, "frames")]
    match = outcome.matches[0]
    assert match.query_match_pct == 100.0
    assert 40.0 <= match.compared_match_pct <= 60.0
    other = encode_video(scene_video_frames(seed=4, seconds=4, fps=10), fps=10)
    assert match_media(ctx, other, ACTOR)[1].matches == []


def test_reposts_with_a_border_or_a_caption_band_match_the_plain_banked_hash(ctx):
    entries = _bank_image(ctx, 21)
    pdq_entry = next(e for e in entries if e.signal_type == "pdq")
    original = photo_pixels(21)
    bordered = np.pad(original, ((40, 40), (40, 40), (0, 0)), constant_values=255)
    band = np.full((110, original.shape[1], 3), 255, np.uint8)
    band[30:50, 40:400] = 0  # a line of "text"
    captioned = np.concatenate([band, original])
    captions = {"band-top", "caption15", "caption20"}  # the detected band, or a fixed share cut off
    for repost_pixels, variants in ((bordered, {"trimmed"}), (captioned, captions)):
        _, outcome = match_media(ctx, encode_image(repost_pixels, "PNG"), ACTOR)
        pdq_matches = [m for m in outcome.matches if m.signal_type == "pdq"]
        assert [m.entry_id for m in pdq_matches] == [pdq_entry.id]
        assert pdq_matches[0].variant in variants


def test_repost_queries_can_be_switched_off(ctx, settings):
    _bank_image(ctx, 22)
    bordered = np.pad(photo_pixels(22), ((60, 60), (60, 60), (0, 0)))
    plain = ServiceContext.open(settings.with_overrides(
        match=settings.match.__class__(repost_queries=False)))
    try:
        _, outcome = match_media(plain, encode_image(bordered, "PNG"), ACTOR)
        assert [m for m in outcome.matches if m.signal_type == "pdq"] == []
    finally:
        plain.close()


def test_a_banked_hash_set_finds_a_cropped_repost(ctx):
    banks.create_bank(ctx, "sets", "", OPERATOR)
    photo = photo_pixels(23)
    entries = banks.add_media(ctx, "sets", encode_image(photo, "PNG"), "victim_device", "C-2", OPERATOR,
                              hash_set=True)
    assert sum(e.signal_type == "pdq" for e in entries) == 10  # the hash plus 9 crops (hash set v2)
    height, width = photo.shape[:2]
    cropped = photo[: round(height * 0.9), round(width * 0.1):]
    _, outcome = match_media(ctx, encode_image(cropped, "PNG"), ACTOR)
    assert any(m.bank == "sets" and m.signal_type == "pdq" for m in outcome.matches)


def test_the_async_match_gives_what_the_sync_match_gives_and_is_audited(ctx):
    import asyncio

    from deepshield.store import audit_repository

    _bank_image(ctx, 18)
    pdq_value = banks.export_bank(ctx, "victims", OPERATOR)[0]["signal_value"]
    near = f"{int(pdq_value, 16) ^ 0b111:064x}"
    query = parse_query_signals([("pdq", near)])
    expected = match_query(ctx, query, ACTOR)
    assert len(expected) == 1
    assert asyncio.run(match_query_async(ctx, query, ASYNC)) == expected
    # A due change-feed read and a held index both fall back to the worker thread.
    ctx.matcher._checked_at = float("-inf")
    assert ctx.matcher.find_in_memory(query) is None
    assert asyncio.run(match_query_async(ctx, query, ASYNC)) == expected
    with ctx.matcher._lock:
        assert ctx.matcher.find_in_memory(query) is None
    with ctx.store.transaction() as session:
        events = [e for e in audit_repository.recent_events(session) if e.actor == "test:async"]
    assert len(events) == 2
    assert all(e.action == "match" and str(expected[0].entry_id) in e.detail for e in events)


def test_the_async_match_never_answers_with_an_entry_withdrawn_elsewhere(ctx, settings, monkeypatch):
    """The lookup path checks its hits on the audit writer's connection (one trip for the check
    and the log): a withdrawal the index has not heard of yet is still never answered, and the
    log records the answer actually given."""
    import asyncio
    import json

    from deepshield.store import audit_repository

    clock = _MatcherClock()  # the change feed is never due during the test
    monkeypatch.setattr(matcher_module, "time", clock)
    _bank_image(ctx, 18)
    pdq_value = banks.export_bank(ctx, "victims", OPERATOR)[0]["signal_value"]
    query = parse_query_signals([("pdq", f"{int(pdq_value, 16) ^ 0b111:064x}")])
    [match] = asyncio.run(match_query_async(ctx, query, ASYNC))
    other = ServiceContext.open(settings)  # the CLI beside a running server
    try:
        banks.withdraw_entry(other, "victims", match.entry_id, operator("cli:other"))
    finally:
        other.close()
    assert [hit.entry_id for hit in ctx.matcher.find_in_memory(query)] == [match.entry_id]
    assert asyncio.run(match_query_async(ctx, query, ASYNC)) == []
    with ctx.store.transaction() as session:
        answers = [json.loads(e.detail)["matched_entry_ids"]
                   for e in audit_repository.recent_events(session) if e.actor == ASYNC.actor]
    assert answers == [[], [match.entry_id]]  # newest first


def test_the_driver_sql_hit_check_agrees_with_the_repository_s(ctx):
    """``live_index.active_entry_banks`` (driver SQL, on every lookup with a hit) finds what
    ``bank_repository.active_entry_banks`` (Core) finds: active entries only, with their banks."""
    from deepshield.store import bank_repository

    entries = [e.id for e in _bank_image(ctx, 21)] + [e.id for e in _bank_image(ctx, 22, bank="other")]
    banks.withdraw_entry(ctx, "victims", entries[0], OPERATOR)
    banks.set_entry_enabled(ctx, "other", entries[-1], False, OPERATOR)
    asked = [*entries, entries[1], 10_000_000]  # a repeated id and one that does not exist
    with ctx.store.connection() as connection:
        found = matcher_module.active_entry_banks(connection, asked)
        assert found == bank_repository.active_entry_banks(connection, asked)
    assert entries[0] not in found and entries[-1] not in found
    assert set(found.values()) == {"victims", "other"}
    with ctx.store.connection() as connection:  # past one statement's 500 ids
        many = matcher_module.active_entry_banks(connection, [*range(1, 1200), *entries])
    assert many == found


def test_a_lookup_that_finds_the_index_held_waits_for_it_and_searches_on_its_loop(ctx, monkeypatch):
    """Under load, a lookup that found the index held (a sync in a thread) and then searched in
    a worker thread held the index for that search too: every lookup after it went to the pool
    as well. It now waits in a thread for the index and searches on its own loop."""
    import asyncio
    import threading

    _bank_image(ctx, 19)
    pdq_value = banks.export_bank(ctx, "victims", OPERATOR)[0]["signal_value"]
    query = parse_query_signals([("pdq", pdq_value)])
    expected = match_query(ctx, query, ACTOR)
    searched_in_a_thread = []
    original_match = ctx.matcher.match
    monkeypatch.setattr(ctx.matcher, "match", lambda q: searched_in_a_thread.append(q) or original_match(q))

    held, release = threading.Event(), threading.Event()

    def hold_the_index() -> None:
        with ctx.matcher._lock:  # as a sync in another thread does
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold_the_index)
    holder.start()
    held.wait(5)
    threading.Timer(0.05, release.set).start()
    assert asyncio.run(match_query_async(ctx, query, ASYNC)) == expected
    holder.join(5)
    assert searched_in_a_thread == []

    # An index that stays unavailable: after a few waits the whole match runs in a thread.
    monkeypatch.setattr(ctx.matcher, "find_in_memory", lambda q: None)
    assert asyncio.run(match_query_async(ctx, query, ASYNC)) == expected
    assert searched_in_a_thread == [query]
