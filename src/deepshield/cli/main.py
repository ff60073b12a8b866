"""The ``deepshield`` command: a thin door over ``deepshield.services``."""

from __future__ import annotations

import typer

from deepshield import __version__
from deepshield.cli import (
    audit_commands,
    bank_commands,
    case_commands,
    content_commands,
    key_commands,
    notification_commands,
    report_commands,
    watermark_commands,
)
from deepshield.cli.hash_commands import hash_command
from deepshield.cli.label_commands import label_command
from deepshield.cli.match_commands import match_command
from deepshield.cli.serve_command import serve_command
from deepshield.cli.verify_commands import verify_command


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deepshield {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="deepshield",
    help="DeepShield: hash images and videos, keep hash banks, match uploads against them, "
    "embed or detect the invisible watermark, label AI output (watermark + C2PA + fingerprint) "
    "and verify labels; handle takedown cases with their legal clocks, copy sweeps, evidence "
    "packs and a hash-chained audit log.\n\n"
    "Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid input, 4 not found, "
    "5 conflict, 6 store unavailable; verify: 0 verified, 10 recovered, 11 invalid, 12 unknown; "
    "audit verify and report check: 11 tampered.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    pass


app.command("hash")(hash_command)
app.command("match")(match_command)
app.command("serve")(serve_command)
app.command("label")(label_command)
app.command("verify")(verify_command)
app.add_typer(bank_commands.app, name="bank")
app.add_typer(case_commands.app, name="cases")
app.add_typer(content_commands.app, name="content")
app.add_typer(audit_commands.app, name="audit")
app.add_typer(key_commands.app, name="keys")
app.add_typer(watermark_commands.app, name="watermark")
app.add_typer(notification_commands.app, name="notifications")
app.add_typer(report_commands.app, name="report")


def main() -> None:
    app()
