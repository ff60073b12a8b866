from __future__ import annotations

import numpy as np
import pytest

from deepshield.media import MediaLimits
from factories import photo_like


@pytest.fixture
def limits() -> MediaLimits:
    """The default limits, as the services use them."""
    return MediaLimits()


@pytest.fixture
def photo() -> np.ndarray:
    """A 48×64 photo-like RGB image with a pure red marker in its top-left corner."""
    pixels = photo_like(48, 64, seed=7).copy()
    pixels[:8, :8] = (255, 0, 0)
    return pixels
