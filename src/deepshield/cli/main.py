"""The ``deepshield`` command: a thin door over ``deepshield.services``.

Commands load lazily: the root group knows each command's module and one-line help from
``COMMANDS`` and imports the module only when that command runs (or its own ``--help`` is asked
for). ``deepshield --help`` and ``deepshield hash photo.jpg`` therefore never import the store,
the HTTP API, C2PA or the PDF stack (tests/cli/test_cli_imports.py, bench/cli_start.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from deepshield import __version__

if TYPE_CHECKING:  # Typer vendors click (typer._click) and never loads a second one
    from typer._click import Command, Context, HelpFormatter


class LazyCommand(NamedTuple):
    """Where a command lives and the one line ``deepshield --help`` shows for it."""

    module: str
    attribute: str  # a command function, or a ``typer.Typer`` sub-app for a group
    help: str  # the first paragraph of the command's own help (a test keeps them equal)


#: Every command of ``deepshield``, in the order help lists them.
COMMANDS: dict[str, LazyCommand] = {
    "hash": LazyCommand(
        "deepshield.cli.hash_commands", "hash_command",
        "Fingerprint images and videos on this device: PDQ (or vPDQ for video), MD5, SHA-256."),
    "match": LazyCommand(
        "deepshield.cli.match_commands", "match_command",
        "Match files or hashes against every bank."),
    "scan": LazyCommand(
        "deepshield.cli.scan_commands", "scan_command",
        "Scan an archive against every active bank: one row per file, matches and errors."),
    "serve": LazyCommand(
        "deepshield.cli.serve_command", "serve_command",
        "Serve the HTTP API (OpenAPI docs at /docs). Makes and prints an admin key on first start."),
    "label": LazyCommand(
        "deepshield.cli.label_commands", "label_command",
        "Label AI output: invisible watermark + signed C2PA manifest + registered fingerprint."),
    "verify": LazyCommand(
        "deepshield.cli.verify_commands", "verify_command",
        "Verify labels: embedded C2PA manifest, watermark, and repository lookups."),
    "forensics": LazyCommand(
        "deepshield.cli.forensics_commands", "app",
        "Evidence about unlabelled files: compare a file with a suspected source, or find one."),
    "bank": LazyCommand(
        "deepshield.cli.bank_commands", "app",
        "Hash banks: named sets of hashes that uploads are matched against."),
    "cases": LazyCommand(
        "deepshield.cli.case_commands", "app",
        "Takedown cases: file requests, watch the clocks, decide, appeal, withdraw, and warn or "
        "suspend misusers."),
    "content": LazyCommand(
        "deepshield.cli.content_commands", "app",
        "The platform's content registry: uploads by hash, copies listed by takedowns."),
    "audit": LazyCommand(
        "deepshield.cli.audit_commands", "app",
        "The audit log: verify its hash chain, list recent events."),
    "keys": LazyCommand(
        "deepshield.cli.key_commands", "app",
        "API keys (roles admin, platform, helpline, partner, provider), and `init` for the "
        "Content Credentials signing keys."),
    "watermark": LazyCommand(
        "deepshield.cli.watermark_commands", "app",
        "The invisible watermark: embed a 64-bit payload, detect it."),
    "notifications": LazyCommand(
        "deepshield.cli.notification_commands", "app",
        "The notification outbox: receipts, decisions, statements of reasons, partner status."),
    "report": LazyCommand(
        "deepshield.cli.report_commands", "app",
        "Evidence packs (signed PDFs) for a case or a file, their check, and the transparency report."),
}


def load_command(name: str) -> Command:
    """Import command ``name``'s module and build its click command, as ``app.command(name)`` or
    ``app.add_typer(sub_app, name=name)`` on a default ``typer.Typer`` builds it.

    Raises ``KeyError`` for a name not in ``COMMANDS``."""
    entry = COMMANDS[name]
    target = getattr(importlib.import_module(entry.module), entry.attribute)
    # A throwaway Typer with the root's conversion settings (the defaults) runs Typer's own
    # function-to-click conversion, so the command is the one an eager registration would give.
    holder = typer.Typer()
    if isinstance(target, typer.Typer):
        holder.add_typer(target, name=name)
    else:
        holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class _LazyCommands(MutableMapping[str, "Command"]):
    """The root group's ``commands``: every name in ``COMMANDS`` is a key from the start (typo
    suggestions and ``list_commands`` read the keys); a value is built on first lookup."""

    def __init__(self, eager: MutableMapping[str, Command]) -> None:
        self._loaded: dict[str, Command] = dict(eager)

    def __getitem__(self, name: str) -> Command:
        if name not in self._loaded:
            if name not in COMMANDS:
                raise KeyError(name)
            self._loaded[name] = load_command(name)
        return self._loaded[name]

    def __setitem__(self, name: str, command: Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (name for name in self._loaded if name not in COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS) + sum(1 for name in self._loaded if name not in COMMANDS)

    def __contains__(self, name: object) -> bool:
        # Mapping's own __contains__ would look the value up, and so import the command.
        return name in COMMANDS or name in self._loaded

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded


class LazyGroup(TyperGroup):
    """A Typer group whose commands are imported only when one runs or shows its own help.

    While the group renders its own help it lists each command not yet loaded from its
    ``COMMANDS`` line, so ``deepshield --help`` imports no command module."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands(self.commands)
        self._listing = False

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        commands = self.commands
        if self._listing and isinstance(commands, _LazyCommands) and cmd_name in COMMANDS \
                and not commands.is_loaded(cmd_name):
            return TyperCommand(cmd_name, help=COMMANDS[cmd_name].help,
                                rich_markup_mode=self.rich_markup_mode)
        return commands.get(cmd_name)

    def list_commands(self, ctx: Context) -> list[str]:
        """The command names in ``COMMANDS`` order (TyperGroup's own reads every value)."""
        return list(self.commands)

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"deepshield {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="deepshield",
    cls=LazyGroup,
    help="DeepShield: hash images and videos, keep hash banks, match uploads against them, "
    "embed or detect the invisible watermark, label AI output (watermark + C2PA + fingerprint) "
    "and verify labels; compare an unlabelled file with a suspected source; handle takedown cases "
    "with their legal clocks, copy sweeps, evidence "
    "packs and a hash-chained audit log.\n\n"
    "Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid input, 4 not found, "
    "5 conflict, 6 store unavailable; verify: 0 verified, 10 recovered, 11 invalid, 12 unknown; "
    "forensics compare: 0 derived, 20 not derived, 21 inconclusive; forensics sources: 0 found, "
    "22 none found; "
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


def main() -> None:
    """Run ``deepshield`` with ``sys.argv``; exits with the command's exit code."""
    app()
