"""/v1/content: register by hash or file, import, the sweep's listed copies, marking them removed."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from sqlalchemy import func, select

from deepshield.cases.numbers import new_case_number
from deepshield.services.access import Role
from deepshield.services.spread.copy_sweep import sweep_for_case
from deepshield.store.models import Case, ContentItem
from factories import encode_image, photo_pixels

PDQ = "f" * 32 + "0" * 32
MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def _case(api) -> tuple[int, str]:
    with api.ctx.store.transaction() as session:
        case = Case(case_number=new_case_number(), state="valid", requester_role="victim", filed_by="public")
        session.add(case)
        session.flush()
        return case.id, case.case_number


def _rows(api) -> int:
    with api.ctx.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(ContentItem)))


def _copy(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).resize((400, 300)).save(buffer, "JPEG", quality=55)
    return buffer.getvalue()


def test_register_by_hash_and_by_file_then_a_reupload_after_removal_comes_back_blocked(api):
    response = api.post_json("/v1/content", {"items": [
        {"item_id": "post-1", "signals": [{"type": "pdq", "value": PDQ, "quality": 90},
                                          {"type": "md5", "value": MD5}], "uploader_ref": "acct-1"}]},
        Role.PLATFORM)
    assert response.status_code == 201, response.text
    assert response.json() == {"items": [{"item_id": "post-1", "status": "live", "blocked": False,
                                          "matched_case_ref": None, "added": 2}]}

    photo = photo_pixels(21)
    original = encode_image(photo)
    response = api.upload("/v1/content", original, Role.PLATFORM, item_id="uploads/2026/a.jpg",
                          uploader_ref="acct-2")
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["status"] == "live"

    case_id, _ = _case(api)
    result = sweep_for_case(api.ctx, case_id, [], item_ids=["uploads/2026/a.jpg"], actor="key:reviewer")
    assert [hit.item_id for hit in result.hits] == ["uploads/2026/a.jpg"]

    for item_id, data in (("again-exact", original), ("again-resized", _copy(photo))):
        response = api.upload("/v1/content", data, Role.PLATFORM, item_id=item_id)
        assert response.status_code == 201, response.text
        assert response.json()["items"][0] == {"item_id": item_id, "status": "blocked", "blocked": True,
                                               "matched_case_ref": f"case:{case_id}", "added": 3}
    response = api.upload("/v1/content", encode_image(photo_pixels(22)), Role.PLATFORM, item_id="fresh")
    assert response.json()["items"][0]["blocked"] is False


def test_bad_registrations_get_4xx_and_write_nothing(api):
    bad_hash = {"items": [{"item_id": "x", "signals": [{"type": "pdq", "value": "abc"}]}]}
    body = api.expect_error(api.post_json("/v1/content", bad_hash, Role.PLATFORM), 400, "invalid_signal")
    assert "item 1 (x): signal 1" in body["detail"]
    weak = {"items": [{"item_id": "x", "signals": [{"type": "pdq", "value": PDQ, "quality": 5}]}]}
    api.expect_error(api.post_json("/v1/content", weak, Role.PLATFORM), 422, "low_quality_hash")
    api.expect_error(api.post_json("/v1/content", {"items": []}, Role.PLATFORM), 422, "invalid_request")
    api.expect_error(api.post_json("/v1/content", {"items": [{"item_id": "x", "signals": [
        {"type": "md5", "value": MD5}], "colour": "red"}]}, Role.PLATFORM), 422)
    api.expect_error(api.upload("/v1/content", encode_image(photo_pixels(1)), Role.PLATFORM), 400,
                     "invalid_request")  # no item_id field
    api.expect_error(api.upload("/v1/content", b"not an image at all", Role.PLATFORM, item_id="y"), 415)
    api.expect_error(api.post_json("/v1/content", bad_hash, Role.HELPLINE), 403, "forbidden")
    api.expect_error(api.client.post("/v1/content", json=bad_hash), 401, "unauthorized")
    assert _rows(api) == 0


def test_import_registers_a_csv_body_and_names_a_bad_line(api):
    csv_body = f"item_id,signal_type,signal_value\na,pdq,{PDQ}\na,md5,{MD5}\nb,md5,{'1' * 32}\n"
    response = api.client.post("/v1/content/import", content=csv_body,
                               headers={**api.headers(Role.PLATFORM), "Content-Type": "text/csv"})
    assert response.status_code == 201, response.text
    assert response.json() == {"format": "csv", "rows": 3, "items": 2, "added": 3, "duplicates": 0,
                               "blocked": 0}

    bad = "item_id,signal_type,signal_value\nc,md5,{}\nd,md5,nothex\n".format("2" * 32)
    response = api.client.post("/v1/content/import", content=bad,
                               headers={**api.headers(Role.ADMIN), "Content-Type": "text/csv"})
    assert "line 3" in api.expect_error(response, 400, "invalid_signal")["detail"]
    jsonl = '{"item_id": "e", "signal_type": "md5", "signal_value": "%s"}\n' % ("3" * 32)
    response = api.client.post("/v1/content/import", content=jsonl,
                               headers={**api.headers(Role.PLATFORM), "Content-Type": "application/x-ndjson"})
    assert response.status_code == 201 and response.json()["format"] == "jsonl"
    response = api.client.post("/v1/content/import", content=csv_body,
                               headers={**api.headers(Role.PLATFORM), "Content-Type": "application/pdf"})
    api.expect_error(response, 400, "invalid_request")
    assert _rows(api) == 4


def test_flagged_lists_the_sweep_s_copies_and_removed_marks_them(api):
    photo = photo_pixels(23)
    for item_id, data in (("orig", encode_image(photo)), ("dir/copy", _copy(photo)),
                          ("other", encode_image(photo_pixels(24)))):
        assert api.upload("/v1/content", data, Role.PLATFORM, item_id=item_id).status_code == 201
    case_id, number = _case(api)
    sweep_for_case(api.ctx, case_id, [], item_ids=["orig"], actor="key:reviewer")

    response = api.client.get("/v1/content/flagged", params={"case": number},
                              headers=api.headers(Role.PLATFORM))
    assert response.status_code == 200, response.text
    [item] = response.json()["items"]
    assert item["item_id"] == "dir/copy" and item["case_number"] == number
    assert sorted(item["signal_types"]) == ["md5", "pdq", "sha256"]
    assert "value" not in str(item) and PDQ not in response.text
    api.expect_error(api.client.get("/v1/content/flagged", params={"case": "DS-2222-3333-4444"},
                                    headers=api.headers(Role.PLATFORM)), 404, "not_found")
    api.expect_error(api.client.get("/v1/content/flagged", headers=api.headers(Role.PARTNER)), 403)

    response = api.client.post("/v1/content/dir/copy/removed", headers=api.headers(Role.PLATFORM))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "removed"
    response = api.client.get("/v1/content/flagged", headers=api.headers(Role.ADMIN))
    assert response.json() == {"items": []}
    api.expect_error(api.client.post("/v1/content/nothing-here/removed",
                                     headers=api.headers(Role.PLATFORM)), 404, "not_found")
    api.expect_error(api.client.post("/v1/content/other/removed",
                                     headers=api.headers(Role.HELPLINE)), 403, "forbidden")
