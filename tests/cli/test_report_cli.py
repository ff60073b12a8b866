"""`deepshield report case|file|check|transparency` end to end, with their exit codes."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from case_forms import request_form
from comparison_pictures import comparison_pictures
from deepshield.cli.report_commands import CHECK_INVALID, CHECK_VALID
from deepshield.forensics.comparison import METHOD_VERSION
from deepshield.services.context import ServiceContext
from deepshield.services.spread.hashing import hash_media
from deepshield.services.takedown import intake as case_intake
from deepshield.settings import load_settings
from factories import encode_image, photo_pixels


def _photo(tmp_path, seed: int):
    path = tmp_path / f"photo-{seed}.jpg"
    path.write_bytes(encode_image(photo_pixels(seed, 640, 480), "JPEG", quality=92))
    return path


def test_report_file_then_check_it_and_catch_a_change(cli_env, tmp_path, run):
    photo = _photo(tmp_path, 1)
    code, _, err = run("report", "file", str(photo), "--out", str(tmp_path / "pack.pdf"))
    assert code == 4 and "deepshield keys init" in err  # no signing identity yet
    assert run("keys", "init")[0] == 0

    code, out, err = run("report", "file", str(photo), "--out", str(tmp_path / "pack.pdf"), "--json")
    assert code == 0, (out, err)
    written = json.loads(out)
    assert written["verdict"] == "unknown" and written["bytes"] == (tmp_path / "pack.pdf").stat().st_size

    code, out, _ = run("report", "check", str(tmp_path / "pack.pdf"))
    assert code == CHECK_VALID == 0 and "valid" in out and "DeepShield development signer" in out
    code, out, _ = run("report", "check", str(tmp_path / "pack.pdf"), "--json")
    check = json.loads(out)
    assert code == 0 and check["valid"] and check["problems"] == []
    sha256 = hash_media(photo.read_bytes(), load_settings().limits).sha256
    assert {"signal_type": "sha256", "value": sha256, "quality": None, "origin": None, "note": ""} in \
        check["evidence"]["hashes"]

    tampered = bytearray((tmp_path / "pack.pdf").read_bytes())
    tampered[tampered.index(b"stream\n") + 12] ^= 0x01
    (tmp_path / "tampered.pdf").write_bytes(bytes(tampered))
    code, out, _ = run("report", "check", str(tmp_path / "tampered.pdf"))
    assert code == CHECK_INVALID == 11 and "NOT valid" in out and "changed after signing" in out

    (tmp_path / "appended.pdf").write_bytes((tmp_path / "pack.pdf").read_bytes() + b"\n%extra\n")
    code, out, _ = run("report", "check", str(tmp_path / "appended.pdf"), "--json")
    assert code == 11 and not json.loads(out)["valid"]


def test_report_file_with_a_source_adds_the_comparison_and_still_checks(cli_env, tmp_path, run):
    pictures = comparison_pictures()
    (tmp_path / "suspect.jpg").write_bytes(pictures.edited)
    (tmp_path / "her_photo.jpg").write_bytes(pictures.source)
    assert run("keys", "init")[0] == 0
    code, out, err = run("report", "file", str(tmp_path / "suspect.jpg"), "--source",
                         str(tmp_path / "her_photo.jpg"), "--out", str(tmp_path / "pack.pdf"))
    assert code == 0, (out, err)
    assert "derived_local_difference" in out
    code, out, _ = run("report", "check", str(tmp_path / "pack.pdf"), "--json")
    check = json.loads(out)
    assert code == CHECK_VALID and check["valid"], check
    comparison = check["evidence"]["comparison"]
    assert comparison["outcome"] == "derived_local_difference"
    assert comparison["source_name"] == "her_photo.jpg"
    assert comparison["method"] == METHOD_VERSION and comparison["limits"]

    code, out, _ = run("report", "file", str(tmp_path / "suspect.jpg"), "--source",
                       str(tmp_path / "her_photo.jpg"), "--out", str(tmp_path / "json.pdf"), "--json")
    assert code == 0 and json.loads(out)["comparison"] == "derived_local_difference"

    # A source that is missing or cannot be compared writes nothing.
    (tmp_path / "notes.jpg").write_text("just some words")
    code, _, err = run("report", "file", str(tmp_path / "suspect.jpg"), "--source",
                       str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "none.pdf"))
    assert code == 3 and "missing.jpg" in err
    code, _, err = run("report", "file", str(tmp_path / "suspect.jpg"), "--source",
                       str(tmp_path / "notes.jpg"), "--out", str(tmp_path / "none.pdf"))
    assert code != 0 and "suspected source (notes.jpg)" in err
    assert not (tmp_path / "none.pdf").exists()


def test_report_check_of_something_that_is_not_a_pdf_exits_3(cli_env, tmp_path, run):
    (tmp_path / "notes.pdf").write_text("not really a pdf")
    code, _, err = run("report", "check", str(tmp_path / "notes.pdf"))
    assert code == 3 and "not a PDF" in err
    code, out, _ = run("report", "check", str(tmp_path / "notes.pdf"), "--json")
    assert code == 3 and json.loads(out)["error"] == "invalid_request"
    code, _, err = run("report", "check", str(tmp_path / "missing.pdf"))
    assert code == 3 and "missing.pdf" in err


def _form(ctx: ServiceContext, seed: int) -> dict[str, Any]:
    """A victim's request about an Australian on a US platform, with a contact a pack may show."""
    return request_form(ctx, seed, signature={"name": "Jane Roe", "statement_ticked": True},
                        locations=[{"url": "https://leak.example/p/9"}],
                        contact={"email": "jane@example.org"},
                        jurisdiction={"depicted_person_country": "AU", "platform_countries": ["US"]},
                        safety_check={"in_immediate_danger": False})


