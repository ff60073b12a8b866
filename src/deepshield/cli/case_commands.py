"""``deepshield cases``: takedown requests from intake to closing, as the local operator (admin).

Every command takes ``--json``; errors exit with the codes in ``cli/output.py``. Each command
calls one function of ``services.takedown`` (``intake``, ``review``, ``victim_access``) with the
local operator's principal; that function authorises, scopes and audit-logs it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Column, Table

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stdout
from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media import read_media_file
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import case_json, victim_access
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import review as case_review
from deepshield.services.takedown.records import CaseView

app = typer.Typer(help="Takedown cases: file requests, watch the clocks, decide, appeal, withdraw, "
                       "and warn or suspend misusers.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
CaseArg = Annotated[str, typer.Argument(help="The case number, DS-XXXX-XXXX-XXXX.")]
#: A request form is small; a bigger file is not one.
MAX_FORM_BYTES = 512 * 1024


@contextmanager
def _context() -> Iterator[ServiceContext]:
    ctx = open_context()
    try:
        yield ctx
    finally:
        ctx.close()


def _read_form(path: Path) -> dict[str, Any]:
    try:
        text = read_media_file(path, MAX_FORM_BYTES).decode("utf-8")
    except DeepShieldError as error:
        raise type(error)(f"{path}: {error.detail}") from error
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path}: not a UTF-8 JSON file") from None
    try:
        form = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise InvalidRequest(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(form, dict):
        raise InvalidRequest(f"{path}: the request form must be a JSON object")
    return form


def _case_column() -> Column:
    # A case number is read aloud and copied: never wrapped over two lines.
    return Column("case", no_wrap=True, min_width=17)


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value is not None else ""


def _short(value: Any) -> str:
    """A time for a table cell: minutes are precise enough, and the cell stays on one line."""
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _print_case(case: CaseView, as_json: bool) -> None:
    if as_json:
        print_json(case_json.case_json(case))
        return
    stdout.print(f"[bold]{case.case_number}[/]  {case.state}  ({case.requester_role}; "
                 f"{', '.join(case.jurisdictions) or 'no jurisdiction'})", markup=True)
    stdout.print(f"received {_when(case.received_at)}"
                 + (f", due {_when(case.due_at)}" if case.due_at else "")
                 + (f", acknowledged {_when(case.acknowledged_at)}" if case.acknowledged_at else ""))
    if case.referral:
        stdout.print(f"referred: {case.referral}")
    for missing in case.missing:
        stdout.print(f"missing: {missing}")
    if case.decision:
        by = "automated" if case.decision_automated else (case.decided_by or "")
        stdout.print(f"decision: {case.decision} ({by}): {case.decision_reasons or ''}")
    if case.withdraw_requested_at:
        stdout.print(f"withdrawal requested {_when(case.withdraw_requested_at)}, takes effect "
                     f"{_when(case.withdraw_effective_at)}"
                     + (f", done {_when(case.withdrawn_at)}" if case.withdrawn_at else ""))
    if case.legal_hold:
        stdout.print("under legal hold")
    stdout.print(f"hashes: {case.hash_count}")
    if case.clocks:
        clocks = Table("clock", "duty", Column("due (UTC)", no_wrap=True), "met", "escalated", "breached",
                       "paused")
        for clock in case.clocks:
            clocks.add_row(clock.jurisdiction, clock.duty, _short(clock.due_at), _short(clock.met_at),
                           _short(clock.escalated_at), _short(clock.breached_at),
                           "yes" if clock.paused else "")
        stdout.print(clocks)
    if case.pauses:
        pauses = Table("paused", "resumed", "by", "reason")
        for pause in case.pauses:
            pauses.add_row(_short(pause.started_at), _short(pause.ended_at), pause.paused_by, pause.reason)
        stdout.print(pauses)
    if case.locations:
        locations = Table("location", "kind", "where", "status")
        for location in case.locations:
            locations.add_row(str(location.id), location.kind, location.location, location.status)
        stdout.print(locations)
    if case.appeals:
        appeals = Table("appeal", "kind", "party", "filed", "statement", "reviewer")
        appeals.add_column("outcome", no_wrap=True)
        for appeal in case.appeals:
            appeals.add_row(str(appeal.id), appeal.kind, appeal.filed_by_party, _short(appeal.filed_at),
                            appeal.statement, appeal.reviewer or "", appeal.outcome or "pending")
        stdout.print(appeals)
    if case.history:
        history = Table("seq", "at", "actor", "action", "automated")
        for item in case.history:
            history.add_row(str(item.seq), _short(item.at), item.actor, item.action,
                            "yes" if item.automated else "")
        stdout.print(history)


@app.command("file")
def file_(
    form: Annotated[Path, typer.Argument(help="The request form, a JSON file (see docs/CASES.md).")],
    idempotency_key: Annotated[str | None, typer.Option(
        "--idempotency-key", help="Retrying with the same key files nothing twice.")] = None,
    as_json: JsonOption = False,
) -> None:
    """File a takedown request. Prints the case number and the victim's PIN, once: give both
    to the victim, they are not shown again."""
    with reported_errors(as_json):
        fields = _read_form(form)
        with _context() as ctx:
            filed = case_intake.file_request(ctx, fields, local_operator(), request_key=idempotency_key)
    if as_json:
        print_json(case_json.filed_case_json(filed))
        return
    _print_case(filed.case, False)
    if filed.pin is None:
        stdout.print("This request was filed before with the same idempotency key; its PIN was "
                     "shown then and is not shown again.")
    else:
        stdout.print("The victim follows the case with its number and this PIN, shown only now:")
        print(f"case number: {filed.case.case_number}")
        print(f"PIN: {filed.pin}")


@app.command("update")
def update(case: CaseArg,
           form: Annotated[Path, typer.Argument(help="A JSON file with the fields to add.")],
           as_json: JsonOption = False) -> None:
    """Add what an incomplete request lacked; the clocks start when it is complete."""
    with reported_errors(as_json):
        changes = _read_form(form)
        with _context() as ctx:
            view = case_intake.update_request(ctx, case, changes, local_operator())
    _print_case(view, as_json)


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="Only cases in this state.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """The case queue, newest first."""
    with reported_errors(as_json), _context() as ctx:
        cases = case_review.list_cases(ctx, local_operator(), state=state, limit=limit)
    if as_json:
        print_json([case_json.case_json(case) for case in cases])
        return
    table = Table("state", "jurisdictions", Column("received (UTC)", no_wrap=True),
                  Column("due (UTC)", no_wrap=True), "decision")
    table.columns.insert(0, _case_column())
    for case in cases:
        table.add_row(case.case_number, case.state, ",".join(case.jurisdictions),
                      _short(case.received_at), _short(case.due_at), case.decision or "")
    stdout.print(table)


@app.command("due")
def due(
    hours: Annotated[float, typer.Option(min=0, max=24 * 30, help="Clocks due within this many hours.")]
    = 24.0,
    as_json: JsonOption = False,
) -> None:
    """What is due soon, soonest first, with the time remaining; escalated and breached marked."""
    with reported_errors(as_json), _context() as ctx:
        items = case_review.due_cases(ctx, local_operator(), within=timedelta(hours=hours))
    if as_json:
        print_json([case_json.due_item_json(item) for item in items])
        return
    if not items:
        stdout.print(f"Nothing is due within {hours:g} hours.")
        return
    table = Table("clock", "duty", Column("due (UTC)", no_wrap=True), Column("remaining", no_wrap=True),
                  Column("", no_wrap=True))
    table.columns.insert(0, _case_column())
    for item in items:
        flag = ("[bold red]BREACHED[/]" if item.breached
                else "[yellow]escalated[/]" if item.escalated else "")
        table.add_row(item.case_number, item.jurisdiction, item.duty, _short(item.due_at),
                      case_json.format_remaining(item.remaining), flag)
    stdout.print(table)


@app.command("show")
def show(case: CaseArg, as_json: JsonOption = False) -> None:
    """One case: state, clocks, pauses, locations, appeals and history (no contact details)."""
    with reported_errors(as_json), _context() as ctx:
        view = case_review.get_case(ctx, case, local_operator())
    _print_case(view, as_json)


@app.command("acknowledge")
def acknowledge(case: CaseArg, as_json: JsonOption = False) -> None:
    """Acknowledge the request."""
    with reported_errors(as_json), _context() as ctx:
        view = case_review.acknowledge(ctx, case, local_operator())
    _print_case(view, as_json)


@app.command("pause")
def pause(case: CaseArg,
          reason: Annotated[str, typer.Option("--reason", help="Why the clocks stop.")],
          as_json: JsonOption = False) -> None:
    """Pause the case's clocks (the reason is recorded)."""
    with reported_errors(as_json), _context() as ctx:
        view = case_review.pause_clocks(ctx, case, reason, local_operator())
    _print_case(view, as_json)


