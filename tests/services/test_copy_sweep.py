"""The copy sweep on removal: content hashes enter the block bank, copies are listed, re-uploads refused."""

from __future__ import annotations

import io
import json
import re

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import bindparam, func, select, text

from deepshield.cases.numbers import new_case_number
from deepshield.errors import InvalidSignal
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.spread import content_registry as registry
from deepshield.services.spread.banks import SignalInput
from deepshield.services.spread.copy_sweep import content_index, sweep_for_case
from deepshield.store import content_repository
from deepshield.store.models import AuditEvent, Bank, BankEntry, Case, ContentItem, UTCDateTime, utcnow
from factories import encode_image, photo_pixels

ACTOR = "key:reviewer"
PLATFORM = Principal("key:platform", Role.PLATFORM)


def new_case(ctx: ServiceContext) -> int:
    """A bare case row: the sweep needs only its id (cases.py files real ones)."""
    with ctx.store.transaction() as session:
        case = Case(case_number=new_case_number(), state="valid", requester_role="victim",
                    filed_by="public")
        session.add(case)
        session.flush()
        return case.id


def reencoded(pixels: np.ndarray, *, scale: float = 1.0, quality: int = 60) -> bytes:
    image = Image.fromarray(pixels)
    if scale != 1.0:
        image = image.resize((int(image.width * scale), int(image.height * scale)), Image.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def statuses(ctx: ServiceContext) -> dict[str, set[str]]:
    with ctx.store.transaction() as session:
        found: dict[str, set[str]] = {}
        for item_id, status in session.execute(select(ContentItem.item_id, ContentItem.status)):
            found.setdefault(item_id, set()).add(status)
        return found


@pytest.fixture
def photo() -> np.ndarray:
    return photo_pixels(7)


@pytest.fixture
def platform(ctx: ServiceContext, photo: np.ndarray) -> dict[str, str]:
    """A registry with the original upload, two near-copies and two unrelated items."""
    uploads = {
        "orig": encode_image(photo, "JPEG", quality=92),
        "copy-recompressed": reencoded(photo, quality=45),
        "copy-resized": reencoded(photo, scale=0.6, quality=70),
        "other-1": encode_image(photo_pixels(8)),
        "other-2": encode_image(photo_pixels(9), "PNG"),
    }
    for item_id, data in uploads.items():
        result = registry.register_media(ctx, item_id, data, PLATFORM, uploader_ref=f"u-{item_id}")
        assert result.status == "live" and not result.blocked
    return {item_id: data.hex()[:16] for item_id, data in uploads.items()}


def test_a_removal_flags_near_copies_removes_the_named_item_and_leaves_unrelated_items_live(
        ctx, platform):
    case_id = new_case(ctx)
    result = sweep_for_case(ctx, case_id, [], item_ids=["orig"], actor=ACTOR)

    by_item = {hit.item_id: hit for hit in result.hits}
    assert set(by_item) == {"orig", "copy-recompressed", "copy-resized"}
    assert by_item["orig"].status == "removed" and by_item["orig"].distance == 0
    for copy in ("copy-recompressed", "copy-resized"):
        hit = by_item[copy]
        assert hit.status == "flagged" and hit.signal_type == "pdq"
        assert 0 < hit.distance <= ctx.settings.match.pdq_threshold
        assert hit.uploader_ref == f"u-{copy}"
    assert result.case_id == case_id and result.seconds >= 0
    assert statuses(ctx) == {"orig": {"removed"}, "copy-recompressed": {"flagged"},
                             "copy-resized": {"flagged"}, "other-1": {"live"}, "other-2": {"live"}}
    with ctx.store.transaction() as session:
        listed = session.execute(select(ContentItem.item_id, ContentItem.case_id)
                                 .where(ContentItem.status != "live")).all()
        assert {case for _, case in listed} == {case_id}
        # The original's hashes (PDQ, MD5, SHA-256) are now in the block bank, under the case.
        entries = session.execute(select(BankEntry).join(Bank).where(
            Bank.name == ctx.settings.cases.block_bank)).scalars().all()
    assert result.blocked_signals == 3
    assert sorted(e.signal_type for e in entries) == ["md5", "pdq", "sha256"]
    assert {(e.origin, e.case_ref) for e in entries} == {("platform", f"case:{case_id}")}


def test_a_case_that_gives_only_hashes_flags_the_registered_copies(ctx, platform, photo):
    pdq = registry.hash_for_registration(ctx, encode_image(photo, "PNG")).pdq
    assert pdq is not None
    case_id = new_case(ctx)
    result = sweep_for_case(ctx, case_id, [SignalInput("pdq", pdq.hex, pdq.quality)], item_ids=[],
                            actor=ACTOR)
    assert {hit.item_id: hit.status for hit in result.hits} == {
        "orig": "flagged", "copy-recompressed": "flagged", "copy-resized": "flagged"}
    assert result.blocked_signals == 1
    listed = registry.list_flagged(ctx, PLATFORM, case_id)
    assert [item.item_id for item in listed] == ["copy-recompressed", "copy-resized", "orig"]


def test_a_reupload_of_removed_content_is_refused_at_registration(ctx, platform, photo):
    case_id = new_case(ctx)
    sweep_for_case(ctx, case_id, [], item_ids=["orig"], actor=ACTOR)

    exact = registry.register_media(ctx, "reupload-exact", encode_image(photo, "JPEG", quality=92),
                                    PLATFORM)
    near = registry.register_media(ctx, "reupload-near", reencoded(photo, scale=0.8, quality=50),
                                   PLATFORM)
    unrelated = registry.register_media(ctx, "new-upload", encode_image(photo_pixels(10)), PLATFORM)
    for refused in (exact, near):
        assert refused.blocked and refused.status == "blocked"
        assert refused.matched_case_ref == f"case:{case_id}"
    assert not unrelated.blocked and unrelated.status == "live" and unrelated.matched_case_ref is None
    # By hash too: the platform may send only the PDQ of an upload.
    pdq = registry.hash_for_registration(ctx, reencoded(photo, quality=30)).pdq
    [by_hash] = registry.register_items(
        ctx, [registry.ContentItemInput("reupload-hash", [SignalInput("pdq", pdq.hex, pdq.quality)])],
        PLATFORM)
    assert by_hash.blocked and by_hash.matched_case_ref == f"case:{case_id}"
    with ctx.store.transaction() as session:
        blocked_rows = session.execute(select(ContentItem.item_id, ContentItem.case_id)
                                       .where(ContentItem.status == "blocked")).all()
    assert {item for item, _ in blocked_rows} == {"reupload-exact", "reupload-near", "reupload-hash"}
    assert {case for _, case in blocked_rows} == {case_id}


def test_items_already_removed_or_blocked_keep_their_status_in_a_later_sweep(ctx, platform, photo):
    first = new_case(ctx)
    sweep_for_case(ctx, first, [], item_ids=["orig"], actor=ACTOR)
    registry.register_media(ctx, "reupload", reencoded(photo, quality=50), PLATFORM)
    second = new_case(ctx)
    result = sweep_for_case(ctx, second, [], item_ids=["copy-resized"], actor=ACTOR)

    by_item = {hit.item_id: hit.status for hit in result.hits}
    assert by_item == {"orig": "removed", "copy-resized": "removed", "copy-recompressed": "flagged",
                       "reupload": "blocked"}
    assert statuses(ctx)["orig"] == {"removed"}
    with ctx.store.transaction() as session:
        case_of = dict(session.execute(select(ContentItem.item_id, ContentItem.case_id)
                                       .where(ContentItem.signal_type == "pdq")).all())
    # The original stays with the case that removed it; the newly named item moves to the second.
    assert case_of["orig"] == first and case_of["copy-resized"] == second
    assert case_of["copy-recompressed"] == first  # listed by the first sweep, not re-listed


def test_the_sweep_audit_event_holds_counts_and_never_a_hash(ctx, platform):
    case_id = new_case(ctx)
    result = sweep_for_case(ctx, case_id, [], item_ids=["orig", "never-registered"], actor=ACTOR)
    with ctx.store.transaction() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "content.sweep")).all()
        values = {row.value for row in session.scalars(select(ContentItem))}
    assert event.automated and event.target == f"case:{case_id}" and event.actor == ACTOR
    detail = json.loads(event.detail)
    assert detail == {"content_signals": 3, "blocked_signals": 3, "items_named": 2, "items_unknown": 1,
                      "hits": len(result.hits), "rows_flagged": 6, "rows_removed": 3}
    assert all(isinstance(value, int) for value in detail.values())
    assert not re.search(r"[0-9a-f]{32}", event.detail)
    assert not any(value in event.detail for value in values)


