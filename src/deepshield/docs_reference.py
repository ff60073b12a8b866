"""The generated parts of the documentation: the CLI reference and the settings list.

docs/CLI.md and docs/CONFIGURATION.md hold cog blocks (``cogapp``) that call these functions;
``make docs`` rewrites the blocks and tests/test_docs_current.py fails while they are stale. Nothing
heavy is imported at module level: the CLI and the settings are imported by the function that
renders them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

#: The command that rewrites every generated block; failure messages tell the reader to run it.
REGENERATE_COMMAND = "make docs"
#: The files holding generated blocks, relative to the repository root.
GENERATED_FILES = ("docs/CLI.md", "docs/CONFIGURATION.md")

#: Help is rendered at a fixed width, without colour or terminal features, so it is the same
#: on every machine with the same typer and rich.
HELP_COLUMNS = 100
_HELP_ENV = {"COLUMNS": str(HELP_COLUMNS), "NO_COLOR": "1", "TERM": "dumb"}
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_DOC_PATH = re.compile(r"\bdocs/([A-Za-z0-9_]+\.md)\b")


def help_renderer_versions() -> str:
    """The libraries that draw ``--help`` (their layout changes between releases), as the
    "rendered with" line of docs/CLI.md states them, e.g. ``typer 0.29.2, rich 15.0.0``."""
    return f"typer {version('typer')}, rich {version('rich')}"


def cli_command_paths() -> list[tuple[str, ...]]:
    """Every command and sub-command of ``deepshield``, as the words after ``deepshield``: the
    root ``()`` first, then depth-first in the order each group's help lists them. Hidden
    commands are left out, as help leaves them out.

    The tree is walked through click's public group interface (``list_commands`` and
    ``get_command``) from the root group, so commands that the CLI loads lazily are found too."""
    return _command_paths(_root_command())


def cli_help(path: Sequence[str]) -> str:
    """What ``deepshield PATH... --help`` prints, run in this process at ``HELP_COLUMNS`` columns
    without colour; trailing spaces and blank edge lines are removed. Raises ``RuntimeError``
    with the output when help does not exit 0."""
    return _help(_root_command(), path)


def cli_reference() -> str:
    """The markdown of docs/CLI.md's generated part: an index of every command, then each
    command's ``--help`` under a heading ``deepshield PATH``, in ``cli_command_paths`` order."""
    # typer reads TERMINAL_WIDTH once, when it first draws help, and it overrides COLUMNS.
    if os.environ.get("TERMINAL_WIDTH", str(HELP_COLUMNS)) not in ("", str(HELP_COLUMNS)):
        raise RuntimeError(f"TERMINAL_WIDTH={os.environ['TERMINAL_WIDTH']} would change the width "
                           f"help is drawn at ({HELP_COLUMNS}); unset it to generate docs/CLI.md")
    root = _root_command()
    paths = _command_paths(root)
    out = [f"Rendered from each command's `--help` at {HELP_COLUMNS} columns with "
           f"{help_renderer_versions()}.", ""]
    groups: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for path in paths[1:]:
        groups.setdefault(path[:-1], []).append(path)
    for parent, children in groups.items():
        links = ", ".join(f"[`{child[-1]}`](#{_anchor(child)})" for child in children)
        out.append(f"- [`{_title(parent)}`](#{_anchor(parent)}): {links}")
    for path in paths:
        out += ["", f"### `{_title(path)}`", "", "```text", _help(root, path), "```"]
    return "\n".join(out) + "\n"


def settings_reference() -> str:
    """The markdown of docs/CONFIGURATION.md's generated part: one table per section of
    ``deepshield.settings.ENV_VAR_SECTIONS`` (variable, kind with bounds, default, meaning)."""
    from deepshield.settings import ENV_VAR_SECTIONS

    out: list[str] = []
    for section, variables in ENV_VAR_SECTIONS.items():
        out += [f"### {_links(section)}", "", "| Variable | Kind | Default | Meaning |",
                "|---|---|---|---|"]
        for var in variables:
            kind = var.kind if var.low is None or var.high is None or var.kind == "0 or 1" else \
                f"{var.kind}, {_number(var.low)} to {_number(var.high)}"
            default = f"`{var.default}`" if var.default else "unset"
            out.append(f"| `{var.name}` | {kind} | {default} | {_links(_cell(var.meaning))} |")
        out.append("")
    return "\n".join(out)


def _root_command() -> Any:
    """The click group behind ``deepshield`` (built once: building it is most of help's cost)."""
    import typer

    from deepshield.cli.main import app

    return typer.main.get_command(app)


def _command_paths(root: Any) -> list[tuple[str, ...]]:
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, ctx: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        if not hasattr(command, "list_commands"):
            return
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            # resilient_parsing: the context is only for walking; no argument checks, no callbacks
            sub_ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
            walk(sub, sub_ctx, (*path, name))

    walk(root, root.make_context("deepshield", [], resilient_parsing=True), ())
    return paths


def _help(root: Any, path: Sequence[str]) -> str:
    from typer.testing import CliRunner

    # The built group is run directly (CliRunner.invoke would rebuild it from the Typer app on
    # every call, most of the cost), inside the runner's isolation of stdin, stdout and env.
    with CliRunner().isolation(env=_HELP_ENV) as (stdout, _stderr, _output):
        try:
            root.main([*path, "--help"], prog_name="deepshield", standalone_mode=True)
            code: object = 0
        except SystemExit as exc:
            code = exc.code
        text = stdout.getvalue().decode()
    if code not in (0, None):
        raise RuntimeError(f"deepshield {' '.join(path)} --help exited {code}:\n{text}")
    lines = [line.rstrip() for line in _ANSI_ESCAPE.sub("", text).splitlines()]
    return "\n".join(lines).strip("\n")


def _title(path: tuple[str, ...]) -> str:
    return " ".join(("deepshield", *path))


def _anchor(path: tuple[str, ...]) -> str:
    # GitHub's heading anchors: lower case, spaces to hyphens, backticks dropped.
    return "-".join(("deepshield", *path)).lower()


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _links(text: str) -> str:
    # "docs/X.md" in the settings' text becomes a link relative to docs/, where the page lives.
    return _DOC_PATH.sub(lambda m: f"[{m.group(1)}]({m.group(1)})", text)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
