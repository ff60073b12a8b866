"""``deepshield hash`` runs on the victim's own device: an image over the server's analysis size
(24 Mpx) is still hashed at full size there, bit-identical to Meta's reference PDQ."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from deepshield.cli.main import app
from deepshield.media import MediaLimits
from deepshield.signals.pdq import pdq_from_pixels
from factories import photo_like


def test_the_device_hashes_a_large_photo_at_full_size(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSHIELD_HOME", str(tmp_path / "home"))
    small = photo_like(500, 520, seed=3)
    pixels = np.repeat(np.repeat(small, 10, axis=0), 10, axis=1)  # 5200×5000: 26 Mpx
    assert pixels.shape[0] * pixels.shape[1] > MediaLimits().max_analysis_pixels
    path = tmp_path / "large.png"
    Image.fromarray(pixels).save(path, compress_level=1)

    result = CliRunner().invoke(app, ["hash", str(path), "--json"])

    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["pdq"] == pdq_from_pixels(pixels).hex