def test_a_bad_signal_is_refused_and_nothing_is_written(ctx, platform):
    case_id = new_case(ctx)
    with pytest.raises(InvalidSignal, match="signal 2"):
        sweep_for_case(ctx, case_id, [SignalInput("md5", "0" * 32), SignalInput("pdq", "xyz")],
                       item_ids=["orig"], actor=ACTOR)
    assert statuses(ctx)["orig"] == {"live"}
    with ctx.store.transaction() as session:
        assert session.scalar(select(func.count()).select_from(BankEntry)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)
                              .where(AuditEvent.action == "content.sweep")) == 0


def _random_pdqs(count: int, seed: int) -> list[str]:
    bits = np.random.default_rng(seed).integers(0, 256, size=(count, 32), dtype=np.uint8)
    return [row.tobytes().hex() for row in bits]


def _near(value: str, flips: int, seed: int) -> str:
    number = int(value, 16)
    for bit in np.random.default_rng(seed).choice(256, size=flips, replace=False):
        number ^= 1 << int(bit)
    return f"{number:064x}"


def _seed_registry(ctx: ServiceContext, values: list[str], prefix: str) -> None:
    """Rows straight through the repository: registration's checks are not what is timed."""
    now = utcnow()
    with ctx.store.transaction() as session:
        content_repository.insert_rows(session, [
            {"item_id": f"{prefix}{i}", "signal_type": "pdq", "value": value,
             "value_digest": content_repository.value_digest(value), "uploader_ref": None,
             "status": "live", "registered_at": now, "registered_by": "test", "status_changed_at": None,
             "case_id": None} for i, value in enumerate(values)])


