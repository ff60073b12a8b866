"""Skips that CI must not accept: a missing essential fails the test when CI asks for it.

Some tests need what only a full machine has: Meta's reference vPDQ package, the team's shared
reference data (``../shared``), python-threatexchange's reader, ``curl`` and ``jq``. On a
developer's machine they skip and say why. ``.ci/run`` sets ``DEEPSHIELD_REQUIRE_REFERENCE=1``
(as it sets ``DEEPSHIELD_REQUIRE_POSTGRES=1``), and then the same gap fails the test, so CI can
never go green with an essential check skipped.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType
from typing import NoReturn

import pytest

REQUIRE_FLAG = "DEEPSHIELD_REQUIRE_REFERENCE"


def required() -> bool:
    """Whether this run must have every essential (``DEEPSHIELD_REQUIRE_REFERENCE=1``)."""
    return os.environ.get(REQUIRE_FLAG) == "1"


def essential_missing(reason: str) -> NoReturn:
    """Skip with ``reason``, or fail with it when the run requires the essentials."""
    if required():
        pytest.fail(f"{REQUIRE_FLAG}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def optional_import(name: str) -> ModuleType | None:
    """``name`` imported, or None when it is not installed (then call ``essential_missing``)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