def test_report_case_writes_a_signed_pack_and_transparency_counts_it(cli_env, tmp_path, run):
    assert run("keys", "init")[0] == 0
    ctx = ServiceContext.open(load_settings())
    try:
        number = case_intake.file_request(ctx, _form(ctx, 3), None).case.case_number
    finally:
        ctx.close()
    out_path = tmp_path / "case.pdf"
    code, out, err = run("report", "case", number, "--out", str(out_path))
    assert code == 0, (out, err)
    assert number in out
    code, out, _ = run("report", "check", str(out_path), "--json")
    evidence = json.loads(out)["evidence"]
    assert code == 0 and evidence["case_number"] == number and evidence["contact"] is None
    code, out, _ = run("report", "case", number, "--out", str(tmp_path / "with.pdf"), "--include-contact",
                       "--json")
    assert code == 0 and json.loads(out)["case_number"] == number
    code, out, _ = run("report", "check", str(tmp_path / "with.pdf"), "--json")
    assert json.loads(out)["evidence"]["contact"]["contact_email"] == "jane@example.org"
    code, _, err = run("report", "case", "DS-0000-0000-0000", "--out", str(tmp_path / "none.pdf"))
    assert code == 4 and not (tmp_path / "none.pdf").exists()

    code, out, _ = run("report", "transparency", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["cases"]["received"] == 1 and report["cases"]["by_jurisdiction"] == {"AU": 1, "US": 1}
    assert number not in out and "jane" not in out.lower()
    csv_path = tmp_path / "report.csv"
    code, out, _ = run("report", "transparency", "--format", "csv", "--out", str(csv_path),
                       "--since", "2000-01-01", "--until", "2100-01-01")
    assert code == 0 and str(csv_path) in out
    table = {(row["metric"], row["dimension"]): row["value"]
             for row in csv.DictReader(io.StringIO(csv_path.read_text()))}
    assert table[("cases.by_state", "valid")] == "1"
    assert table[("period.until", "")] == "2100-01-01T00:00:00+00:00"
    assert run("report", "transparency", "--format", "xml")[0] == 3
    assert run("report", "transparency", "--since", "soon")[0] == 3
