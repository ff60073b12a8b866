"""``deepshield bank``: create banks, add hashes, withdraw, disable, export and import."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from deepshield.cli.hash_commands import iter_hashed_files
from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stderr, stdout, write_atomically
from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media import read_media_file
from deepshield.services.json_shapes import bank_json, entry_json
from deepshield.services.spread import bank_files, bulk_import
from deepshield.services.spread import banks as bank_service
from deepshield.services.spread.banks import EntryInfo, SignalInput
from deepshield.settings import Settings
from deepshield.signals.types import parse_signal_spec

app = typer.Typer(help="Hash banks: named sets of hashes that uploads are matched against.",
                  no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
BankArg = Annotated[str, typer.Argument(help="Bank name.")]
EntryArg = Annotated[int, typer.Argument(help="Entry id, as printed by `bank add`.")]


@app.command("create")
def create(
    name: BankArg,
    description: Annotated[str, typer.Option(help="What the bank holds.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an empty bank."""
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        bank = bank_service.create_bank(ctx, name, description, principal)
    if as_json:
        print_json(bank_json(bank))
    else:
        stdout.print(f"Created bank {bank.name}")


@app.command("list")
def list_banks(as_json: JsonOption = False) -> None:
    """List banks with their count of active entries."""
    with reported_errors(as_json):
        banks = bank_service.list_banks(open_context(), local_operator())
    if as_json:
        print_json([bank_json(bank) for bank in banks])
        return
    table = Table("bank", "active entries", "created", "description")
    for bank in banks:
        table.add_row(bank.name, str(bank.active_entries), bank.created_at.isoformat(timespec="seconds"),
                      bank.description)
    stdout.print(table)


def _signals_from_files(paths: list[Path], settings: Settings, hash_set: bool) -> list[SignalInput]:
    signals: list[SignalInput] = []
    for path, result in iter_hashed_files(paths, settings, hash_set=hash_set):
        try:
            if isinstance(result, DeepShieldError):
                raise result
            signals.extend(bank_service.signals_of_media(result, settings.match.pdq_min_quality))
        except DeepShieldError as error:
            raise type(error)(f"{path}: {error.detail} (nothing was added)") from error
    return signals


def _read_text(path: Path) -> str:
    try:
        return read_media_file(path, bank_files.MAX_IMPORT_BYTES).decode("utf-8")
    except DeepShieldError as error:
        raise type(error)(f"{path}: {error.detail}") from error
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path}: not a UTF-8 text file (JSON or CSV)") from None


def _print_entries(entries: list[EntryInfo], as_json: bool) -> None:
    if as_json:
        print_json([entry_json(entry) for entry in entries])
        return
    table = Table("entry", "bank", "type", "quality", "origin", "case", "status")
    for entry in entries:
        status = ("withdrawn" if entry.withdrawn_at else "disabled" if not entry.enabled
                  else "added" if entry.created else "already in bank")
        table.add_row(str(entry.id), entry.bank, entry.signal_type,
                      "" if entry.quality is None else str(entry.quality), entry.origin,
                      entry.case_ref or "", status)
    stdout.print(table)


