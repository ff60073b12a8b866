"""Shared helpers for the CLI tests: ``cli_env`` points the CLI at this test's home and database,
``run`` invokes it in-process, ``run_json`` invokes it with ``--json`` and parses the answer.
Every CLI test module uses these; a module may narrow ``run`` (``run.under("cases")``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

# The CLI's Rich consoles read COLUMNS once, when deepshield.cli.output is first imported, and the
# CLI imports it lazily. Import it now, at collection, so no test's COLUMNS (a CliRunner env of
# one test) fixes the width that later tests in the same worker print tables at.
import deepshield.cli.output  # noqa: F401
from deepshield.cli.main import app

#: Settings that would send a test's notifications somewhere real: never inherited by a CLI test.
_UNSET_FOR_TESTS = ("DEEPSHIELD_SMTP_HOST", "DEEPSHIELD_PARTNER_WEBHOOK_URLS", "DEEPSHIELD_WEBHOOK_SECRET")


class CliEnv(dict[str, str]):
    """The ``DEEPSHIELD_*`` variables ``cli_env`` set (a dict: add it to a subprocess's env, as
    ``{**os.environ, **cli_env}``), with the folders they name: ``root`` (the test's
    ``tmp_path``) and ``home`` (``DEEPSHIELD_HOME``, ``root / "home"``)."""

    def __init__(self, root: Path, variables: Mapping[str, str]) -> None:
        super().__init__(variables)
        self.root = root
        self.home = root / "home"

    def process_env(self, **extra: str) -> dict[str, str]:
        """This process's environment with these variables (and ``extra``): for a subprocess."""
        env = {**os.environ, **self, **extra}
        for name in _UNSET_FOR_TESTS:
            if name not in self and name not in extra:
                env.pop(name, None)
        return env


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str,
            cheap_kdf_env: dict[str, str]) -> CliEnv:
    """Points the CLI (run in this process) at ``tmp_path/home`` and this test's database, with the
    cheap PIN KDF, and no SMTP host, partner webhooks or webhook secret from the outer
    environment. Returns what it set (see ``CliEnv``)."""
    env = CliEnv(tmp_path, {"DEEPSHIELD_HOME": str(tmp_path / "home"),
                            "DEEPSHIELD_DATABASE_URL": database_url, **cheap_kdf_env})
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in _UNSET_FOR_TESTS:
        monkeypatch.delenv(name, raising=False)
    return env


@dataclass(frozen=True)
class CliRun:
    """``run(*args)``: the CLI invoked in-process with ``args`` after ``prefix``; returns
    ``(exit code, stdout, stderr)``. ``run.json(*args)`` adds ``--json``, requires exit 0 and
    returns the parsed output. ``run.under("cases")`` runs every command under ``cases``."""

    prefix: tuple[str, ...] = ()

    def __call__(self, *args: str, input: str | None = None,
                 env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
        result = CliRunner().invoke(app, [*self.prefix, *args], input=input, env=env)
        return result.exit_code, result.stdout, result.stderr

    def json(self, *args: str, input: str | None = None) -> Any:
        code, out, err = self(*args, "--json", input=input)
        assert code == 0, (code, out, err)
        return json.loads(out)

    def under(self, *prefix: str) -> CliRun:
        return CliRun((*self.prefix, *prefix))


@pytest.fixture
def run() -> CliRun:
    """The CLI, in-process: ``run("bank", "create", "b")`` -> ``(code, stdout, stderr)``."""
    return CliRun()


@pytest.fixture
def run_json(run: CliRun) -> Any:
    """``run_json(*args)``: ``run(*args, "--json")``, which must exit 0, parsed from JSON."""
    return run.json
