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
