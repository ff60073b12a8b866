"""``deepshield verify FILE --source SRC`` and ``deepshield forensics sources FILE`` (issue 16)."""

from __future__ import annotations

import json

import cv2
import numpy as np

from factories import encode_image, textured_pixels


def _edited(source: np.ndarray) -> np.ndarray:
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.ellipse(mask, (400, 180), (70, 90), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 4)[..., None]
    return np.clip(source * (1 - alpha) + textured_pixels(77) * alpha + 0.5, 0, 255).astype(np.uint8)


def _suspect_and_source(tmp_path, seed: int = 5):
    source_pixels = textured_pixels(seed)
    suspect, source = tmp_path / "suspect.jpg", tmp_path / "her_photo.png"
    suspect.write_bytes(encode_image(cv2.resize(_edited(source_pixels), (448, 336),
                                                interpolation=cv2.INTER_AREA), "JPEG", quality=80))
    source.write_bytes(encode_image(source_pixels, "PNG"))
    return suspect, source


def test_verify_with_a_source_adds_the_comparison_and_keeps_the_verdicts_exit_code(cli_env, tmp_path, run):
    suspect, source = _suspect_and_source(tmp_path)

    code, out, err = run("verify", str(suspect), "--source", str(source))

    assert code == 12, (out, err)  # unknown: no label, as without --source
    assert "compared with" in out and "derived_local_difference" in out
    assert "matches the source (her_photo.png) everywhere except in the outlined region" in out

    code, out, _ = run("verify", str(suspect), "--source", str(source), "--json")
    [report] = json.loads(out)
    assert code == 12 and report["verdict"] == "unknown"
    comparison = report["source_comparison"]
    assert comparison["outcome"] == "derived_local_difference" and comparison["source"] == "her_photo.png"
    assert comparison["numbers"]["regions"] and comparison["limits"]


def test_verify_with_an_unrelated_or_unreadable_source(cli_env, tmp_path, run):
    suspect, _ = _suspect_and_source(tmp_path)
    unrelated = tmp_path / "unrelated.png"
    unrelated.write_bytes(encode_image(textured_pixels(9), "PNG"))
    code, out, _ = run("verify", str(suspect), "--source", str(unrelated), "--json")
    assert code == 12 and json.loads(out)[0]["source_comparison"]["outcome"] == "not_derived"
    # A source the comparison refuses: its error, and its exit code (3: invalid input).
    tiny = tmp_path / "tiny.png"
    tiny.write_bytes(encode_image(textured_pixels(9, 40, 30), "PNG"))
    code, out, _ = run("verify", str(suspect), "--source", str(tiny), "--json")
    [report] = json.loads(out)
    assert code == 3 and report["verdict"] == "unknown"
    assert "too small" in report["source_comparison"]["error"]["detail"]
    # A source that cannot be read is refused before any file is verified.
    code, out, err = run("verify", str(suspect), "--source", str(tmp_path / "missing.png"))
    assert code == 3 and "missing.png" in out + err and "unknown" not in out


def test_forensics_sources_lists_and_compares_the_reference_library(cli_env, tmp_path, run, monkeypatch):
    library = tmp_path / "library"
    (library / "shots").mkdir(parents=True)
    monkeypatch.setenv("DEEPSHIELD_REFERENCE_LIBRARY", str(library))
    suspect, source = _suspect_and_source(tmp_path)
    (library / "shots" / "beach.png").write_bytes(source.read_bytes())
    assert run("bank", "create", "reference-library")[0] == 0
    code, out, err = run("bank", "add", "reference-library", str(library / "shots" / "beach.png"),
                         "--case", "shots/beach.png", "--hash-set")
    assert code == 0, (out, err)

    code, out, err = run("forensics", "sources", str(suspect))

    assert code == 0, (out, err)
    assert "1 candidate source" in out and "reference-library: shots/beach.png" in out
    assert "local features" in out
    assert "compared with #1 (shots/beach.png): derived_local_difference" in out

    code, out, _ = run("forensics", "sources", str(suspect), "--json", "--no-compare")
    body = json.loads(out)
    assert code == 0 and body["comparisons"] == [] and body["searched"] == ["reference_library",
                                                                            "content_registry"]
    assert body["candidates"][0]["reference"] == "shots/beach.png"

    unrelated = tmp_path / "unrelated.jpg"
    unrelated.write_bytes(encode_image(textured_pixels(9), "JPEG"))
    code, out, _ = run("forensics", "sources", str(unrelated))
    assert code == 22 and "no candidate source" in out
    code, _, err = run("forensics", "sources", str(suspect), "--face", "1,2,3")
    assert code == 2 and "x,y,width,height" in err
