from __future__ import annotations

from pathlib import Path

import pytest

from deepshield.media import MediaLimits
from essentials import essential_missing

from .shared_data import MISSING_REASON, shared_data_dir


@pytest.fixture
def limits() -> MediaLimits:
    return MediaLimits()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared reference data; skips without it, fails without it on CI (essentials.py)."""
    found = shared_data_dir()
    if found is None:
        essential_missing(MISSING_REASON)
    return found
