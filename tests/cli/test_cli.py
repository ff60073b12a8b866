import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

from deepshield.services.spread import bank_files
from factories import encode_image, photo_pixels


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(3):
        (folder / f"photo{seed}.jpg").write_bytes(encode_image(photo_pixels(seed + 40)))
    return folder


def _copies(tmp_path: Path) -> dict[str, Path]:
    original = Image.fromarray(photo_pixels(40))
    paths = {"recompressed": tmp_path / "recompressed.jpg", "resized": tmp_path / "resized.webp",
             "unrelated": tmp_path / "unrelated.png"}
    original.save(paths["recompressed"], quality=45)
    original.resize((320, 240)).save(paths["resized"], quality=70)
    Image.fromarray(photo_pixels(99)).save(paths["unrelated"])
    return paths


def test_hash_works_offline_on_a_folder_with_no_store(tmp_path, photos, monkeypatch, run_json):
    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    records = run_json("hash", str(photos))
    assert [Path(r["file"]).name for r in records] == ["photo0.jpg", "photo1.jpg", "photo2.jpg"]
    for record in records:
        assert re.fullmatch(r"[0-9a-f]{64}", record["pdq"]) and record["quality"] >= 50
        assert len(record["md5"]) == 32 and len(record["sha256"]) == 64
        assert record["kind"] == "image" and record["warnings"] == []


def test_the_readme_flow_hash_bank_match_withdraw(cli_env, tmp_path, photos, run_json):
    hashes_file = tmp_path / "hashes.json"
    hashes_file.write_text(json.dumps(run_json("hash", str(photos))))
    run_json("bank", "create", "helpline-bank", "--description", "test")
    entries = run_json("bank", "add", "helpline-bank", "--hashes", str(hashes_file),
                       "--origin", "victim_device", "--case", "HL-2026-1")
    assert len(entries) == 9 and {e["case_ref"] for e in entries} == {"HL-2026-1"}
    banks = run_json("bank", "list")
    assert banks[0]["name"] == "helpline-bank" and banks[0]["active_entries"] == 9

    copies = _copies(tmp_path)
    results = run_json("match", *(str(p) for p in copies.values()))
    by_file = {Path(r["file"]).stem: r["matches"] for r in results}
    pdq_id = next(e["id"] for e in entries if e["signal_type"] == "pdq")
    for name in ("recompressed", "resized"):
        assert [(m["bank"], m["entry_id"], m["signal_type"], m["variant"]) for m in by_file[name]] == [
            ("helpline-bank", pdq_id, "pdq", "original")]
        assert set(by_file[name][0]) == {"bank", "entry_id", "signal_type", "distance", "variant"}
    assert by_file["unrelated"] == []

    withdrawn = run_json("bank", "withdraw", "helpline-bank", str(pdq_id))
    assert withdrawn[0]["withdrawn_at"]
    assert run_json("match", str(copies["recompressed"]))[0]["matches"] == []


def test_bank_add_takes_files_and_signals_and_match_takes_signals(cli_env, photos, run_json):
    run_json("bank", "create", "b")
    added = run_json("bank", "add", "b", str(photos / "photo0.jpg"), "--signal", "md5:" + "a" * 32)
    pdq_value = run_json("hash", str(photos / "photo0.jpg"))[0]["pdq"]
    assert sorted(e["signal_type"] for e in added) == ["md5", "md5", "pdq", "sha256"]
    results = run_json("match", "--signal", f"pdq:{pdq_value}", "--signal", "md5:" + "a" * 32)
    assert [r["signal"].split(":")[0] for r in results] == ["pdq", "md5"]
    assert all(len(r["matches"]) == 1 and r["file"] is None for r in results)


def test_export_and_import_round_trip_through_files(cli_env, tmp_path, photos, run_json):
    run_json("bank", "create", "a")
    run_json("bank", "add", "a", str(photos))
    for fmt in ("json", "csv"):
        out = tmp_path / f"export.{fmt}"
        summary = run_json("bank", "export", "a", "--format", fmt, "--out", str(out))
        assert summary["entries"] == 9 and out.exists()
        run_json("bank", "create", f"from-{fmt}")
        imported = run_json("bank", "import", f"from-{fmt}", str(out))
        assert (imported["rows"], imported["added"], imported["duplicates"]) == (9, 9, 0)
        assert imported["format"] == fmt
        again = tmp_path / f"again.{fmt}"
        run_json("bank", "export", f"from-{fmt}", "--format", fmt, "--out", str(again))
        rows = bank_files.parse_import(again.read_text())
        assert sorted((r["signal_type"], r["signal_value"]) for r in rows) == sorted(
            (r["signal_type"], r["signal_value"]) for r in bank_files.parse_import(out.read_text()))
        assert all(r["origin"] == "import" for r in rows)