@app.command("add")
def add(
    bank: BankArg,
    files: Annotated[list[Path] | None, typer.Argument(help="Image or video files, or folders.")] = None,
    signal: Annotated[list[str] | None, typer.Option(
        "--signal", help="A hash as TYPE:VALUE, e.g. pdq:<64 hex>; repeatable.")] = None,
    hashes: Annotated[Path | None, typer.Option(
        "--hashes", help="A JSON file written by `deepshield hash --json`.")] = None,
    origin: Annotated[str, typer.Option(
        help="Where the hashes come from: victim_device, helpline, platform or import.")] = "helpline",
    case: Annotated[str | None, typer.Option(
        "--case", help="Case reference to file the entries under (opaque, no names).")] = None,
    hash_set: Annotated[bool, typer.Option(
        "--hash-set", help="For files: also bank each image's repost hash set (a few crops).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Add files (hashed here, never stored), hashes, or a hashes file to a bank.

    Everything is checked first; if anything is invalid, nothing is added.
    """
    with reported_errors(as_json):
        principal = local_operator()
        parsed_origin = bank_service.parse_origin(origin)
        ctx = open_context()
        signals: list[SignalInput] = []
        for spec in signal or []:
            signal_type, value = parse_signal_spec(spec)
            signals.append(SignalInput(signal_type.value, value))
        if hashes is not None:
            records = bank_files.load_json(_read_text(hashes), str(hashes))
            from_records, warnings = bank_files.signals_from_hash_records(records)
            for warning in warnings:
                stderr.print(f"[yellow]warning:[/] {warning}")
            signals.extend(from_records)
        if files:
            signals.extend(_signals_from_files(files, ctx.settings, hash_set))
        entries = bank_service.add_signals(ctx, bank, signals, origin=parsed_origin,
                                           case_ref=case, principal=principal)
    _print_entries(entries, as_json)


@app.command("withdraw")
def withdraw(bank: BankArg, entry_id: EntryArg, as_json: JsonOption = False) -> None:
    """Withdraw an entry for good: it stops matching at once, the server included."""
    with reported_errors(as_json):
        principal = local_operator()
        entry = bank_service.withdraw_entry(open_context(), bank, entry_id, principal)
    _print_entries([entry], as_json)


def _set_enabled(bank: str, entry_id: int, enabled: bool, as_json: bool) -> None:
    with reported_errors(as_json):
        principal = local_operator()
        entry = bank_service.set_entry_enabled(open_context(), bank, entry_id, enabled, principal)
    _print_entries([entry], as_json)


@app.command("disable")
def disable(bank: BankArg, entry_id: EntryArg, as_json: JsonOption = False) -> None:
    """Stop an entry matching, reversibly (e.g. while a report is reviewed)."""
    _set_enabled(bank, entry_id, False, as_json)


@app.command("enable")
def enable(bank: BankArg, entry_id: EntryArg, as_json: JsonOption = False) -> None:
    """Let a disabled entry match again."""
    _set_enabled(bank, entry_id, True, as_json)


@app.command("export")
def export(
    bank: BankArg,
    out: Annotated[Path | None, typer.Option("--out", help="File to write; stdout if omitted.")] = None,
    file_format: Annotated[str, typer.Option(
        "--format", help="json or csv (DeepShield's), te-csv (python-threatexchange's dataset CSV) "
                         "or lines (TYPE VALUE, its local_file form).")] = "json",
    include_inactive: Annotated[bool, typer.Option(
        help="Also export withdrawn and disabled entries.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Export a bank's entries. Hashes are sensitive: the export is audit-logged."""
    with reported_errors(as_json):
        if file_format not in bank_files.EXPORT_FORMATS:
            raise InvalidRequest(f"--format is one of {', '.join(bank_files.EXPORT_FORMATS)}; "
                                 f"got {file_format!r}")
        principal = local_operator()
        records = bank_service.export_bank(open_context(), bank, principal,
                                           include_inactive=include_inactive)
        text = bank_files.render_export(file_format, bank, records)
        if out is None:
            typer.echo(text, nl=False)
            return
        try:
            write_atomically(out, text)
        except OSError as exc:
            raise InvalidRequest(f"{out}: cannot be written: {exc.strerror or exc}") from None
    if as_json:
        print_json({"bank": bank, "file": str(out), "entries": len(records)})
    else:
        stdout.print(f"Exported {len(records)} entries of {bank} to {out}")


@app.command("import")
def import_(
    bank: BankArg,
    source: Annotated[Path, typer.Argument(help="A CSV, TYPE VALUE lines, or a JSON export.")],
    as_json: JsonOption = False,
) -> None:
    """Import a hash list: CSV with a header row naming signal_type and signal_value (or
    python-threatexchange's signal_str), 'TYPE VALUE' lines, or a DeepShield JSON export.

    Streams millions of rows. Every row is checked; if any is invalid, nothing is imported.
    """
    with reported_errors(as_json):
        principal = local_operator()
        try:
            size = source.stat().st_size
        except OSError as exc:
            raise InvalidRequest(f"cannot read {source}: {exc.strerror}") from None
        progress = Progress(TextColumn("Importing"), BarColumn(), DownloadColumn(),
                            TimeRemainingColumn(), console=stderr, transient=True,
                            disable=size < 8 * 1024**2)
        with progress:
            task = progress.add_task("import", total=size)
            summary = bulk_import.import_file(
                open_context(), bank, source, principal,
                progress=lambda done: progress.update(task, completed=done))
    if as_json:
        print_json(asdict(summary))
    else:
        stdout.print(f"Imported {summary.added} new entries into {bank} from {summary.rows} "
                     f"{summary.format} rows ({summary.duplicates} were already there)")
