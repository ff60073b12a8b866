"""`deepshield keys init`, `label` and `verify` end to end through the CLI, with exit codes."""

import io
import json
import os
import stat

from PIL import Image

from deepshield.cli.verify_commands import VERDICT_EXIT_CODES
from factories import encode_image, encode_video, flip_jpeg_scan_bit, photo_pixels, scene_video_frames


def test_keys_init_writes_a_trusted_signer_once(cli_env, run):
    code, out, _ = run("keys", "init", "--json")
    assert code == 0, out
    keys = json.loads(out)
    assert stat.S_IMODE(os.stat(keys["signer_key"]).st_mode) == 0o600
    assert (cli_env.home / "provenance" / "trust-anchors.pem").read_text().count("BEGIN CERTIFICATE") == 1
    code, _, err = run("keys", "init")
    assert code == 5 and "--force" in err  # exists: conflict, and how to replace
    assert run("keys", "init", "--force")[0] == 0


def test_label_a_folder_then_verify_each_verdict_and_its_exit_code(cli_env, tmp_path, run):
    assert run("keys", "init")[0] == 0
    source = tmp_path / "generated"
    (source / "sub").mkdir(parents=True)
    (source / "a.jpg").write_bytes(encode_image(photo_pixels(31, 640, 480), "JPEG", quality=92))
    (source / "sub" / "b.png").write_bytes(encode_image(photo_pixels(32, 640, 480), "PNG"))
    (source / "notes.txt").write_text("not media")
    out_dir = tmp_path / "labelled"
    code, out, err = run("label", str(source), str(out_dir), "--generator", "GenX", "--model", "m3",
                         "--visible", "--json")
    assert code == 0, (out, err)
    labelled = json.loads(out)
    assert sorted(row["file"] for row in labelled) == [str(out_dir / "a.jpg"), str(out_dir / "sub" / "b.png")]
    assert all(len(row["label_id"]) == 16 and row["manifest_id"].startswith("urn:") for row in labelled)

    code, out, _ = run("verify", str(out_dir), "--json")
    reports = json.loads(out)
    assert [r["verdict"] for r in reports] == ["verified", "verified"]
    assert code == VERDICT_EXIT_CODES["verified"] == 0

    stripped = tmp_path / "stripped.png"
    Image.open(out_dir / "a.jpg").save(stripped)
    code, out, _ = run("verify", str(stripped), "--json")
    assert json.loads(out)[0]["verdict"] == "recovered" and code == VERDICT_EXIT_CODES["recovered"]

    plain = tmp_path / "plain.jpg"
    plain.write_bytes(encode_image(photo_pixels(33, 640, 480), "JPEG"))
    code, out, _ = run("verify", str(plain))
    assert code == VERDICT_EXIT_CODES["unknown"]
    assert "does not mean the content is authentic" in out

    bad = tmp_path / "tampered.jpg"
    bad.write_bytes(flip_jpeg_scan_bit((out_dir / "a.jpg").read_bytes()))
    code, out, _ = run("verify", str(bad), str(stripped), "--json")
    assert [r["verdict"] for r in json.loads(out)] == ["invalid", "recovered"]
    assert code == VERDICT_EXIT_CODES["invalid"]  # the most serious verdict decides


def test_label_refuses_bad_requests_and_writes_nothing(cli_env, tmp_path, run):
    source = tmp_path / "in.jpg"
    source.write_bytes(encode_image(photo_pixels(34, 640, 480), "JPEG"))
    code, _, err = run("label", str(source), str(tmp_path / "out.jpg"), "--generator", "G")
    assert code == 4 and "keys init" in err  # no signing keys yet
    assert run("keys", "init")[0] == 0
    code, _, err = run("label", str(source), str(tmp_path / "out.png"), "--generator", "G")
    assert code == 3 and "keeps the input's format" in err
    code, _, err = run("label", str(source), str(tmp_path / "out.jpg"), "--generator", "G",
                       "--visible", "--visible-size", "0.9")
    assert code == 3 and "visible label" in err
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    code, _, err = run("label", str(empty), str(tmp_path / "out2.jpg"), "--generator", "G")
    assert code == 3
    assert not (tmp_path / "out.jpg").exists() and not (tmp_path / "out2.jpg").exists()
    code, _, err = run("verify", str(empty))
    assert code == 3 and "empty" in err