def test_keys_create_prints_the_key_on_its_last_line(cli_env, run, run_json):
    code, out, _ = run("keys", "create", "--role", "platform", "--label", "test platform")
    assert code == 0
    assert re.fullmatch(r"ds_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", out.strip().splitlines()[-1])
    keys = run_json("keys", "list")
    assert [(k["role"], k["label"]) for k in keys] == [("platform", "test platform")]
    revoked = run_json("keys", "revoke", keys[0]["key_id"])
    assert revoked["revoked_at"]
    assert run("keys", "create", "--role", "superuser")[0] == 3


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"hello, this is text\n", "text, not media"),
    (b"%PDF-1.7\n", "PDF"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 100, "cannot be decoded"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 50, "cannot be decoded"),
])
def test_bad_files_give_exit_code_3_and_say_what_is_wrong(tmp_path, content, message, run):
    bad = tmp_path / "upload.jpg"
    bad.write_bytes(content)
    good = tmp_path / "good.jpg"
    good.write_bytes(encode_image(photo_pixels(1)))
    code, out, _ = run("hash", str(bad), str(good), "--json")
    assert code == 3
    records = json.loads(out)
    assert message in records[0]["error"]["detail"]
    assert records[1]["pdq"]  # one bad file does not stop the others


def test_a_truncated_image_and_a_missing_file_are_reported_not_crashed(tmp_path, run):
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(encode_image(photo_pixels(2))[:3000])
    code, _, err = run("hash", str(truncated), str(tmp_path / "missing.png"))
    assert code == 3
    assert "truncated" in err and "no such file" in err
    assert "Traceback" not in err


def test_failed_bank_adds_write_nothing(cli_env, tmp_path, photos, run, run_json):
    run_json("bank", "create", "b")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    code, out, _ = run("bank", "add", "b", str(photos / "photo0.jpg"), str(bad), "--json")
    assert code == 3 and "nothing was added" in json.loads(out)["detail"]
    for args in (["--signal", "pdq:1234"], ["--signal", "sha1:" + "0" * 40], ["--case", "Jane Doe"],
                 ["--origin", "anywhere"]):
        assert run("bank", "add", "b", str(photos / "photo1.jpg"), *args)[0] == 3
    assert run_json("bank", "list")[0]["active_entries"] == 0
    assert run("bank", "add", "nope", "--signal", "md5:" + "a" * 32)[0] == 4
    assert run("bank", "create", "b")[0] == 5


