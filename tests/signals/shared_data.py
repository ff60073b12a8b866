"""Where the team's shared test data lives, if anywhere (it is never part of the repository)."""

from __future__ import annotations

import os
from pathlib import Path

MISSING_REASON = (
    "shared test data not found: set DEEPSHIELD_SHARED_DATA to the folder holding "
    "SOURCES.md (default ../shared/data next to the checkout)"
)


def shared_data_dir() -> Path | None:
    """``DEEPSHIELD_SHARED_DATA`` if set, else ``shared/data`` beside the checkout; None if absent."""
    configured = os.environ.get("DEEPSHIELD_SHARED_DATA")
    candidate = Path(configured) if configured else Path(__file__).parents[2] / ".." / "shared" / "data"
    return candidate.resolve() if (candidate / "SOURCES.md").is_file() else None