def test_verify_json_is_a_list_with_a_verdict_per_file(cli_env, tmp_path, run):
    buffer = io.BytesIO()
    Image.fromarray(photo_pixels(35, 640, 480)).save(buffer, "PNG")
    path = tmp_path / "p.png"
    path.write_bytes(buffer.getvalue())
    code, out, _ = run("verify", str(path), "--json")
    assert code == VERDICT_EXIT_CODES["unknown"]
    reports = json.loads(out)
    assert isinstance(reports, list) and len(reports) == 1
    assert reports[0]["verdict"] == "unknown" and reports[0]["file"] == str(path)
    assert {"summary", "reasons", "manifest", "watermark", "repository", "media"} <= set(reports[0])


def test_label_of_a_video_below_the_minimum_size_exits_3_with_the_minimum(cli_env, tmp_path, run):
    assert run("keys", "init")[0] == 0
    small = tmp_path / "small.mp4"
    small.write_bytes(encode_video(scene_video_frames(41, seconds=1, fps=10, width=320, height=240)))
    code, out, err = run("label", str(small), str(tmp_path / "out.mp4"), "--generator", "GenX")
    assert code == 3, (out, err)
    assert "short side of at least 256 pixels" in err
    assert not (tmp_path / "out.mp4").exists()


def test_labels_are_marked_with_a_secret_key_unless_public_mark_is_asked(cli_env, tmp_path, run):
    assert run("keys", "init")[0] == 0
    source = tmp_path / "in.png"
    source.write_bytes(encode_image(photo_pixels(36, 640, 480), "PNG"))
    code, out, err = run("label", str(source), str(tmp_path / "secret.png"), "--generator", "G", "--json")
    assert code == 0, err
    secret = json.loads(out)
    assert len(secret["watermark_key_id"]) == 16
    code, out, err = run("label", str(source), str(tmp_path / "public.png"), "--generator", "G",
                         "--public-mark", "--json")
    assert code == 0, err
    public = json.loads(out)
    assert public["watermark_key_id"] == "public"
    # This installation reads with its keys: both marks are found, each with its key.
    code, out, _ = run("watermark", "detect", str(tmp_path / "secret.png"), str(tmp_path / "public.png"),
                       "--json")
    found = [(r["payload"], r["key_id"]) for r in json.loads(out)]
    assert code == 0 and found == [(secret["label_id"], secret["watermark_key_id"]),
                                   (public["label_id"], "public")]


def test_watermark_keys_export_embed_and_read_offline_then_retire(cli_env, tmp_path, run, monkeypatch):
    source = tmp_path / "photo.png"
    source.write_bytes(encode_image(photo_pixels(37, 640, 480), "PNG"))
    key_file = tmp_path / "my-key.json"
    code, out, err = run("watermark", "keys", "export", "--out", str(key_file), "--json")
    assert code == 0, err
    key_id = json.loads(out)["key_id"]
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert "secret" not in out  # the secret goes to the file only
    marked = tmp_path / "marked.png"
    code, out, err = run("watermark", "embed", str(source), str(marked), "--payload", "00000000cafef00d",
                         "--key-file", str(key_file), "--json")
    assert code == 0 and json.loads(out)["key_id"] == key_id, err
    listed = json.loads(run("watermark", "keys", "list", "--json")[1])
    assert [(k["key_id"], k["retired_at"]) for k in listed] == [(key_id, None)]
    assert json.loads(run("watermark", "detect", str(marked), "--json")[1])[0]["key_id"] == key_id
    # Retired: this installation no longer reads it; the key file still does.
    code, out, _ = run("watermark", "keys", "retire", key_id, "--json")
    assert code == 0 and json.loads(out)["retired_at"]
    assert json.loads(run("watermark", "detect", str(marked), "--json")[1])[0]["found"] is False
    code, out, _ = run("watermark", "detect", str(marked), "--key-file", str(key_file), "--json")
    assert json.loads(out)[0]["payload"] == "00000000cafef00d"
    # A damaged key file is a clear error, and nothing is written.
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "deepshield-watermark-key/1", "key_id": "0123456789abcdef", "secret": "AA=="}')
    code, _, err = run("watermark", "embed", str(source), str(tmp_path / "x.png"), "--payload",
                       "00000000cafef00d", "--key-file", str(bad))
    assert code == 3 and "does not match" in err and not (tmp_path / "x.png").exists()
    code, _, err = run("watermark", "keys", "retire", "ffffffffffffffff")
    assert code == 4
