from pathlib import Path

import pytest

from deepshield.errors import InvalidRequest
from deepshield.settings import load_settings


def test_defaults_follow_metas_recommendations_and_use_sqlite_under_home():
    settings = load_settings({})
    assert (settings.match.pdq_threshold, settings.match.pdq_min_quality) == (31, 50)
    assert settings.home == Path("var")
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith("/var/deepshield.db")


def test_environment_overrides_are_parsed_and_range_checked():
    settings = load_settings({
        "DEEPSHIELD_HOME": "/data/ds", "DEEPSHIELD_DATABASE_URL": "postgresql://u@h/db",
        "DEEPSHIELD_PDQ_THRESHOLD": "20", "DEEPSHIELD_MAX_PIXELS": "1000",
        "DEEPSHIELD_VPDQ_QUERY_MATCH_PCT": "50.5",
    })
    assert settings.home == Path("/data/ds")
    assert settings.resolved_database_url == "postgresql://u@h/db"
    assert settings.match.pdq_threshold == 20
    assert settings.limits.max_pixels == 1000
    assert settings.match.vpdq_query_match_pct == 50.5


@pytest.mark.parametrize("name, value, message", [
    ("DEEPSHIELD_PDQ_THRESHOLD", "thirty", "whole number"),
    ("DEEPSHIELD_PDQ_THRESHOLD", "300", "between 0 and 128"),
    ("DEEPSHIELD_PDQ_MIN_QUALITY", "-1", "between 0 and 100"),
    ("DEEPSHIELD_MAX_DURATION_S", "soon", "a number"),
    ("DEEPSHIELD_VPDQ_COMPARED_MATCH_PCT", "101", "between"),
])
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(InvalidRequest, match=f"{name} must be.*{message}|{name}.*{message}"):
        load_settings({name: value})
