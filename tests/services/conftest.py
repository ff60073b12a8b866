"""Fixtures shared by the service tests."""

from __future__ import annotations

import pytest

from deepshield.services.label.signing_keys import init_signing_keys
from principals import SETUP


@pytest.fixture
def keyed(ctx):
    """``ctx`` with the development signing keys made: ready to label."""
    init_signing_keys(ctx, force=False, principal=SETUP)
    return ctx
