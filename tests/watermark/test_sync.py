import cv2
import numpy as np

from deepshield.watermark.sync import candidate_geometries, whitened_autocorrelation


def test_a_tiled_pattern_peaks_in_the_autocorrelation_at_its_period():
    rng = np.random.default_rng(0)
    tile = rng.normal(size=(64, 64)).astype(np.float32)
    plane = np.tile(tile, (5, 9))[:320, :569] + rng.normal(0, 3, (320, 569)).astype(np.float32)
    correlation = whitened_autocorrelation(plane)
    cy, cx = correlation.shape[0] // 2, correlation.shape[1] // 2
    assert correlation[cy, cx + 64] > 0.1 and correlation[cy + 64, cx] > 0.1
    assert abs(correlation[cy + 32, cx + 32]) < 0.05


def test_the_period_of_a_cropped_and_enlarged_tiling_is_found_first():
    # A crop keeping 75 % of each side leaves under four tiles a side, enlarged by 4/3: the
    # lattice must still rank first, with the lags past half the plane read unfolded.
    rng = np.random.default_rng(3)
    tile = rng.normal(size=(64, 64)).astype(np.float32)
    enlarged = cv2.resize(np.tile(tile, (4, 4))[:240, :240], (320, 320), interpolation=cv2.INTER_LINEAR)
    plane = enlarged + rng.normal(0, 2, (320, 320)).astype(np.float32)
    best = candidate_geometries(plane, 8)[0]
    assert abs(best.period - 64 * 4 / 3) < 0.5 and abs(best.angle) < np.deg2rad(0.3)