def test_bad_import_files_are_refused_and_export_never_leaves_half_a_file(cli_env, tmp_path, run, run_json):
    run_json("bank", "create", "b")
    cases = {"empty.csv": b"", "binary.csv": b"\x00\xff\xfe", "noheader.csv": b"x,y\n1,2\n",
             "bad.json": b"[{\"signal_type\": \"pdq\", \"signal_value\": \"zz\"}]"}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        code, _, err = run("bank", "import", "b", str(path))
        assert code == 3, name
        assert "error:" in err
    run_json("bank", "add", "b", "--signal", "md5:" + "a" * 32)
    occupied = tmp_path / "out" / "export.json"
    occupied.mkdir(parents=True)  # a folder where the file should go: the rename must fail
    assert run("bank", "export", "b", "--out", str(occupied))[0] == 3
    assert [p.name for p in occupied.parent.iterdir()] == ["export.json"]
    assert list(occupied.iterdir()) == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_serve_prints_the_url_and_a_first_admin_key_then_answers(tmp_path):
    port = _free_port()
    env = {**os.environ, "DEEPSHIELD_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("DEEPSHIELD_DATABASE_URL", None)
    command = [sys.executable, "-m", "deepshield.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        lines = [process.stdout.readline() for _ in range(3)]
        assert f"http://127.0.0.1:{port}" in lines[0]
        admin_key = lines[2].strip()
        assert admin_key.startswith("ds_")
        deadline = time.monotonic() + 20
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/banks",
                                                 headers={"Authorization": f"Bearer {admin_key}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    assert json.load(response) == []
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert (tmp_path / "home" / "deepshield.db").exists()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    # A second start finds the admin key already made and prints none.
    process = subprocess.Popen([*command, "--json"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    try:
        lines = []
        while not lines or lines[-1].rstrip() != "}":
            lines.append(process.stdout.readline())
        startup = json.loads("".join(lines))
        assert startup["admin_key"] is None and startup["database"] == "sqlite"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)


def test_huge_files_and_decompression_bombs_are_refused_before_decoding(tmp_path, monkeypatch, run):
    big = tmp_path / "big.png"
    big.write_bytes(encode_image(photo_pixels(5, 800, 600), "PNG"))
    monkeypatch.setenv("DEEPSHIELD_MAX_IMAGE_BYTES", "10000")
    monkeypatch.setenv("DEEPSHIELD_MAX_VIDEO_BYTES", "10000")
    code, out, _ = run("hash", str(big), "--json")
    assert code == 3 and "limit is 10,000 bytes" in json.loads(out)[0]["error"]["detail"]
    monkeypatch.delenv("DEEPSHIELD_MAX_IMAGE_BYTES")
    monkeypatch.delenv("DEEPSHIELD_MAX_VIDEO_BYTES")
    monkeypatch.setenv("DEEPSHIELD_MAX_PIXELS", "100000")
    code, out, _ = run("hash", str(big), "--json")
    error = json.loads(out)[0]["error"]
    assert code == 3 and error["code"] == "media_too_large" and "decompression bomb" in error["detail"]


def test_a_bad_setting_is_reported_by_name_not_with_a_traceback(tmp_path, monkeypatch, run):
    monkeypatch.setenv("DEEPSHIELD_PDQ_THRESHOLD", "lots")
    code, _, err = run("hash", str(tmp_path))
    assert code == 3 and "DEEPSHIELD_PDQ_THRESHOLD" in err and "Traceback" not in err


def test_hostile_hash_and_import_files_are_refused_cleanly(cli_env, tmp_path, run, run_json):
    run_json("bank", "create", "b")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    wide_field = tmp_path / "wide.csv"
    wide_field.write_text("signal_type,signal_value\nmd5," + "a" * 200_000 + "\n")
    not_a_list = tmp_path / "object.json"
    not_a_list.write_text('{"pdq": "00"}')
    for args in (["bank", "import", "b", str(nested)], ["bank", "add", "b", "--hashes", str(nested)],
                 ["bank", "import", "b", str(wide_field)],
                 ["bank", "add", "b", "--hashes", str(not_a_list)]):
        code, _, err = run(*args)
        assert code == 3, args
        assert "error:" in err and "Traceback" not in err
    assert run_json("bank", "list")[0]["active_entries"] == 0


def test_watermark_embed_then_detect_round_trips_through_files(tmp_path, run, run_json):
    source = tmp_path / "photo.png"
    source.write_bytes(encode_image(photo_pixels(70, 640, 480), "PNG"))
    marked = tmp_path / "out" / "marked.jpg"
    code, _, err = run("watermark", "embed", str(source), str(marked), "--payload", "0123456789ABCDEF")
    assert code == 0, err
    results = run_json("watermark", "detect", str(marked), str(source))
    assert [(r["found"], r["payload"]) for r in results] == [(True, "0123456789abcdef"), (False, None)]
    assert set(results[0]) == {"file", "found", "payload", "confidence", "key_id", "marks"}
    assert results[0]["key_id"] == "public"  # no --key-file: the public key
    assert [(m["payload"], m["key_id"]) for m in results[0]["marks"]] == [("0123456789abcdef", "public")]


def test_watermark_embed_refuses_bad_payloads_formats_and_inputs_writing_nothing(tmp_path, run):
    source = tmp_path / "photo.png"
    source.write_bytes(encode_image(photo_pixels(71, 640, 480), "PNG"))
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(encode_image(photo_pixels(72, 120, 90), "PNG"))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0garbage")
    out = tmp_path / "out"
    cases = [
        (str(source), str(out / "a.png"), "0123", "16 hex digits"),
        (str(source), str(out / "a.png"), "zz23456789abcdef", "16 hex digits"),
        (str(source), str(out / "a.gif"), "0123456789abcdef", "cannot write"),
        (str(tiny), str(out / "a.png"), "0123456789abcdef", "at least 256"),
        (str(broken), str(out / "a.png"), "0123456789abcdef", "cannot be decoded"),
        (str(tmp_path / "missing.png"), str(out / "a.png"), "0123456789abcdef", "no such file"),
    ]
    for src, dst, payload, message in cases:
        code, _, err = run("watermark", "embed", src, dst, "--payload", payload)
        assert code == 3, (src, dst, payload)
        assert message in err
    assert not out.exists() or list(out.iterdir()) == []
    code, out_text, _ = run("watermark", "detect", str(broken), "--json")
    assert code == 3 and json.loads(out_text)[0]["error"]["code"] == "corrupt_media"


def test_serve_with_two_workers_answers(tmp_path):
    port = _free_port()
    env = {**os.environ, "DEEPSHIELD_HOME": str(tmp_path / "home"), "PYTHONUNBUFFERED": "1"}
    env.pop("DEEPSHIELD_DATABASE_URL", None)
    command = [sys.executable, "-m", "deepshield.cli", "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    try:
        admin_key = [process.stdout.readline() for _ in range(3)][2].strip()
        deadline = time.monotonic() + 30
        answered = 0
        while answered < 10:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/banks",
                                                 headers={"Authorization": f"Bearer {admin_key}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    assert json.load(response) == []
                answered += 1
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
