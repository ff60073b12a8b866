"""``deepshield forensics compare``: outcome, numbers, figure and mask, with exit codes."""

from __future__ import annotations

import json

import cv2
import numpy as np
from PIL import Image

from deepshield.cli.forensics_commands import OUTCOME_EXIT_CODES
from deepshield.forensics import Outcome
from factories import encode_image, encode_video, textured_pixels


def _edited(source: np.ndarray) -> np.ndarray:
    mask = np.zeros(source.shape[:2], np.uint8)
    cv2.ellipse(mask, (300, 240), (70, 90), 0, 0, 360, 255, -1)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 4)[..., None]
    return np.clip(source * (1 - alpha) + textured_pixels(72) * alpha + 0.5, 0, 255).astype(np.uint8)


def test_compare_prints_the_outcome_and_writes_the_figure_and_the_mask(cli_env, tmp_path, run):
    source_pixels = textured_pixels(71)
    suspect, source = tmp_path / "suspect.jpg", tmp_path / "source.png"
    suspect.write_bytes(encode_image(cv2.resize(_edited(source_pixels), (512, 384)), "JPEG", quality=80))
    source.write_bytes(encode_image(source_pixels, "PNG"))
    figure, mask = tmp_path / "out" / "figure.png", tmp_path / "mask.png"
    figure.parent.mkdir()
    code, out, err = run("forensics", "compare", str(suspect), "--source", str(source),
                         "--figure", str(figure), "--mask", str(mask))
    assert code == OUTCOME_EXIT_CODES[Outcome.DERIVED_LOCAL_DIFFERENCE] == 0, (out, err)
    assert "derived_local_difference" in out and "except in the outlined region" in out
    assert Image.open(figure).format == "PNG"
    white = np.asarray(Image.open(mask))
    assert white.shape == (384, 512) and white.max() == 255 and white.mean() < 40
    code, out, _ = run("forensics", "compare", str(suspect), "--source", str(source), "--json")
    body = json.loads(out)
    assert code == 0 and body["outcome"] == "derived_local_difference" and body["figure"] is None
    assert body["numbers"]["method"].startswith("deepshield-forensics-compare/")


def test_each_outcome_has_its_exit_code_and_nothing_is_written_for_a_failed_read(cli_env, tmp_path, run):
    source = tmp_path / "source.png"
    source.write_bytes(encode_image(textured_pixels(73), "PNG"))
    unrelated = tmp_path / "unrelated.jpg"
    unrelated.write_bytes(encode_image(textured_pixels(74), "JPEG"))
    code, out, _ = run("forensics", "compare", str(unrelated), "--source", str(source), "--json")
    assert code == 20 and json.loads(out)["outcome"] == "not_derived"
    flat = tmp_path / "flat.png"
    flat.write_bytes(encode_image(np.full((300, 400, 3), 90, np.uint8), "PNG"))
    figure = tmp_path / "figure.png"
    code, out, _ = run("forensics", "compare", str(flat), "--source", str(source), "--figure", str(figure))
    assert code == 21 and "Inconclusive" in out and "no figure" in out and not figure.exists()
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(encode_image(textured_pixels(75), "JPEG")[:300])
    mask = tmp_path / "mask.png"
    code, out, err = run("forensics", "compare", str(broken), "--source", str(source), "--mask", str(mask))
    assert code == 3 and "truncated" in (out + err) and not mask.exists()
    code, _, err = run("forensics", "compare", str(tmp_path / "missing.jpg"), "--source", str(source))
    assert code == 3 and "no such file" in err


def test_two_videos_are_compared_frame_by_frame_and_a_mask_is_not_drawn_for_them(cli_env, tmp_path, run):
    scene = textured_pixels(73, 400, 240)
    frames = [np.ascontiguousarray(scene[:, step * 4:step * 4 + 320]) for step in range(20)]  # a pan
    source, suspect = tmp_path / "source.mp4", tmp_path / "clip.mp4"
    source.write_bytes(encode_video(frames, fps=10, codec="libx264"))
    suspect.write_bytes(encode_video([cv2.resize(frame, (240, 180)) for frame in frames[5:15]], fps=10,
                                     codec="libx264"))
    figure, mask = tmp_path / "timeline.png", tmp_path / "mask.png"
    code, out, err = run("forensics", "compare", str(suspect), "--source", str(source),
                         "--figure", str(figure), "--mask", str(mask))
    assert code == 0, (out, err)
    assert "derived_no_difference" in out and "frame for frame from 0:00.5 to 0:01.5" in out, out
    assert "file time" in out and "no mask: masks are drawn for pictures" in out
    assert Image.open(figure).format == "PNG" and not mask.exists()
    code, out, _ = run("forensics", "compare", str(suspect), "--source", str(source), "--json")
    body = json.loads(out)
    assert code == 0 and body["kind"] == "video" and body["mask"] is None
    assert body["numbers"]["offset"]["offset_s"] == 0.5 and body["numbers"]["frames_compared"] == 10
