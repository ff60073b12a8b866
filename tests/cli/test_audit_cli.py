"""``deepshield audit``: verify exits 0 on an intact log and 11, naming the event, on a
tampered one; log lists recent events with filters."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest


@pytest.fixture
def sqlite_file(monkeypatch, tmp_path, run) -> Path:
    """A real SQLite database file that the CLI uses, holding three events made by the CLI."""
    path = tmp_path / "deepshield.db"
    monkeypatch.setenv("DEEPSHIELD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", f"sqlite:///{path}")
    for name in ("first", "second", "third"):
        code, out, err = run("bank", "create", name)
        assert code == 0, (out, err)
    return path


def edit_behind_the_triggers(path: Path, statement: str) -> None:
    """What someone with the database file and the sqlite3 shell can do."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("DROP TRIGGER audit_events_append_only_update")
        connection.execute("DROP TRIGGER audit_events_append_only_delete")
        connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def test_verify_exits_0_and_prints_the_head_of_an_intact_log(sqlite_file, run):
    code, out, err = run("audit", "verify")
    assert code == 0, err
    assert "The audit log is intact: 3 events, head 3" in out
    code, out, _ = run("audit", "verify", "--json")
    report = json.loads(out)
    assert code == 0
    # The first verify was logged after its check: the second one reads it as event 4.
    assert report["ok"] is True and report["events"] == 4 and report["head_seq"] == 4
    assert report["first_bad_seq"] is None and report["problems"] == []
    assert len(report["head_hash"]) == 64


def test_verify_exits_11_and_names_the_event_edited_with_sqlite3(sqlite_file, run):
    edit_behind_the_triggers(sqlite_file, "UPDATE audit_events SET target = 'bank:other' WHERE seq = 2")
    code, out, err = run("audit", "verify")
    assert code == 11, (out, err)
    assert "The audit log was tampered with. First broken event: 2" in err
    assert "event 2 (bank.create) was altered after it was written" in err
    code, out, _ = run("audit", "verify", "--json")
    assert code == 11
    report = json.loads(out)
    assert report["ok"] is False and report["first_bad_seq"] == 2
    assert report["problems"] == ["event 2 (bank.create) was altered after it was written"]


def test_verify_exits_11_and_prints_every_problem_when_an_event_is_deleted(sqlite_file, run):
    edit_behind_the_triggers(sqlite_file, "DELETE FROM audit_events WHERE seq = 1")
    code, _, err = run("audit", "verify")
    assert code == 11
    assert "First broken event: 1" in err
    assert "event 1 is missing (the next one found is 2)" in err
    assert "event 2 does not follow the event before it" in err


def test_verify_refuses_a_database_it_cannot_reach(monkeypatch, tmp_path, run):
    monkeypatch.setenv("DEEPSHIELD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, out, _ = run("audit", "verify", "--json")
    assert code == 6
    assert json.loads(out)["error"] == "store_unavailable"


def test_log_lists_the_newest_events_first_with_filters(cli_env, run):
    for name in ("alpha", "beta"):
        assert run("bank", "create", name)[0] == 0
    assert run("keys", "create", "--role", "helpline")[0] == 0
    code, out, err = run("audit", "log", "--json")
    assert code == 0, err
    events = json.loads(out)
    assert [(e["seq"], e["action"], e["target"]) for e in events] == [
        (3, "keys.create", events[0]["target"]), (2, "bank.create", "bank:beta"),
        (1, "bank.create", "bank:alpha")]
    assert events[0]["actor"].startswith("cli:") and events[0]["automated"] is False
    assert events[0]["detail"] == {"role": "helpline"}
    code, out, _ = run("audit", "log", "--target", "bank:alpha", "--json")
    assert [e["seq"] for e in json.loads(out)] == [1]
    code, out, _ = run("audit", "log", "--action", "bank.*", "--limit", "1", "--json")
    assert [e["target"] for e in json.loads(out)] == ["bank:beta"]
    code, out, _ = run("audit", "log", "--action", "audit.list", "--json")
    assert len(json.loads(out)) == 3  # each listing is itself on the log
    code, out, _ = run("audit", "log")
    assert code == 0 and "bank:alpha" in out and "person" in out  # a table for people


def test_log_says_what_is_wrong_with_a_bad_filter(cli_env, run):
    code, _, err = run("audit", "log", "--limit", "0")
    assert code == 3 and "limit is a whole number from 1 to 1000" in err
    code, out, _ = run("audit", "log", "--action", "bank.%", "--json")
    assert code == 3 and json.loads(out)["error"] == "invalid_request"
