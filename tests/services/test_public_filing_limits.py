"""The public door's limits (issue 12, fix 10): a daily cap of new cases per address, kept in the
database under a keyed hash, and incomplete public requests erased once they expire.
On SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from deepshield.cli.main import app as cli_app
from deepshield.errors import RateLimited, Unauthorized
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.scheduler import Scheduler, server_rounds
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import review as case_review
from deepshield.services.takedown import victim_access
from deepshield.settings import Settings
from deepshield.store.hash_sealing import key_file_path
from deepshield.store.models import (
    AuditEvent,
    Case,
    CaseContact,
    CaseLocation,
    Notification,
    PublicFilingCount,
)

ADMIN = Principal("key:admin", Role.ADMIN)
HELPLINE = Principal("key:helpline-a", Role.HELPLINE)
ADDRESS = "203.0.113.77"
EMAIL = "draft.filer@example.org"
T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CAP = 3


@pytest.fixture
def capped_settings(cheap_kdf_settings: Settings) -> Settings:
    """The cheap PIN KDF, a cap of ``CAP`` new public cases per address a day, and public drafts
    that expire after 72 hours."""
    return cheap_kdf_settings.with_overrides(cases=dataclasses.replace(
        cheap_kdf_settings.cases, public_cases_per_address_per_day=CAP, draft_expiry_hours=72.0))


@pytest.fixture
def ctx(capped_settings: Settings) -> Iterator[ServiceContext]:
    context = ServiceContext.open(capped_settings)
    yield context
    context.close()


def draft(**changes: Any) -> dict[str, Any]:
    """An incomplete request with personal data: a location, a contact, a signature."""
    return {"requester_role": "victim", "locations": [{"url": "https://forum.example/t/9"}],
            "contact": {"email": EMAIL}, "signature": {"name": "Draft Filer"}, **changes}


def complete() -> dict[str, Any]:
    return draft(signature={"name": "Draft Filer", "statement_ticked": True}, good_faith=True,
                 jurisdiction={"depicted_person_country": "GB", "platform_countries": ["US"]},
                 age_check={"depicted_under_18": False})


def file_public(ctx: ServiceContext, address: str = ADDRESS, now: datetime = T0, form: Any = None,
                **kw: Any) -> case_records.FiledCase:
    return case_intake.file_request(ctx, form if form is not None else {}, None, address=address, now=now,
                                     **kw)


def count(ctx: ServiceContext, model: Any, *where: Any) -> int:
    with ctx.store.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)))


# --- The daily cap -------------------------------------------------------------------------------


def test_an_address_opens_at_most_the_cap_of_new_cases_a_day(ctx: ServiceContext) -> None:
    for _ in range(CAP):
        assert file_public(ctx).pin
    with pytest.raises(RateLimited) as refused:
        file_public(ctx, now=T0 + timedelta(hours=2))
    # Midnight UTC is 10 h after 14:00; Retry-After counts to it.
    assert 10 * 3600 <= refused.value.retry_after_s <= 10 * 3600 + 1
    assert "already filed 3 new requests today" in refused.value.detail
    assert count(ctx, Case) == CAP, "a refused filing wrote a case"
    # Another address, a key's filing, and the next UTC day are not refused.
    assert file_public(ctx, address="198.51.100.1").pin
    assert case_intake.file_request(ctx, {}, HELPLINE, now=T0).pin
    assert file_public(ctx, now=T0 + timedelta(hours=12)).pin


def test_a_retry_with_its_key_gets_its_case_at_the_cap(ctx: ServiceContext) -> None:
    first = file_public(ctx, form=draft(), request_key="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    for _ in range(CAP - 1):
        file_public(ctx)
    again = file_public(ctx, form=draft(), request_key="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
    assert again.case.case_number == first.case.case_number and again.pin is None


def test_the_count_survives_a_restart_and_never_holds_the_address(capped_settings: Settings) -> None:
    ctx = ServiceContext.open(capped_settings)
    try:
        for _ in range(CAP):
            file_public(ctx)
    finally:
        ctx.close()
    restarted = ServiceContext.open(capped_settings)
    try:
        with pytest.raises(RateLimited):
            file_public(restarted)
        with restarted.store.transaction() as session:
            rows = [(r.day, r.address_hash, r.count) for r in session.scalars(select(PublicFilingCount))]
        assert len(rows) == 1 and rows[0][0] == "2026-06-01" and rows[0][2] == CAP
        assert ADDRESS not in json.dumps(rows) and len(rows[0][1]) == 64
        # The keyed hash is not a plain hash of the address: without the key it cannot be tested.
        assert rows[0][1] not in {hashlib.sha256(f"{d}{sep}{ADDRESS}".encode()).hexdigest()
                                  for d in ("2026-06-01", "") for sep in ("", "\x00", "|", " ")}
        # Keyed by the installation's hash key, a private file outside the database.
        assert key_file_path(capped_settings.home).stat().st_mode & 0o077 == 0, \
            "the key file is readable by others"
        if capped_settings.resolved_database_url.startswith("sqlite"):
            database = Path(capped_settings.resolved_database_url.removeprefix("sqlite:///"))
            stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
            assert ADDRESS.encode() not in stored
    finally:
        restarted.close()


def test_concurrent_filings_from_two_workers_never_pass_the_cap(capped_settings: Settings) -> None:
    workers = [ServiceContext.open(capped_settings), ServiceContext.open(capped_settings)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def file(worker: ServiceContext) -> None:
        try:
            file_public(worker)
            result = "filed"
        except RateLimited:
            result = "refused"
        with lock:
            outcomes.append(result)

    try:
        threads = [threading.Thread(target=file, args=(workers[n % 2],)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(outcomes) == ["filed"] * CAP + ["refused"] * (8 - CAP)
        assert count(workers[0], Case) == CAP
    finally:
        for worker in workers:
            worker.close()


def test_one_ipv6_64_is_one_filer(ctx: ServiceContext) -> None:
    for n in range(CAP):
        file_public(ctx, address=f"2001:db8:1:2::{n + 1:x}")
    with pytest.raises(RateLimited):
        file_public(ctx, address="2001:db8:1:2:ffff::9")
    assert file_public(ctx, address="2001:db8:1:3::1").pin
    assert case_intake.address_group("::ffff:192.0.2.4") == "192.0.2.4"


def test_a_cap_of_zero_turns_it_off(cheap_kdf_settings: Settings) -> None:
    uncapped = cheap_kdf_settings.with_overrides(cases=dataclasses.replace(
        cheap_kdf_settings.cases, public_cases_per_address_per_day=0))
    ctx = ServiceContext.open(uncapped)
    try:
        for _ in range(CAP + 2):
            file_public(ctx)
        assert count(ctx, PublicFilingCount) == 0
    finally:
        ctx.close()


# --- Expired drafts -------------------------------------------------------------------------------


def test_an_expired_public_draft_is_erased_with_its_pin_and_contacts(ctx: ServiceContext) -> None:
    old = file_public(ctx, form=draft(), now=T0)
    assert old.case.state == "incomplete"
    young = file_public(ctx, form=draft(), address="198.51.100.2", now=T0 + timedelta(hours=2))
    done = file_public(ctx, form=complete(), address="198.51.100.3", now=T0)
    assert done.case.state == "valid"
    held = file_public(ctx, form=draft(), address="198.51.100.4", now=T0)
    case_review.set_legal_hold(ctx, held.case.case_number, True, ADMIN)
    keyed = case_intake.file_request(ctx, draft(), HELPLINE, now=T0)
    with ctx.store.transaction() as session:
        old_id = session.scalar(select(Case.id).where(Case.case_number == old.case.case_number))
    assert count(ctx, Notification, Notification.case_id == old_id) >= 1  # its receipt, to her email

    # Not yet: 71 hours on.
    assert case_intake.expire_public_drafts(ctx, now=T0 + timedelta(hours=71)) == 0
    # 73 hours on, only the old public draft goes: not the younger one, the complete one, the one
    # on legal hold, nor a helpline's.
    assert case_intake.expire_public_drafts(ctx, now=T0 + timedelta(hours=73)) == 1
    numbers = {c.case_number for c in case_review.list_cases(ctx, ADMIN, limit=100)}
    assert numbers == {young.case.case_number, done.case.case_number, held.case.case_number,
                       keyed.case.case_number}
    assert count(ctx, Case, Case.id == old_id) == 0
    for model in (CaseContact, CaseLocation, Notification):
        assert count(ctx, model, model.case_id == old_id) == 0, model.__name__
    with pytest.raises(Unauthorized):
        victim_access.victim_principal(ctx, old.case.case_number, old.pin or "")
    with ctx.store.transaction() as session:
        event = session.scalar(select(AuditEvent).where(AuditEvent.action == "case.expire"))
        assert event is not None and event.target == f"case:{old_id}" and event.automated
        assert EMAIL not in (event.detail or "")
    # Idempotent.
    assert case_intake.expire_public_drafts(ctx, now=T0 + timedelta(hours=73)) == 0


def test_a_draft_completed_in_time_is_kept(ctx: ServiceContext) -> None:
    filed = file_public(ctx, form=draft(), now=T0)
    victim = victim_access.victim_principal(ctx, filed.case.case_number, filed.pin or "")
    case_intake.update_request(ctx, filed.case.case_number, {
        "signature": {"name": "Draft Filer", "statement_ticked": True}, "good_faith": True,
        "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False}}, victim, now=T0 + timedelta(hours=70))
    assert case_intake.expire_public_drafts(ctx, now=T0 + timedelta(days=10)) == 0
    assert count(ctx, Case) == 1


def test_expiry_forgets_past_days_counts(ctx: ServiceContext) -> None:
    file_public(ctx, now=T0)
    file_public(ctx, now=T0 + timedelta(days=1))
    assert count(ctx, PublicFilingCount) == 2
    case_intake.expire_public_drafts(ctx, now=T0 + timedelta(days=1, hours=1))
    with ctx.store.transaction() as session:
        assert [r.day for r in session.scalars(select(PublicFilingCount))] == ["2026-06-02"]


def test_the_server_s_background_round_erases_expired_drafts(capped_settings: Settings) -> None:
    ctx = ServiceContext.open(capped_settings)
    try:
        stale = file_public(ctx, form=draft(), now=datetime.now(UTC) - timedelta(hours=80))
        scheduler = Scheduler(ctx, server_rounds(), interval_s=0.01)
        scheduler.run_once()
        with pytest.raises(Unauthorized):
            victim_access.victim_principal(ctx, stale.case.case_number, stale.pin or "")
        assert count(ctx, Case) == 0
    finally:
        ctx.close()


def test_cases_tick_at_the_cli_erases_expired_drafts(capped_settings: Settings, database_url: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = ServiceContext.open(capped_settings)
    try:
        file_public(ctx, form=draft(), now=datetime.now(UTC) - timedelta(hours=80))
        file_public(ctx, form=draft(), address="198.51.100.9", now=datetime.now(UTC) - timedelta(hours=1))
    finally:
        ctx.close()
    monkeypatch.setenv("DEEPSHIELD_HOME", str(capped_settings.home))
    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", database_url)
    result = CliRunner().invoke(cli_app, ["cases", "tick", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["drafts_expired"] == 1
    human = CliRunner().invoke(cli_app, ["cases", "tick"])
    assert human.exit_code == 0 and "expired drafts erased 0" in human.stdout
