"""The generated documentation is current.

docs/CLI.md and docs/CONFIGURATION.md hold cog blocks; each test here regenerates a file in
memory, exactly as ``make docs`` would, and fails with the difference and the command to run when
the committed file differs. Every ``DEEPSHIELD_*`` name in the package's source must be a setting
that the configuration reference lists.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from cogapp import Cog

from deepshield.docs_reference import REGENERATE_COMMAND, cli_command_paths, help_renderer_versions
from deepshield.settings import ENV_VARS

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "deepshield"
# A full name, or a family written as DEEPSHIELD_SMTP_* / DEEPSHIELD_SMTP_ (prefix).
NAME = re.compile(r"\bDEEPSHIELD_[A-Z0-9_]*[A-Z0-9](_?\*|_(?![A-Z0-9]))?")
STAMP = re.compile(r"^Rendered from each command's `--help` at \d+ columns with (typer \S+, rich \S+)\.$",
                   re.MULTILINE)
SHOWN_DIFF_LINES = 80


def _check_current(relative: str) -> str:
    """The committed text of ``relative``; fails, showing the difference, when ``make docs``
    would change it."""
    path = ROOT / relative
    committed = path.read_text(encoding="utf-8")
    regenerated = Cog().process_string(committed, fname=str(path))
    if regenerated != committed:
        diff = list(difflib.unified_diff(committed.splitlines(), regenerated.splitlines(),
                                         f"{relative} (as committed)", f"{relative} (regenerated)",
                                         lineterm="", n=1))
        shown = "\n".join(diff[:SHOWN_DIFF_LINES])
        if len(diff) > SHOWN_DIFF_LINES:
            shown += f"\n... and {len(diff) - SHOWN_DIFF_LINES} more lines of difference"
        pytest.fail(f"{relative} is stale: run `{REGENERATE_COMMAND}` in the repository root and commit "
                    f"the result.\n{shown}", pytrace=False)
    return committed


def test_configuration_reference_is_current():
    _check_current("docs/CONFIGURATION.md")


def test_cli_reference_is_current():
    committed = (ROOT / "docs/CLI.md").read_text(encoding="utf-8")
    stamp = STAMP.search(committed)
    assert stamp, (f"docs/CLI.md lost its generated 'Rendered from ...' line: run `{REGENERATE_COMMAND}` "
                   "in the repository root")
    if stamp.group(1) != help_renderer_versions():
        # Help's layout changes between typer and rich releases; only the same versions can
        # reproduce the file. test_cli_reference_names_every_command still runs.
        pytest.skip(f"docs/CLI.md was rendered with {stamp.group(1)}, this environment has "
                    f"{help_renderer_versions()}; `{REGENERATE_COMMAND}` renders it again")
    _check_current("docs/CLI.md")


def test_cli_reference_names_every_command():
    """Whatever the typer and rich versions, every command has its section in docs/CLI.md."""
    committed = (ROOT / "docs/CLI.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^### `(deepshield[a-z0-9 -]*)`$", committed, re.MULTILINE))
    commands = {" ".join(("deepshield", *path)) for path in cli_command_paths()}
    assert len(commands) > 40  # the walk reached the sub-commands, not just the root
    missing = sorted(commands - headings)
    gone = sorted(headings - commands)
    assert not missing and not gone, (
        f"docs/CLI.md lacks {missing} and still documents {gone}: run `{REGENERATE_COMMAND}`")


def test_every_deepshield_name_in_the_source_is_a_listed_setting():
    listed = {var.name for var in ENV_VARS}
    unlisted: dict[str, list[str]] = {}
    scanned = 0
    for path in sorted(SOURCE.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        scanned += 1
        for match in NAME.finditer(path.read_text(encoding="utf-8", errors="replace")):
            name = match.group(0).rstrip("*")
            known = (any(setting.startswith(name) for setting in listed) if name.endswith("_")
                     or match.group(0).endswith("*") else name in listed)
            if not known:
                unlisted.setdefault(name, []).append(str(path.relative_to(ROOT)))
    assert scanned > 100
    assert not unlisted, (
        "these DEEPSHIELD_* names appear in src/deepshield but are not settings in ENV_VARS "
        f"(src/deepshield/settings.py): {unlisted}. Read them through load_settings and add an "
        f"EnvVar row, then run `{REGENERATE_COMMAND}`")


@pytest.mark.parametrize("text, found", [
    ("set DEEPSHIELD_SMTP_HOST.", ["DEEPSHIELD_SMTP_HOST"]),
    ("`DEEPSHIELD_SIGNING_CERT`/`_KEY`", ["DEEPSHIELD_SIGNING_CERT"]),
    ("DEEPSHIELD_SMTP_* and $DEEPSHIELD_HOME/keys", ["DEEPSHIELD_SMTP_*", "DEEPSHIELD_HOME"]),
    ("the DEEPSHIELD_PIN_ family", ["DEEPSHIELD_PIN_"]),
])
def test_the_name_pattern_finds_full_names_and_families(text, found):
    assert [match.group(0) for match in NAME.finditer(text)] == found
