"""``deepshield cases``: the operator's takedown workflow at the command line, on a real store."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from case_forms import request_form
from cli.conftest import CliRun
from deepshield.cli.output import ExitCode
from deepshield.services import access
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.takedown import review as case_review
from deepshield.services.takedown import victim_access
from deepshield.settings import load_settings

EMAIL = "survivor-7f3a@example.org"


@pytest.fixture
def run(run: CliRun) -> CliRun:
    """The CLI under ``deepshield cases`` (``run_json`` follows it)."""
    return run.under("cases")


def form_file(folder: Path, **changes: Any) -> Path:
    """A helpline's complete request about an Australian platform (24-hour clocks), as a file."""
    form = request_form(**{
        "requester_role": "helpline",
        "signature": {"name": "Helpline Caseworker", "statement_ticked": True},
        "locations": [{"url": "https://platform.example/p/9"}],
        "contact": {"email": EMAIL},
        "jurisdiction": {"depicted_person_country": "AU", "platform_countries": ["AU"]},
        "safety_check": {"in_immediate_danger": False},
        **changes,
    })
    path = folder / f"form-{len(list(folder.glob('form-*.json')))}.json"
    path.write_text(json.dumps(form))
    return path


def test_file_prints_the_case_number_and_pin_once_and_show_lists_the_clocks(cli_env, run, run_json):
    code, out, err = run("file", str(form_file(cli_env.root)))
    assert code == 0, (out, err)
    number = re.search(r"case number: (DS-\S+)", out).group(1)
    assert re.search(r"PIN: \d{8}", out)
    code, shown, _ = run("show", number)
    assert code == 0 and number in shown and "AU" in shown and "valid" in shown
    assert "PIN" not in shown and EMAIL not in shown
    view = run_json("show", number)
    assert view["state"] == "valid" and view["missing"] == []
    au_remove = [c for c in view["clocks"] if c["jurisdiction"] == "AU" and c["duty"] == "remove"]
    assert len(au_remove) == 1
    due = datetime.fromisoformat(au_remove[0]["due_at"]) - datetime.fromisoformat(au_remove[0]["started_at"])
    assert due == timedelta(hours=24)


def test_file_with_json_and_an_idempotency_key_shows_the_pin_only_the_first_time(cli_env, run_json):
    path = form_file(cli_env.root)
    first = run_json("file", str(path), "--idempotency-key", "cli-retry-1")
    second = run_json("file", str(path), "--idempotency-key", "cli-retry-1")
    assert first["case"]["case_number"] == second["case"]["case_number"]
    assert re.fullmatch(r"\d{8}", first["pin"]) and second["pin"] is None
    assert len(run_json("list")) == 1


def test_an_incomplete_request_says_what_is_missing_and_update_completes_it(cli_env, run_json):
    path = form_file(cli_env.root, good_faith=None, contact=None)
    filed = run_json("file", str(path))
    case = filed["case"]
    assert case["state"] == "incomplete"
    assert any("good_faith" in line for line in case["missing"])
    changes = cli_env.root / "changes.json"
    changes.write_text(json.dumps({"good_faith": True, "contact": {"email": EMAIL}}))
    updated = run_json("update", case["case_number"], str(changes))
    assert updated["state"] == "valid" and updated["missing"] == []


def test_the_review_workflow_from_acknowledgement_to_appeal_and_close(cli_env, run, run_json):
    number = run_json("file", str(form_file(cli_env.root)))["case"]["case_number"]
    assert run_json("acknowledge", number)["acknowledged_at"]
    paused = run_json("pause", number, "--reason", "asked for the item id")
    assert paused["pauses"][-1]["reason"] == "asked for the item id"
    assert run_json("resume", number)["pauses"][-1]["ended_at"]
    decided = run_json("decide", number, "declined", "--reasons", "not found at the URL")
    assert decided["case"]["decision"] == "declined" and decided["sweep"] is None
    appealed = run_json("appeal", number, "--statement", "it is still there")
    appeal_id = appealed["appeals"][-1]["id"]
    assert appealed["state"] == "appealed"
    # The operator made the decision, so the operator may not decide its appeal.
    code, out, _ = run("appeal-decide", number, str(appeal_id), "overturned", "--reasons",
                       "found it at the URL", "--json")
    assert code == ExitCode.INVALID_INPUT and json.loads(out)["error"] == "forbidden"
    settings = load_settings()
    ctx = ServiceContext.open(settings)
    try:
        case_review.decide_appeal(ctx, number, appeal_id, "overturned", "found it",
                                   Principal("test:second-reviewer", Role.PLATFORM))
    finally:
        ctx.close()
    closed = run_json("close", number, "--reason", "appeal decided")
    assert closed["state"] == "closed"
    code, text, _ = run("show", number)
    assert code == 0 and "overturned" in text


