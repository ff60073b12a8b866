"""``deepshield audit``: check the audit log's hash chain, and read recent events."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stderr, stdout
from deepshield.services import audit as audit_service

#: ``audit verify`` exits with this when the chain is broken (as ``verify`` does for an
#: invalid label); errors keep their own codes 1-6.
TAMPERED_EXIT_CODE = 11

app = typer.Typer(help="The audit log: verify its hash chain, list recent events.",
                  no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("verify")
def verify(as_json: JsonOption = False) -> None:
    """Recompute the audit log's hash chain. Exit 0 when intact, 11 when any event was
    altered, removed, inserted or reordered (each break is printed)."""
    with reported_errors(as_json):
        principal = local_operator()
        report = audit_service.verify_audit_log(open_context(), principal)
    if as_json:
        print_json(audit_service.chain_report_view(report))
    elif report.ok:
        stdout.print(f"The audit log is intact: {report.events} events, head {report.head_seq} "
                     f"{report.head_hash}")
        stdout.print("Keep a copy of the head hash elsewhere: it shows later that the log was "
                     "not rebuilt from scratch.")
    else:
        stderr.print(f"[bold red]The audit log was tampered with.[/] First broken event: "
                     f"{report.first_bad_seq if report.first_bad_seq is not None else 'none'} "
                     f"({report.events} events read, head {report.head_seq})", markup=True)
        for problem in report.problems:
            stderr.print(f"  - {problem}", markup=False)
    if not report.ok:
        raise typer.Exit(TAMPERED_EXIT_CODE)


@app.command("log")
def log(
    target: Annotated[str | None, typer.Option(
        help="Only events about this target, e.g. case:12 or bank:helpline.")] = None,
    action: Annotated[str | None, typer.Option(
        help="Only this action (bank.add), or actions beginning so (case.*).")] = None,
    limit: Annotated[int, typer.Option(
        help=f"At most this many events (1-{audit_service.MAX_EVENTS}).")] = 50,
    as_json: JsonOption = False,
) -> None:
    """The newest audit events first (ids and counts only; never PII or hash values)."""
    with reported_errors(as_json):
        principal = local_operator()
        events = audit_service.list_events(open_context(), principal, target=target,
                                           action=action, limit=limit)
    if as_json:
        print_json([audit_service.event_view(event) for event in events])
        return
    table = Table("seq", "at", "actor", "action", "target", "by", "detail")
    for event in events:
        # Text, not markup: a target or detail holding "[...]" is shown as it is.
        table.add_row(str(event.seq), event.at.isoformat(timespec="seconds"), Text(event.actor),
                      Text(event.action), Text(event.target),
                      "system" if event.automated else "person",
                      Text(", ".join(f"{key}={value}" for key, value in sorted(event.detail.items()))))
    stdout.print(table)
