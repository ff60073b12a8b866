"""The content registry: items by hash only, bulk imports all or nothing, listing and actions."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, inspect, select

from deepshield.errors import Forbidden, InvalidRequest, InvalidSignal, LowQualityHash, NotFound
from deepshield.media.errors import CorruptMedia
from deepshield.services.access import Principal, Role
from deepshield.services.spread import content_registry as registry
from deepshield.services.spread.banks import SignalInput
from deepshield.services.spread.copy_sweep import sweep_for_case
from deepshield.store.models import AuditEvent, Base, ContentItem
from factories import encode_image, photo_pixels

PLATFORM = Principal("key:platform", Role.PLATFORM)
REVIEWER = Principal("key:reviewer", Role.PLATFORM)
PDQ_A = "f" * 32 + "0" * 32
PDQ_B = "0f" * 32
MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def rows(ctx) -> list[tuple[str, str, str]]:
    with ctx.store.transaction() as session:
        return sorted(tuple(row) for row in session.execute(
            select(ContentItem.item_id, ContentItem.signal_type, ContentItem.status)))


def test_items_are_registered_by_hash_and_registering_again_changes_nothing(ctx):
    items = [registry.ContentItemInput("post-1", [SignalInput("pdq", PDQ_A.upper(), 90),
                                                  SignalInput("md5", MD5)], "acct-17"),
             registry.ContentItemInput("post-2", [SignalInput("pdq", PDQ_B)])]
    first = registry.register_items(ctx, items, PLATFORM)
    assert [(r.item_id, r.status, r.blocked, r.matched_case_ref, r.added) for r in first] == [
        ("post-1", "live", False, None, 2), ("post-2", "live", False, None, 1)]
    again = registry.register_items(ctx, items, PLATFORM)
    assert [(r.item_id, r.status, r.added) for r in again] == [("post-1", "live", 0), ("post-2", "live", 0)]
    assert rows(ctx) == [("post-1", "md5", "live"), ("post-1", "pdq", "live"), ("post-2", "pdq", "live")]
    with ctx.store.transaction() as session:
        stored = session.scalar(select(ContentItem).where(ContentItem.signal_type == "pdq",
                                                          ContentItem.item_id == "post-1"))
        assert stored.value == PDQ_A and stored.uploader_ref == "acct-17"  # normalised lowercase
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "content.register")).all()
    assert [json.loads(e.detail) for e in events] == [
        {"items": 2, "rows_added": 3, "duplicates": 0, "blocked": 0},
        {"items": 2, "rows_added": 0, "duplicates": 3, "blocked": 0}]


def test_registered_media_is_hashed_and_its_bytes_are_never_stored(ctx):
    data = encode_image(photo_pixels(3), "PNG")
    item = registry.register_media(ctx, "img-1", data, PLATFORM, uploader_ref="acct-1")
    assert item.status == "live" and item.added == 3
    assert [kind for _, kind, _ in rows(ctx)] == ["md5", "pdq", "sha256"]
    # No column of any table holds the image, or any run of its bytes, raw or encoded.
    probe = data[len(data) // 2:len(data) // 2 + 48]
    needles = (probe.hex(), base64.b64encode(probe).decode(), probe.decode("latin-1"))
    with ctx.store.transaction() as session:
        for table in Base.metadata.sorted_tables:
            if table.name not in inspect(session.connection()).get_table_names():
                continue
            for row in session.execute(table.select()):
                for value in row:
                    if isinstance(value, bytes):
                        assert probe not in value and len(value) < 1024, table.name
                    elif isinstance(value, str):
                        assert not any(needle in value for needle in needles), table.name
                        assert len(value) < 4096, table.name


def test_a_featureless_image_is_registered_by_its_digests_only(ctx):
    flat = encode_image(np.full((200, 200, 3), 128, dtype=np.uint8), "PNG")
    item = registry.register_media(ctx, "flat", flat, PLATFORM)
    assert item.status == "live"
    assert [kind for _, kind, _ in rows(ctx)] == ["md5", "sha256"]


def test_a_bad_item_is_named_and_nothing_is_registered(ctx):
    good = registry.ContentItemInput("ok", [SignalInput("pdq", PDQ_A)])
    with pytest.raises(InvalidSignal, match=r"item 2 \(bad\): signal 1: .*64 hex digits"):
        registry.register_items(ctx, [good, registry.ContentItemInput("bad", [SignalInput("pdq", "abc")])],
                                PLATFORM)
    with pytest.raises(LowQualityHash, match="item 2"):
        registry.register_items(ctx, [good, registry.ContentItemInput("weak", [
            SignalInput("pdq", PDQ_B, 10)])], PLATFORM)
    with pytest.raises(InvalidRequest, match="item 1: item_id"):
        registry.register_items(ctx, [registry.ContentItemInput("tab\there", [SignalInput("md5", MD5)])],
                                PLATFORM)
    with pytest.raises(InvalidRequest, match="at least one signal"):
        registry.register_items(ctx, [registry.ContentItemInput("empty", [])], PLATFORM)
    assert rows(ctx) == []


CSV = (
    "item_id,signal_type,signal_value,quality,uploader_ref\n"
    f"a,pdq,{PDQ_A},90,acct-1\n"
    f"a,md5,{MD5},,acct-1\n"
    "\n"
    f"b,pdq,{PDQ_B},,\n"
)


def test_a_csv_import_groups_rows_by_item_and_reports_progress(ctx, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(CSV)
    progress: list[tuple[int, int]] = []
    summary = registry.import_file(ctx, path, PLATFORM,
                                   progress=lambda done, total: progress.append((done, total)))
    assert summary == registry.ImportSummary("csv", 3, 2, 3, 0, 0)
    assert progress[-1] == (2, 2)
    assert rows(ctx) == [("a", "md5", "live"), ("a", "pdq", "live"), ("b", "pdq", "live")]
    assert registry.import_file(ctx, path, PLATFORM) == registry.ImportSummary("csv", 3, 2, 0, 3, 0)


def test_a_jsonl_import_registers_its_rows(ctx):
    lines = [json.dumps({"item_id": "j1", "signal_type": "pdq", "signal_value": PDQ_A, "quality": 80}),
             "", json.dumps({"item_id": "j2", "signal_type": "md5", "signal_value": MD5,
                             "uploader_ref": "acct-9"})]
    summary = registry.import_text(ctx, "\n".join(lines) + "\n", PLATFORM)
    assert summary == registry.ImportSummary("jsonl", 2, 2, 2, 0, 0)


@pytest.mark.parametrize(("text", "error", "message"), [
    (CSV.replace(f"b,pdq,{PDQ_B}", "b,pdq,zz"), InvalidSignal, "line 5: "),
    (CSV.replace("a,md5", "a,sha1"), InvalidSignal, "line 3: unknown signal type"),
    (CSV.replace(",90,", ",900,"), InvalidRequest, "line 2: quality"),
    (CSV.replace(f"b,pdq,{PDQ_B}", f",pdq,{PDQ_B}"), InvalidRequest, "line 5: item_id"),
    ("item,signal_type,signal_value\n", InvalidRequest, "missing item_id"),
    (json.dumps({"item_id": "x", "signal_type": "md5", "signal_value": MD5}) + "\n{oops\n",
     InvalidRequest, "line 2: not valid JSON"),
    ("\n\n", InvalidRequest, "empty"),
])
def test_a_bad_import_row_is_named_by_line_and_nothing_is_written(ctx, text, error, message):
    with pytest.raises(error, match=message):
        registry.import_text(ctx, text, PLATFORM)
    assert rows(ctx) == []


def test_a_folder_import_names_items_by_path_and_a_bad_file_stops_it(ctx, tmp_path):
    folder = tmp_path / "uploads"
    (folder / "2026").mkdir(parents=True)
    (folder / "a.jpg").write_bytes(encode_image(photo_pixels(1)))
    (folder / "2026" / "b.png").write_bytes(encode_image(photo_pixels(2), "PNG"))
    (folder / ".hidden").write_bytes(b"skipped")
    summary = registry.import_folder(ctx, folder, PLATFORM, uploader_ref="acct-3")
    assert summary == registry.ImportSummary("folder", 2, 2, 6, 0, 0)
    assert sorted({item for item, _, _ in rows(ctx)}) == ["2026/b.png", "a.jpg"]

    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "c.jpg").write_bytes(encode_image(photo_pixels(4)))
    with pytest.raises(CorruptMedia, match=r"broken\.jpg.*nothing was registered"):
        registry.import_folder(ctx, folder, PLATFORM)
    assert sorted({item for item, _, _ in rows(ctx)}) == ["2026/b.png", "a.jpg"]


def _case(ctx) -> tuple[int, str]:
    from deepshield.cases.numbers import new_case_number
    from deepshield.store.models import Case
    with ctx.store.transaction() as session:
        case = Case(case_number=new_case_number(), state="valid", requester_role="victim", filed_by="public")
        session.add(case)
        session.flush()
        return case.id, case.case_number


def test_listed_items_are_shown_to_reviewers_and_marked_removed(ctx):
    photo = photo_pixels(5)
    registry.register_media(ctx, "orig", encode_image(photo), PLATFORM)
    registry.register_media(ctx, "copy", encode_image(np.asarray(Image.fromarray(photo).resize((320, 240))),
                                                      "JPEG", quality=60), PLATFORM, uploader_ref="acct-8")
    registry.register_media(ctx, "other", encode_image(photo_pixels(6)), PLATFORM)
    case_id, number = _case(ctx)
    sweep_for_case(ctx, case_id, [], item_ids=["orig"], actor="key:reviewer")

    with pytest.raises(Forbidden):
        registry.list_flagged(ctx, Principal("key:helpline", Role.HELPLINE))
    [listed] = registry.list_flagged(ctx, PLATFORM)
    assert (listed.item_id, listed.case_number, listed.uploader_ref) == ("copy", number, "acct-8")
    assert sorted(listed.signal_types) == ["md5", "pdq", "sha256"]
    assert [i.item_id for i in registry.list_flagged(ctx, PLATFORM, number.lower())] == ["copy"]
    assert [i.item_id for i in registry.list_flagged(ctx, PLATFORM, case_id)] == ["copy"]
    with pytest.raises(NotFound):
        registry.list_flagged(ctx, PLATFORM, "DS-2222-3333-4444")

    done = registry.mark_actioned(ctx, "copy", "removed", REVIEWER)
    assert done.status == "removed"
    assert registry.list_flagged(ctx, PLATFORM) == []
    with pytest.raises(InvalidRequest, match="final"):
        registry.mark_actioned(ctx, "copy", "live", REVIEWER)
    with pytest.raises(NotFound):
        registry.mark_actioned(ctx, "nope", "removed", REVIEWER)
    with pytest.raises(InvalidRequest, match="status must be"):
        registry.mark_actioned(ctx, "other", "deleted", REVIEWER)
    with ctx.store.transaction() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "content.removed")).all()
        assert session.scalar(select(func.count()).select_from(ContentItem)
                              .where(ContentItem.status == "live")) == 3  # "other"'s rows
    assert event.target == f"case:{case_id}" and event.actor == "key:reviewer"
    assert json.loads(event.detail) == {"item_id": "copy", "previous": "flagged", "changed": True}


def test_a_wrongly_listed_item_can_be_put_back_live(ctx):
    registry.register_items(ctx, [registry.ContentItemInput("x", [SignalInput("pdq", PDQ_A)])], PLATFORM)
    case_id, _ = _case(ctx)
    sweep_for_case(ctx, case_id, [SignalInput("pdq", PDQ_A)], item_ids=[], actor="key:reviewer")
    assert rows(ctx) == [("x", "pdq", "flagged")]
    assert registry.mark_actioned(ctx, "x", "live", REVIEWER).status == "live"
    assert rows(ctx) == [("x", "pdq", "live")]