def _bulk_registry(ctx: ServiceContext, count: int) -> None:
    """``count`` items with random PDQ hashes, made by the database itself: inserting 100,000
    rows from Python would take longer than everything this test times. Item ids and digests
    count up, so every index is appended to (PDQ rows are found through the sweep's index by
    row id, never by digest, so a counter stands in for the digest here)."""
    if ctx.store.backend == "sqlite":
        numbers = ("WITH RECURSIVE numbers(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM numbers "
                   "WHERE i < :count) ")
        source, random_hex, padded = "numbers", "lower(hex(randomblob(32)))", "printf('%064d', i)"
    else:
        numbers, source = "", "generate_series(1, :count) AS numbers(i)"
        random_hex, padded = "md5(random()::text) || md5(random()::text)", "lpad(i::text, 64, '0')"
    statement = text(
        f"{numbers}INSERT INTO content_items (item_id, signal_type, value, value_digest, status, "
        f"registered_at, registered_by) SELECT 'bulk-' || {padded}, 'pdq', {random_hex}, {padded}, "
        f"'live', :now, 'test' FROM {source}"
    ).bindparams(bindparam("now", type_=UTCDateTime()))
    with ctx.store.transaction() as session:
        session.execute(statement, {"count": count, "now": utcnow()})


def test_a_sweep_of_a_100000_item_registry_finds_exactly_the_planted_copies(ctx):
    """The sweep's answer at scale; its speed (cold under 10 s, warm under 0.5 s) is a target
    of bench/copy_sweep.py, not of this test."""
    _bulk_registry(ctx, 100_000)
    victim, other = _random_pdqs(2, seed=1)
    _seed_registry(ctx, [victim, _near(victim, 12, seed=2), other], "planted-")

    first = sweep_for_case(ctx, new_case(ctx), [SignalInput("pdq", victim, 100)], item_ids=[],
                           actor=ACTOR)
    assert {(hit.item_id, hit.distance) for hit in first.hits} == {("planted-0", 0), ("planted-1", 12)}
    index = content_index(ctx)
    assert index.loaded and len(index) == 100_003
    loaded = index._pdq  # a full reload would replace it

    for _ in range(2):  # later sweeps catch up on the loaded index: nothing is reloaded
        result = sweep_for_case(ctx, new_case(ctx), [SignalInput("pdq", other, 100)], item_ids=[],
                                actor=ACTOR)
        assert [hit.item_id for hit in result.hits] == ["planted-2"]
        assert content_index(ctx) is index and index._pdq is loaded and len(index) == 100_003
    assert statuses(ctx)["planted-0"] == {"flagged"} and statuses(ctx)["planted-2"] == {"flagged"}


def test_the_index_finds_items_registered_later_or_committed_late_by_another_process(ctx, settings):
    values = _random_pdqs(50, seed=3)
    _seed_registry(ctx, values[:40], "a-")
    sweep_for_case(ctx, new_case(ctx), [SignalInput("pdq", values[0], 100)], item_ids=[], actor=ACTOR)
    assert content_index(ctx).loaded

    other = ServiceContext.open(settings)  # another process: its writes bypass ctx's index
    try:
        registry.register_items(other, [registry.ContentItemInput(
            "b-late", [SignalInput("pdq", _near(values[1], 5, seed=4), 100)])], PLATFORM)
        # A row committed after a higher id was read (two writers at once on PostgreSQL).
        with other.store.transaction() as session:
            high = content_repository.max_row_id(session)
            session.execute(ContentItem.__table__.insert(), [{
                "id": high + 100, "item_id": "c-high", "signal_type": "pdq", "value": values[45],
                "value_digest": content_repository.value_digest(values[45]), "status": "live",
                "registered_at": utcnow(), "registered_by": "test"}])
        sweep_for_case(ctx, new_case(ctx), [SignalInput("pdq", values[45], 100)], item_ids=[], actor=ACTOR)
        with other.store.transaction() as session:
            session.execute(ContentItem.__table__.insert(), [{
                "id": high + 50, "item_id": "d-gap", "signal_type": "pdq", "value": values[46],
                "value_digest": content_repository.value_digest(values[46]), "status": "live",
                "registered_at": utcnow(), "registered_by": "test"}])
    finally:
        other.close()
    found = sweep_for_case(ctx, new_case(ctx), [SignalInput("pdq", values[1], 100),
                                                SignalInput("pdq", values[46], 100)],
                           item_ids=[], actor=ACTOR)
    assert {hit.item_id: hit.status for hit in found.hits} == {
        "a-1": "flagged", "b-late": "flagged", "d-gap": "flagged"}
    assert {hit.item_id: hit.distance for hit in found.hits}["b-late"] == 5
