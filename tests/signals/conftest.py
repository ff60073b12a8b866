from __future__ import annotations

from pathlib import Path

import pytest

from deepshield.media import MediaLimits

from .shared_data import MISSING_REASON, shared_data_dir


@pytest.fixture
def limits() -> MediaLimits:
    return MediaLimits()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip(MISSING_REASON)
    return found
