"""``scan_archive`` in one process: listings, result rows, bad files, resume, audit, access (issue 17)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from sqlalchemy import select

from deepshield.errors import Forbidden, InvalidRequest
from deepshield.services.access import Principal, Role
from deepshield.services.spread import banks
from deepshield.services.spread.hashing import hash_media
from deepshield.services.spread.live_index import Matcher
from deepshield.services.spread.matching import query_from_media
from deepshield.services.spread.scan import ScanJournal, list_archive, scan_archive
from deepshield.services.spread.scan_index import ScanIndex
from deepshield.store.models import AuditEvent
from factories import encode_image, encode_video, photo_pixels, scene_video_frames
from hostile.corpus import build_corpus

PLATFORM = Principal("test:platform", Role.PLATFORM)
OPERATOR = Principal("test:operator", Role.ADMIN)
BANKED = (21, 22, 23)


def _bank(ctx) -> dict[int, dict[str, int]]:
    """Three photos in bank "victims" and a video in bank "videos": {seed: {signal type: entry id}}."""
    banks.create_bank(ctx, "victims", "", OPERATOR)
    banks.create_bank(ctx, "videos", "", OPERATOR)
    entries = {}
    for seed in BANKED:
        added = banks.add_media(ctx, "victims", encode_image(photo_pixels(seed)), "victim_device", "C-1",
                                OPERATOR)
        entries[seed] = {entry.signal_type: entry.id for entry in added}
    video = encode_video(scene_video_frames(5, seconds=4))
    added = banks.add_media(ctx, "videos", video, "victim_device", "C-2", OPERATOR)
    entries[0] = {entry.signal_type: entry.id for entry in added}
    return entries


def _archive(root: Path) -> Path:
    """A folder: exact and re-encoded copies, unrelated photos, a video copy and bad files."""
    archive = root / "archive"
    (archive / "a" / "b").mkdir(parents=True)
    (archive / "exact.jpg").write_bytes(encode_image(photo_pixels(21)))
    Image.fromarray(photo_pixels(22)).resize((480, 360)).save(archive / "a" / "resized.jpg", quality=60)
    (archive / "a" / "b" / "mirrored.png").write_bytes(encode_image(photo_pixels(23)[:, ::-1], "PNG"))
    for seed in range(40, 46):
        (archive / "a" / f"unrelated-{seed}.jpg").write_bytes(encode_image(photo_pixels(seed)))
    (archive / "clip.mp4").write_bytes(encode_video(scene_video_frames(5, seconds=4)))
    (archive / "truncated.jpg").write_bytes(encode_image(photo_pixels(30))[:3000])
    (archive / "notes.txt").write_text("not media\n")
    (archive / "empty.jpg").write_bytes(b"")
    (archive / ".hidden.jpg").write_bytes(encode_image(photo_pixels(21)))  # dot-names are skipped
    return archive


def _rows(path: Path) -> dict[str, dict]:
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    return {row["content_id"]: row for row in rows}


def test_a_folder_scan_writes_one_row_per_file_with_its_matches_and_errors(ctx, tmp_path):
    entries = _bank(ctx)
    archive = _archive(tmp_path)
    summary = scan_archive(ctx, PLATFORM, archive, tmp_path / "result.jsonl")
    rows = _rows(tmp_path / "result.jsonl")
    unrelated = [f"a/unrelated-{seed}.jpg" for seed in range(40, 46)]
    assert sorted(rows) == ["a/b/mirrored.png", "a/resized.jpg", *unrelated,
                            "clip.mp4", "empty.jpg", "exact.jpg", "notes.txt", "truncated.jpg"]
    exact = {(m["bank"], m["entry_id"], m["signal_type"], m["variant"]) for m in rows["exact.jpg"]["matches"]}
    assert exact == {("victims", entries[21]["pdq"], "pdq", "original"),
                     ("victims", entries[21]["md5"], "md5", "exact"),
                     ("victims", entries[21]["sha256"], "sha256", "exact")}
    [resized] = rows["a/resized.jpg"]["matches"]
    assert (resized["entry_id"], resized["signal_type"]) == (entries[22]["pdq"], "pdq")
    assert 0 < resized["distance"] <= 31
    [mirrored] = rows["a/b/mirrored.png"]["matches"]
    assert (mirrored["entry_id"], mirrored["variant"]) == (entries[23]["pdq"], "flip_y")
    clip = {m["signal_type"]: m for m in rows["clip.mp4"]["matches"]}
    assert clip["vpdq"]["bank"] == "videos" and clip["vpdq"]["entry_id"] == entries[0]["vpdq"]
    for name in unrelated:
        assert rows[name] == {"content_id": name, "path": name, "matches": [], "error": None}
    assert rows["truncated.jpg"]["error"]["code"] == "corrupt_media"
    assert rows["notes.txt"]["error"]["code"] == "unsupported_media"
    assert rows["empty.jpg"]["error"]["code"] == "empty_media"
    assert all(rows[name]["matches"] == [] for name in ("truncated.jpg", "notes.txt", "empty.jpg"))
    counts = (summary.files, summary.matched, summary.errors, summary.scanned, summary.resumed)
    assert counts == (13, 4, 3, 13, 0)
    assert summary.finished and summary.mode == "local" and summary.index_sizes["pdq"] == 3
    assert not (tmp_path / "result.jsonl.scan.json").exists()  # a finished scan leaves its result only


def test_the_scan_index_matches_as_the_live_matcher_does(ctx, tmp_path):
    _bank(ctx)
    index = ScanIndex.load(ctx.store, ctx.settings.match)
    rebuilt = ScanIndex.from_arrays(index.arrays())
    live = Matcher(ctx.store, ctx.settings.match)
    files = [encode_image(photo_pixels(seed)) for seed in (*BANKED, 40, 41)]
    files += [encode_image(photo_pixels(22)[:, ::-1]), encode_video(scene_video_frames(5, seconds=4))]
    for data in files:
        media = hash_media(data, ctx.settings.limits, derived_queries=True)
        query, _ = query_from_media(media, ctx.settings.match.pdq_min_quality)
        assert index.match(query) == rebuilt.match(query) == live.match(query)


def test_listings_in_csv_jsonl_and_parquet_give_the_platforms_content_ids(ctx, tmp_path):
    entries = _bank(ctx)
    media = tmp_path / "media"
    media.mkdir()
    (media / "x.jpg").write_bytes(encode_image(photo_pixels(21)))
    (media / "y.jpg").write_bytes(encode_image(photo_pixels(41)))
    listed = [("post-1", "media/x.jpg"), ("post-2", str(media / "y.jpg")), ("post-3", "media/missing.jpg"),
              ("post-4", "")]
    with (tmp_path / "list.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["content_id", "path", "uploaded"])
        writer.writerows([(cid, path, "2026-01-01") for cid, path in listed])
    (tmp_path / "list.jsonl").write_text("".join(json.dumps({"content_id": cid, "path": path}) + "\n"
                                                 for cid, path in listed))
    pq.write_table(pa.table({"content_id": [cid for cid, _ in listed], "path": [p for _, p in listed]}),
                   tmp_path / "list.parquet")
    results = []
    for listing in ("list.csv", "list.jsonl", "list.parquet"):
        out = tmp_path / f"{listing}.out.parquet"
        scan_archive(ctx, PLATFORM, tmp_path / listing, out)
        results.append(_rows(out))
    assert results[0] == results[1] == results[2]
    rows = results[0]
    assert rows["post-1"]["path"] == "media/x.jpg"
    assert {m["entry_id"] for m in rows["post-1"]["matches"]} == set(entries[21].values())
    assert rows["post-2"]["matches"] == [] and rows["post-2"]["error"] is None
    assert rows["post-3"]["error"]["code"] == "invalid_media"
    assert "no such file" in rows["post-3"]["error"]["detail"]
    assert "no path" in rows["post-4"]["error"]["detail"]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.csv", "content_id,file\n1,a.jpg\n", 'no "path" column'),
    ("bad.jsonl", '{"content_id": "1"}\n', 'no "path" field'),
    ("bad.jsonl", "not json\n", "not JSON"),
    ("bad.parquet", "not parquet", "not a readable Parquet listing"),
    ("bad.txt", "a.jpg\n", "a listing must be"),
    ("binary.csv", b"\xff\xfe\x00path\x00", "not a readable UTF-8 CSV"),
    ("binary.jsonl", b"\x89PNG\r\n\x1a\n\xff", "not a UTF-8 JSON Lines"),
    ("array.jsonl", "[1, 2]\n", "must be a JSON object"),
])
def test_a_malformed_listing_is_refused_before_anything_is_written(ctx, tmp_path, name, content, message):
    if isinstance(content, bytes):
        (tmp_path / name).write_bytes(content)
    else:
        (tmp_path / name).write_text(content)
    with pytest.raises(InvalidRequest, match=message):
        scan_archive(ctx, PLATFORM, tmp_path / name, tmp_path / "out.jsonl")
    assert not (tmp_path / "out.jsonl").exists() and not (tmp_path / "out.jsonl.scan.json").exists()


def test_every_hostile_file_becomes_a_row_and_never_stops_the_scan(ctx, tmp_path):
    corpus = build_corpus()
    folder = tmp_path / "hostile"
    folder.mkdir()
    for number, hostile in enumerate(corpus):
        (folder / f"{number:03d}-{hostile.name}").write_bytes(hostile.data)
    summary = scan_archive(ctx, PLATFORM, folder, tmp_path / "out.jsonl")
    rows = _rows(tmp_path / "out.jsonl")
    assert summary.finished and summary.files == len(corpus) == len(rows)
    for number, hostile in enumerate(corpus):
        row = rows[f"{number:03d}-{hostile.name}"]
        if hostile.expected in ("bomb", "invalid", "unsupported"):
            assert row["error"] is not None and row["error"]["detail"], hostile.name
            assert row["error"]["code"] != "unreadable", (hostile.name, row["error"])  # a known refusal
        if hostile.expected == "bomb":
            assert row["error"]["code"] == "media_too_large", (hostile.name, row["error"])
        if hostile.expected == "valid":
            assert row["error"] is None, (hostile.name, row["error"])


def test_resume_goes_on_after_a_torn_last_line_without_losing_or_repeating_a_file(ctx, tmp_path):
    _bank(ctx)
    archive = _archive(tmp_path)
    out = tmp_path / "result.jsonl"
    complete = tmp_path / "complete.jsonl"
    scan_archive(ctx, PLATFORM, archive, complete)
    # A scan stopped after 5 rows, in the middle of writing the sixth (as a kill -9 leaves it).
    lines = complete.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:5]) + lines[5][: len(lines[5]) // 2])
    (tmp_path / "result.jsonl.scan.json").write_text(json.dumps({
        "format": "deepshield-scan/1", "source": str(archive.resolve()), "detect_labels": False,
        "out": "result.jsonl", "started_at": "2026-12-07T00:00:00+00:00"}))
    with pytest.raises(InvalidRequest, match="exists: --resume continues"):
        scan_archive(ctx, PLATFORM, archive, out)
    with pytest.raises(InvalidRequest, match="same source"):
        scan_archive(ctx, PLATFORM, tmp_path, out, resume=True)
    summary = scan_archive(ctx, PLATFORM, archive, out, resume=True)
    assert (summary.resumed, summary.scanned, summary.files) == (5, 8, 13)
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(written) == 13
    assert sorted(map(json.dumps, written)) == sorted(json.dumps(json.loads(line)) for line in lines)
    with pytest.raises(InvalidRequest, match="has finished"):
        scan_archive(ctx, PLATFORM, archive, out, resume=True)


def test_a_file_listed_twice_gets_two_rows_also_across_a_resume(ctx, tmp_path):
    (tmp_path / "x.jpg").write_bytes(encode_image(photo_pixels(50)))
    (tmp_path / "list.jsonl").write_text('{"path": "x.jpg"}\n' * 3)
    out = tmp_path / "out.jsonl"
    scan_archive(ctx, PLATFORM, tmp_path / "list.jsonl", out)
    first = out.read_text().splitlines(keepends=True)
    assert len(first) == 3
    out.write_text(first[0])
    (tmp_path / "out.jsonl.scan.json").write_text(json.dumps({
        "format": "deepshield-scan/1", "source": str((tmp_path / "list.jsonl").resolve()),
        "detect_labels": False}))
    summary = scan_archive(ctx, PLATFORM, tmp_path / "list.jsonl", out, resume=True)
    assert (summary.resumed, summary.scanned) == (1, 2)
    assert out.read_text().splitlines(keepends=True) == first


def test_a_scan_is_one_audit_event_with_its_counts_and_no_hash(ctx, tmp_path):
    _bank(ctx)
    archive = _archive(tmp_path)
    scan_archive(ctx, PLATFORM, archive, tmp_path / "result.parquet")
    with ctx.store.transaction() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "scan")).all()
    detail = json.loads(event.detail)
    assert event.actor == "test:platform" and event.target == "result.parquet"
    assert {k: detail[k] for k in ("files", "matched", "errors", "scanned", "finished", "mode")} == {
        "files": 13, "matched": 4, "errors": 3, "scanned": 13, "finished": True, "mode": "local"}
    text = event.detail + event.target
    assert not any(len(word) >= 32 and all(c in "0123456789abcdef" for c in word)
                   for word in text.replace('"', " ").split())  # no hash value in the record


def test_only_the_operator_and_platforms_may_scan(ctx, tmp_path):
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / "x.jpg").write_bytes(encode_image(photo_pixels(50)))
    for role in (Role.HELPLINE, Role.PARTNER, Role.PROVIDER, Role.VICTIM):
        with pytest.raises(Forbidden):
            scan_archive(ctx, Principal("test:other", role), tmp_path / "archive",
                         tmp_path / f"{role.value}.jsonl")
        assert not (tmp_path / f"{role.value}.jsonl").exists()
    assert scan_archive(ctx, OPERATOR, tmp_path / "archive", tmp_path / "out.jsonl").files == 1


def test_an_output_that_is_neither_jsonl_nor_parquet_is_refused(ctx, tmp_path):
    with pytest.raises(InvalidRequest, match=r"\.jsonl\) or Parquet"):
        scan_archive(ctx, PLATFORM, tmp_path, tmp_path / "out.csv")


def test_the_journal_drops_a_torn_line_and_keeps_whole_rows(tmp_path):
    journal = ScanJournal(tmp_path / "j.jsonl")
    journal.append([{"content_id": "a", "path": "a", "position": 0}])
    journal.close()
    with (tmp_path / "j.jsonl").open("ab") as handle:
        handle.write(b'{"content_id": "b", "pa')
    assert journal.read() == [{"content_id": "a", "path": "a"}]
    assert (tmp_path / "j.jsonl").read_bytes().endswith(b"}\n")


def test_list_archive_walks_a_folder_in_order_skipping_dot_names(tmp_path):
    for name in ("b.jpg", "a/c.jpg", "a/.d.jpg", ".e/f.jpg", "a/b/g.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    items = list_archive(tmp_path)
    assert [item.content_id for item in items] == ["a/b/g.jpg", "a/c.jpg", "b.jpg"]
    assert [item.position for item in items] == [0, 1, 2]
    assert np.all([Path(item.location).is_file() for item in items])


def test_detect_labels_finds_a_labelled_file_by_its_manifest_and_by_its_mark_alone(keyed, tmp_path):
    from deepshield.services.label.labelling import label_media

    labelled = label_media(keyed, encode_image(photo_pixels(60, 768, 512)), generator="ScanGen", model=None,
                           principal=OPERATOR)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "labelled.jpg").write_bytes(labelled.data)
    # The same output with its manifest stripped (re-encoded): the watermark still names it.
    Image.open(archive / "labelled.jpg").convert("RGB").save(archive / "stripped.jpg", quality=92)
    (archive / "plain.jpg").write_bytes(encode_image(photo_pixels(61, 768, 512)))
    (archive / "broken.jpg").write_bytes(b"\xff\xd8\xff")
    summary = scan_archive(keyed, PLATFORM, archive, tmp_path / "out.jsonl", detect_labels=True)
    rows = _rows(tmp_path / "out.jsonl")
    assert summary.labelled == 2 and summary.detect_labels
    full = rows["labelled.jpg"]["labels"]
    assert full["c2pa"]["label_id"] == labelled.label_id and full["c2pa"]["generator"] == "ScanGen"
    assert full["c2pa"]["state"] in ("Trusted", "Valid")
    assert [mark["label_id"] for mark in full["watermarks"]] == [labelled.label_id]
    stripped = rows["stripped.jpg"]["labels"]
    assert stripped["c2pa"] is None and stripped["watermark_checked"]
    assert [mark["label_id"] for mark in stripped["watermarks"]] == [labelled.label_id]
    assert rows["plain.jpg"]["labels"] == {"c2pa": None, "watermarks": [], "watermark_checked": True}
    assert rows["broken.jpg"]["labels"] is None and rows["broken.jpg"]["error"] is not None
    # The Parquet form holds the same labels.
    scan_archive(keyed, PLATFORM, archive, tmp_path / "out.parquet", detect_labels=True)
    assert _rows(tmp_path / "out.parquet")["stripped.jpg"]["labels"]["watermarks"][0]["label_id"] == \
        labelled.label_id


def test_the_scan_index_works_on_read_only_arrays_as_ray_hands_them_over(ctx):
    _bank(ctx)
    arrays = ScanIndex.load(ctx.store, ctx.settings.match).arrays()

    def frozen(value):
        if isinstance(value, np.ndarray):
            copy = value.copy()
            copy.flags.writeable = False
            return copy
        if isinstance(value, dict):
            return {key: frozen(item) for key, item in value.items()}
        return value

    index = ScanIndex.from_arrays(frozen(arrays))
    media = hash_media(encode_image(photo_pixels(22)), ctx.settings.limits)
    query, _ = query_from_media(media, ctx.settings.match.pdq_min_quality)
    assert {match.signal_type for match in index.match(query)} == {"pdq", "md5", "sha256"}


def test_an_empty_folder_gives_an_empty_result_and_a_summary_of_none(ctx, tmp_path):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "out.jsonl", tmp_path / "out.parquet"):
        summary = scan_archive(ctx, PLATFORM, tmp_path / "empty", out)
        assert (summary.files, summary.scanned, summary.finished) == (0, 0, True)
        assert out.exists() and not _rows(out)