def test_due_lists_what_is_due_soonest_first_with_the_time_left(cli_env, run, run_json):
    first = run_json("file", str(form_file(cli_env.root)))["case"]["case_number"]  # AU: 24 h
    us_form = form_file(cli_env.root,
                        jurisdiction={"depicted_person_country": "US", "platform_countries": ["US"]})
    second = run_json("file", str(us_form))["case"]["case_number"]  # US: 48 h
    items = run_json("due", "--hours", "72")
    removal = [item for item in items if item["duty"] == "remove"]
    assert [item["case_number"] for item in removal] == [first, second]
    assert [item["due_at"] for item in items] == sorted(item["due_at"] for item in items)
    assert all(not item["breached"] for item in items)
    assert 23 * 3600 < removal[0]["remaining_s"] <= 24 * 3600
    code, text, _ = run("due", "--hours", "72")
    assert code == 0 and first in text and "left" in text
    assert [item for item in run_json("due", "--hours", "1") if item["duty"] == "remove"] == []


def test_withdraw_needs_now_and_takes_effect_at_once_and_cancel_stops_a_victims_cool_off(cli_env, run,
                                                                                           run_json):
    number = run_json("file", str(form_file(cli_env.root)))["case"]["case_number"]
    code, out, _ = run("withdraw", number, "--json")
    assert code == ExitCode.INVALID_INPUT and "--now" in json.loads(out)["detail"]
    assert run_json("show", number)["withdraw_requested_at"] is None
    # A victim's own withdrawal waits for the cool-off; the operator can cancel it meanwhile.
    ctx = ServiceContext.open(load_settings())
    try:
        victim = Principal(f"victim:{number}", Role.VICTIM, case_number=number)
        victim_access.request_withdrawal(ctx, number, victim)
    finally:
        ctx.close()
    pending = run_json("show", number)
    assert pending["withdraw_requested_at"] and pending["withdrawn_at"] is None
    assert run_json("cancel-withdrawal", number)["withdraw_requested_at"] is None
    code, out, _ = run("cancel-withdrawal", number, "--json")
    assert code == ExitCode.CONFLICT, out
    now = run_json("withdraw", number, "--now")
    assert now["state"] == "withdrawn" and now["withdrawn_at"]
    report = run_json("tick")
    assert set(report) == {"escalated", "breached", "withdrawals_applied", "drafts_expired"}
    assert run_json("tick")["withdrawals_applied"] == 0


def test_strikes_warn_then_suspend_and_contact_and_legal_hold(cli_env, run_json):
    first = run_json("strike", "uploader", "uploader-3", "--reason", "re-upload")
    second = run_json("strike", "uploader", "uploader-3", "--reason", "re-upload again")
    assert (first["kind"], second["kind"]) == ("warning", "suspension")
    assert [s["kind"] for s in run_json("strikes", "uploader", "uploader-3")] == ["warning", "suspension"]
    number = run_json("file", str(form_file(cli_env.root)))["case"]["case_number"]
    assert run_json("contact", number)["contact_email"] == EMAIL
    assert run_json("legal-hold", number)["legal_hold"] is True
    assert run_json("legal-hold", number, "--release")["legal_hold"] is False


def test_errors_exit_with_their_codes_and_a_clear_message(cli_env, run, run_json):
    code, out, _ = run("show", "DS-2222-3333-4444", "--json")
    assert code == ExitCode.NOT_FOUND and json.loads(out)["detail"] == access.NOT_VISIBLE
    bad = cli_env.root / "bad.json"
    for content in ("{not json", "[1, 2]", json.dumps({"image": "x"})):
        bad.write_text(content)
        code, out, _ = run("file", str(bad), "--json")
        assert code == ExitCode.INVALID_INPUT, (content, out)
        assert json.loads(out)["error"]
    code, _, err = run("file", str(cli_env.root / "missing.json"))
    assert code in (ExitCode.INVALID_INPUT, ExitCode.NOT_FOUND) and "missing.json" in err
    number = run_json("file", str(form_file(cli_env.root)))["case"]["case_number"]
    code, out, _ = run("decide", number, "maybe", "--reasons", "x", "--json")
    assert code == ExitCode.INVALID_INPUT, out
    code, out, _ = run("close", number, "--reason", "early", "--json")
    assert code == ExitCode.CONFLICT, out
    assert run_json("list", "--state", "closed") == []
