import math
from pathlib import Path

import pytest

from deepshield.errors import InvalidRequest
from deepshield.settings import ENV_VARS, NUMERIC_KINDS, EnvVar, Settings, load_settings


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


class RecordingEnvironment(dict[str, str]):
    """An environment that remembers every name asked of it, however it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key, default=None):
        self.asked.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.asked.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.asked.add(key)
        return super().__contains__(key)


def test_load_settings_reads_exactly_the_variables_the_reference_lists():
    env = RecordingEnvironment()
    load_settings(env)
    listed = {var.name for var in ENV_VARS}
    assert not env.asked - listed, (
        f"load_settings reads {sorted(env.asked - listed)}, which ENV_VARS does not list: add an "
        "EnvVar row to ENV_VAR_SECTIONS in src/deepshield/settings.py and run `make docs`")
    assert not listed - env.asked, (
        f"ENV_VARS lists {sorted(listed - env.asked)}, which load_settings never reads")


def test_the_reference_rows_are_well_formed():
    names = [var.name for var in ENV_VARS]
    assert len(names) == len(set(names))
    for var in ENV_VARS:
        assert var.name.startswith("DEEPSHIELD_") and var.name == var.name.upper()
        assert var.meaning and "\n" not in var.meaning
        numeric = var.kind in NUMERIC_KINDS
        assert numeric == (var.low is not None and var.high is not None), var.name
        if numeric:
            assert var.low is not None and var.high is not None
            assert var.low <= float(var.default) <= var.high, var.name


def test_load_settings_defaults_are_the_dataclass_defaults():
    assert load_settings({}) == Settings()


@pytest.mark.parametrize("var", ENV_VARS, ids=lambda var: var.name)
def test_the_documented_default_behaves_like_leaving_the_variable_unset(var):
    assert load_settings({var.name: var.default}) == load_settings({}), (
        f"{var.name}={var.default!r} (its documented default) changes the settings: fix the EnvVar "
        "row in src/deepshield/settings.py and run `make docs`")


def _just_outside(var: EnvVar) -> tuple[str, str]:
    assert var.low is not None and var.high is not None
    if var.kind == "number":
        below, above = math.nextafter(var.low, -math.inf), math.nextafter(var.high, math.inf)
        return repr(below), repr(above)
    return str(int(var.low) - 1), str(int(var.high) + 1)


def _edges(var: EnvVar) -> list[str]:
    assert var.low is not None and var.high is not None
    if var.kind == "number":
        return [repr(float(var.low)), repr(float(var.high)), repr((var.low + var.high) / 2)]
    return [str(int(var.low)), str(int(var.high))]


@pytest.mark.parametrize("var", [var for var in ENV_VARS if var.kind in NUMERIC_KINDS],
                         ids=lambda var: var.name)
def test_the_documented_bounds_are_the_enforced_bounds(var):
    unset = load_settings({})
    for value in _edges(var):
        settings = load_settings({var.name: value})
        if float(value) != float(var.default):
            assert settings != unset, f"{var.name}={value} is accepted but changes nothing"
    for value in _just_outside(var):
        with pytest.raises(InvalidRequest, match=var.name):
            load_settings({var.name: value})
    if var.kind != "number":
        with pytest.raises(InvalidRequest, match=f"{var.name} must be a whole number"):
            load_settings({var.name: f"{int(var.low)}.5"})
