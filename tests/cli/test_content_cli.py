"""``deepshield content``: register, import (CSV, JSON Lines, a folder), flagged, removed."""

from __future__ import annotations

import json

from PIL import Image

from deepshield.cases.numbers import new_case_number
from deepshield.services.context import ServiceContext
from deepshield.services.spread.copy_sweep import sweep_for_case
from deepshield.settings import load_settings
from deepshield.store.models import Case
from factories import encode_image, photo_pixels

PDQ = "f" * 32 + "0" * 32
MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def _sweep(item_ids: list[str]) -> str:
    """Remove a case's content the way cases.decide does (a bare case row stands in)."""
    ctx = ServiceContext.open(load_settings())
    try:
        with ctx.store.transaction() as session:
            case = Case(case_number=new_case_number(), state="valid", requester_role="victim",
                        filed_by="public")
            session.add(case)
            session.flush()
            case_id, number = case.id, case.case_number
        sweep_for_case(ctx, case_id, [], item_ids=item_ids, actor="cli:test")
    finally:
        ctx.close()
    return number


def test_register_sweep_flagged_and_removed(cli_env, tmp_path, run, run_json):
    photo = photo_pixels(31)
    files = {"orig": tmp_path / "orig.jpg", "copy": tmp_path / "copy.webp", "other": tmp_path / "o.png"}
    Image.fromarray(photo).save(files["orig"], quality=90)
    Image.fromarray(photo).resize((320, 240)).save(files["copy"], quality=60)
    Image.fromarray(photo_pixels(32)).save(files["other"])
    for item_id, path in files.items():
        [item] = run_json("content", "register", item_id, str(path), "--uploader", f"acct-{item_id}")
        assert item["status"] == "live" and item["blocked"] is False and item["added"] == 3

    number = _sweep(["orig"])
    [listed] = run_json("content", "flagged")
    assert listed["item_id"] == "copy" and listed["case_number"] == number
    assert listed["uploader_ref"] == "acct-copy"
    assert run_json("content", "flagged", "--case", number)[0]["item_id"] == "copy"
    code, out, _ = run("content", "flagged")
    assert code == 0 and "copy" in out and number in out

    [again] = run_json("content", "register", "reupload", str(files["orig"]))
    assert again["blocked"] is True and again["status"] == "blocked"
    code, out, _ = run("content", "register", "reupload-2", str(files["copy"]))
    assert code == 0 and "blocked" in out

    [done] = run_json("content", "removed", "copy")
    assert done["status"] == "removed"
    assert run_json("content", "flagged") == []
    code, out, _ = run("content", "removed", "no-such-item", "--json")
    assert code == 4 and json.loads(out)["error"] == "not_found"


def test_import_of_csv_jsonl_and_a_folder(cli_env, tmp_path, run, run_json):
    csv_file = tmp_path / "items.csv"
    csv_file.write_text(f"item_id,signal_type,signal_value,quality,uploader_ref\na,pdq,{PDQ},90,u1\n"
                        f"a,md5,{MD5},,u1\n")
    assert run_json("content", "import", str(csv_file)) == {
        "format": "csv", "rows": 2, "items": 1, "added": 2, "duplicates": 0, "blocked": 0}
    jsonl = tmp_path / "items.jsonl"
    jsonl.write_text(json.dumps({"item_id": "b", "signal_type": "md5", "signal_value": "1" * 32}) + "\n")
    assert run_json("content", "import", str(jsonl))["format"] == "jsonl"
    folder = tmp_path / "uploads"
    folder.mkdir()
    (folder / "x.jpg").write_bytes(encode_image(photo_pixels(33)))
    (folder / "y.png").write_bytes(encode_image(photo_pixels(34), "PNG"))
    summary = run_json("content", "import", str(folder), "--uploader", "acct-5")
    assert summary == {"format": "folder", "rows": 2, "items": 2, "added": 6, "duplicates": 0, "blocked": 0}
    code, out, _ = run("content", "import", str(csv_file))
    assert code == 0 and "2 already registered" in out


def test_a_bad_row_or_file_exits_3_naming_it_and_registers_nothing(cli_env, tmp_path, run, run_json):
    bad = tmp_path / "bad.csv"
    bad.write_text(f"item_id,signal_type,signal_value\na,md5,{MD5}\nb,pdq,not-hex\n")
    code, out, _ = run("content", "import", str(bad), "--json")
    assert code == 3 and "line 3" in json.loads(out)["detail"]
    code, _, err = run("content", "register", "x", str(tmp_path / "missing.jpg"))
    assert code == 3 and "missing.jpg" in err
    code, out, _ = run("content", "import", str(tmp_path / "nothing.csv"), "--json")
    assert code == 3 and "cannot read" in json.loads(out)["detail"]
    assert run_json("content", "flagged") == []
    # Nothing from the bad file was registered: its first (good) row registers as new now.
    good = tmp_path / "good.csv"
    good.write_text(f"item_id,signal_type,signal_value\na,md5,{MD5}\n")
    assert run_json("content", "import", str(good))["added"] == 1


def test_the_content_commands_are_listed_in_help(cli_env, run):
    code, out, _ = run("content", "--help")
    assert code == 0
    for command in ("register", "import", "flagged", "removed"):
        assert command in out