@app.command("resume")
def resume(case: CaseArg, as_json: JsonOption = False) -> None:
    """Restart the case's paused clocks."""
    with reported_errors(as_json), _context() as ctx:
        view = case_review.resume_clocks(ctx, case, local_operator())
    _print_case(view, as_json)


@app.command("decide")
def decide(
    case: CaseArg,
    decision: Annotated[str, typer.Argument(help="removed or declined.")],
    reasons: Annotated[str, typer.Option("--reasons", help="The reasons, sent to the requester.")],
    uploader_ref: Annotated[str | None, typer.Option(
        "--uploader-ref", help="The platform's opaque reference to the uploader (a removal "
                               "strikes them: warn, then suspend).")] = None,
    baseless: Annotated[bool, typer.Option(
        "--baseless", help="A declined request found baseless: strikes the reporter.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Decide removed or declined. Removal banks the hashes for blocking and runs the copy sweep;
    the items it found are listed."""
    with reported_errors(as_json), _context() as ctx:
        result = case_review.decide(ctx, case, decision, reasons, local_operator(),
                                     uploader_ref=uploader_ref, baseless=baseless)
    if as_json:
        print_json(case_json.decision_json(result))
        return
    _print_case(result.case, False)
    sweep = case_json.sweep_json(result.sweep)
    if sweep is not None:
        stdout.print("copy sweep: " + json.dumps(sweep, default=str))


@app.command("close")
def close(case: CaseArg,
          reason: Annotated[str, typer.Option("--reason", help="Why the case is closed.")],
          as_json: JsonOption = False) -> None:
    """Close the case."""
    with reported_errors(as_json), _context() as ctx:
        view = case_review.close_case(ctx, case, reason, local_operator())
    _print_case(view, as_json)


@app.command("appeal")
def appeal(
    case: CaseArg,
    statement: Annotated[str, typer.Option("--statement", help="What the appeal says.")],
    party: Annotated[str, typer.Option("--party", help="requester or uploader.")] = "requester",
    counter_notice: Annotated[bool, typer.Option(
        "--counter-notice", help="The uploader's counter-notice rather than an appeal.")] = False,
    as_json: JsonOption = False,
) -> None:
    """File an appeal against the decision (or an uploader's counter-notice)."""
    kind = "counter_notice" if counter_notice else "appeal"
    with reported_errors(as_json), _context() as ctx:
        view = case_review.file_appeal(ctx, case, statement, local_operator(), party=party, kind=kind)
    _print_case(view, as_json)


@app.command("appeal-decide")
def appeal_decide(
    case: CaseArg,
    appeal_id: Annotated[int, typer.Argument(help="The appeal's id, from `cases show`.")],
    outcome: Annotated[str, typer.Argument(help="upheld or overturned.")],
    reasons: Annotated[str, typer.Option("--reasons", help="The reasons for the outcome.")],
    as_json: JsonOption = False,
) -> None:
    """Decide an appeal (not by the reviewer who made the decision appealed against)."""
    with reported_errors(as_json), _context() as ctx:
        view = case_review.decide_appeal(ctx, case, appeal_id, outcome, reasons, local_operator())
    _print_case(view, as_json)


@app.command("withdraw")
def withdraw(
    case: CaseArg,
    now: Annotated[bool, typer.Option(
        "--now", help="Confirm it: the operator's withdrawal takes effect at once and cannot be undone.")]
    = False,
    as_json: JsonOption = False,
) -> None:
    """Withdraw a case: its hashes leave every bank and every partner's feed. The operator's
    withdrawal (like a helpline's) takes effect at once, so it needs --now, given after
    confirming it with the victim. (A victim's own withdrawal waits for a cool-off.)"""
    with reported_errors(as_json):
        if not now:
            raise InvalidRequest("the operator's withdrawal takes effect at once and cannot be undone: "
                                 "confirm it with the victim, then run it again with --now")
        with _context() as ctx:
            view = victim_access.request_withdrawal(ctx, case, local_operator())
    _print_case(view, as_json)


@app.command("cancel-withdrawal")
def cancel_withdrawal(case: CaseArg, as_json: JsonOption = False) -> None:
    """Cancel a victim's withdrawal that is still in its cool-off."""
    with reported_errors(as_json), _context() as ctx:
        view = victim_access.cancel_withdrawal(ctx, case, local_operator())
    _print_case(view, as_json)


@app.command("legal-hold")
def legal_hold(
    case: CaseArg,
    hold: Annotated[bool, typer.Option("--hold/--release", help="Set or lift the hold.")] = True,
    as_json: JsonOption = False,
) -> None:
    """Put a case under legal hold (its records are kept), or lift the hold."""
    with reported_errors(as_json), _context() as ctx:
        view = case_review.set_legal_hold(ctx, case, hold, local_operator())
    _print_case(view, as_json)


@app.command("contact")
def contact(case: CaseArg, as_json: JsonOption = False) -> None:
    """The requester's contact details (the read is audit-logged)."""
    with reported_errors(as_json), _context() as ctx:
        details = case_review.read_contact(ctx, case, local_operator())
    if as_json:
        print_json(case_json.contact_json(details))
        return
    stdout.print(f"signature: {details.signature_name}")
    stdout.print(f"email: {details.contact_email}")
    stdout.print(f"webhook: {details.webhook_url}")


@app.command("tick")
def tick(as_json: JsonOption = False) -> None:
    """Run the clocks once: escalate, mark breaches, apply withdrawals whose cool-off ended, and
    erase public requests left incomplete past DEEPSHIELD_DRAFT_EXPIRY_HOURS (a running `serve`
    does this every few seconds)."""
    with reported_errors(as_json), _context() as ctx:
        report = case_review.tick(ctx)
        drafts_expired = case_intake.expire_public_drafts(ctx)
    if as_json:
        print_json({**case_json.tick_json(report), "drafts_expired": drafts_expired})
    else:
        stdout.print(f"escalated {report.escalated}, breached {report.breached}, "
                     f"withdrawals applied {report.withdrawals_applied}, "
                     f"expired drafts erased {drafts_expired}")


def _print_strikes(strikes: list[case_records.StrikeView], as_json: bool) -> None:
    if as_json:
        print_json([case_json.strike_json(strike) for strike in strikes])
        return
    table = Table("subject", "kind", Column("at (UTC)", no_wrap=True), "by", "until", "reason")
    for strike in strikes:
        table.add_row(f"{strike.subject_kind}:{strike.subject_ref}", strike.kind, _short(strike.at),
                      "automated" if strike.automated else strike.by, _short(strike.until), strike.reason)
    stdout.print(table)


@app.command("strike")
def strike(
    subject_kind: Annotated[str, typer.Argument(help="uploader or reporter.")],
    subject_ref: Annotated[str, typer.Argument(help="The platform's opaque reference.")],
    reason: Annotated[str, typer.Option("--reason", help="Why.")],
    case: Annotated[str | None, typer.Option("--case", help="The case it concerns.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Warn an uploader or a reporter; a suspension once the policy's number of strikes is reached."""
    with reported_errors(as_json), _context() as ctx:
        recorded = case_review.record_strike(ctx, subject_kind, subject_ref, reason, local_operator(),
                                              case_number=case)
    if as_json:
        print_json(case_json.strike_json(recorded))
    else:
        until = f" until {_when(recorded.until)}" if recorded.until else ""
        stdout.print(f"{recorded.kind} recorded for {recorded.subject_kind} {recorded.subject_ref}{until}")


@app.command("strikes")
def strikes(
    subject_kind: Annotated[str, typer.Argument(help="uploader or reporter.")],
    subject_ref: Annotated[str, typer.Argument(help="The platform's opaque reference.")],
    as_json: JsonOption = False,
) -> None:
    """The strikes against one uploader or reporter."""
    with reported_errors(as_json), _context() as ctx:
        found = case_review.strikes_for(ctx, subject_kind, subject_ref, local_operator())
    _print_strikes(found, as_json)
