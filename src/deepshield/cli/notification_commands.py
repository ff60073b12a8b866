"""``deepshield notifications``: see the outbox and deliver what is due."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stderr, stdout
from deepshield.services.takedown import outbox as notification_service

app = typer.Typer(help="The notification outbox: receipts, decisions, statements of reasons, "
                  "partner status.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("list")
def list_notifications(
    status: Annotated[str | None, typer.Option(help="Only pending, sent or failed messages.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """List messages, newest first; recipients are masked and bodies never shown."""
    with reported_errors(as_json):
        ctx = open_context()
        try:
            views = notification_service.list_notifications(ctx, local_operator(), status, limit=limit)
        finally:
            ctx.close()
    if as_json:
        print_json([notification_service.notification_view(view) for view in views])
        return
    table = Table("id", "case", "kind", "channel", "recipient", "status", "attempts", "next attempt",
                  "last error")
    for view in views:
        table.add_row(str(view.id), view.case_ref or "", view.kind, view.channel, view.recipient,
                      view.status, str(view.attempts),
                      view.next_attempt_at.isoformat(timespec="seconds") if view.status == "pending" else "",
                      view.last_error or "")
    stdout.print(table)


@app.command("deliver")
def deliver(
    limit: Annotated[int, typer.Option(help="Send at most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Send the messages that are due now (a running server does this every few seconds)."""
    with reported_errors(as_json):
        ctx = open_context()
        try:
            report = notification_service.deliver(ctx, local_operator(), limit=limit)
        finally:
            ctx.close()
    if as_json:
        print_json(notification_service.report_view(report))
    else:
        stdout.print(f"Sent {report.sent}, retried {report.retried}, failed {report.failed}; "
                     f"{report.pending_left} pending.")
    if report.waiting_for_smtp:
        stderr.print(f"{report.waiting_for_smtp} email(s) wait in the outbox: SMTP is not configured "
                     "(set DEEPSHIELD_SMTP_HOST).")
