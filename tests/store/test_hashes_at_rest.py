"""Hash values sealed at rest (docs/HASHES_AT_REST.md): a stolen database names no banked hash.

Every test runs on SQLite (the file's bytes, its WAL included, are searched) and on
PostgreSQL (every row of every table, read back as text, is searched).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap
from sqlalchemy import inspect, select, text

from deepshield.errors import InvalidRequest
from deepshield.services import api_keys as key_service
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.spread import banks, bulk_import, exchange, matching
from deepshield.services.spread import content_registry as registry
from deepshield.services.spread.banks import Origin, SignalInput
from deepshield.services.takedown import intake as case_intake
from deepshield.settings import HashKeySettings
from deepshield.store.database import Store, _alembic_config
from deepshield.store.hash_sealing import SEALED_PREFIX, HashKeyFile, HashKeyUnavailable, key_file_path
from deepshield.store.models import AuditEvent
from principals import operator

# What a first start and the migrations write is part of what these tests check.
pytestmark = pytest.mark.empty_database

ACTOR = operator("test")
PARTNER = Principal("partner", Role.PARTNER)
T0 = "2026-03-02T10:00:00+00:00"


def _random_hex(chars: int) -> str:
    return secrets.token_hex(chars // 2)


def _vpdq(pdq: str) -> str:
    return "\n".join(f"{frame},100,{pdq},{frame:.3f}" for frame in range(3))


def _needles(values: list[str]) -> list[bytes]:
    """Every form in which a value (or its plain SHA-256, the old lookup digest) could leak."""
    found: list[bytes] = []
    for value in values:
        plain = value.split(",")[2] if "," in value else value
        found += [plain.encode(), plain.upper().encode(), bytes.fromhex(plain)[:12],
                  hashlib.sha256(value.encode()).hexdigest().encode()]
    return found


def _database_dump(ctx: ServiceContext) -> bytes:
    """SQLite: the file and its WAL as bytes. PostgreSQL: every row of every table, as text."""
    if ctx.store.backend == "sqlite":
        with ctx.store.engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        database = Path(ctx.store.engine.url.database or "")
        return b"".join(path.read_bytes() for path in (database, database.with_name(database.name + "-wal"))
                        if path.exists())
    chunks: list[str] = []
    with ctx.store.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            chunks += [repr(tuple(row)) for row in connection.execute(text(f'SELECT * FROM "{table}"'))]
    return "\n".join(chunks).encode()


def _postgresql_table_files(ctx: ServiceContext) -> bytes:
    """The bytes of the sealed tables' files on the PostgreSQL server (after a CHECKPOINT)."""
    with ctx.store.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.exec_driver_sql("CHECKPOINT")
        return b"".join(bytes(connection.execute(
            text("SELECT pg_read_binary_file(pg_relation_filepath(:t))"), {"t": table}).scalar())
            for table in ("bank_entries", "content_items"))


def _leaks(ctx: ServiceContext, values: list[str]) -> list[bytes]:
    dump = _database_dump(ctx)
    return [needle for needle in _needles(values) if needle in dump]


def _banked_values(ctx: ServiceContext, tmp_path: Path) -> list[str]:
    """Hashes put in through every door that stores them: adds, an import, a takedown request
    and the content registry. Returns the PDQ/MD5/SHA-256 values (vPDQ frames included)."""
    pdq, md5, sha256, frame = _random_hex(64), _random_hex(32), _random_hex(64), _random_hex(64)
    banks.create_bank(ctx, "helpline", "", ACTOR)
    banks.add_signals(ctx, "helpline", [SignalInput("pdq", pdq, 100), SignalInput("md5", md5),
                                        SignalInput("sha256", sha256), SignalInput("vpdq", _vpdq(frame))],
                      origin=Origin.HELPLINE, case_ref="HL-1", principal=ACTOR)
    imported = [_random_hex(64) for _ in range(3)]
    hash_list = tmp_path / "list.csv"
    hash_list.write_text("signal_type,signal_value\n" + "".join(f"pdq,{v}\n" for v in imported))
    banks.create_bank(ctx, "imported", "", ACTOR)
    assert bulk_import.import_file(ctx, "imported", hash_list, ACTOR).added == 3
    case_pdq = _random_hex(64)
    form = {
        "requester_role": "victim",
        "signature": {"name": "Jane Q. Example", "statement_ticked": True},
        "locations": [{"url": "https://forum.example/t/123"}],
        "hashes": [{"type": "pdq", "value": case_pdq, "quality": 100}],
        "good_faith": True,
        "contact": {"email": "jane.private@example.org"},
        "jurisdiction": {"depicted_person_country": "GB", "platform_countries": ["US"]},
        "age_check": {"depicted_under_18": False},
    }
    filed = case_intake.file_request(ctx, form, None)
    assert filed.case.state == "valid"
    # An incomplete request (no good-faith statement yet) keeps its hashes on the case until it
    # completes.
    pending_pdq = _random_hex(64)
    draft = {**{k: v for k, v in form.items() if k != "good_faith"},
             "hashes": [{"type": "pdq", "value": pending_pdq, "quality": 100}]}
    assert case_intake.file_request(ctx, draft, None).case.state == "incomplete"
    content = _random_hex(64)
    registry.register_items(ctx, [registry.ContentItemInput(
        "post-1", [SignalInput("pdq", content, 100), SignalInput("md5", md5)])], ACTOR)
    return [pdq, md5, sha256, _vpdq(frame), *imported, case_pdq, pending_pdq, content]


def _match(ctx: ServiceContext, signal_type: str, value: str) -> list[str]:
    query = matching.parse_query_signals([(signal_type, value)])
    return sorted(m.bank for m in matching.match_query(ctx, query, ACTOR))


def test_no_banked_or_registered_hash_is_in_the_database_and_everything_still_works(ctx, tmp_path):
    values = _banked_values(ctx, tmp_path)
    pdq, md5, sha256, vpdq = values[:4]
    imported, case_pdq = values[4], values[7]
    assert _leaks(ctx, values) == []

    # Matching, dedup, exports and the partner feed see plain values.
    assert _match(ctx, "pdq", pdq) == ["helpline"]
    assert _match(ctx, "md5", md5) == ["helpline"]
    assert _match(ctx, "pdq", imported) == ["imported"]
    assert _match(ctx, "pdq", case_pdq) == [ctx.settings.cases.reports_bank]
    again = banks.add_signals(ctx, "helpline", [SignalInput("sha256", sha256)], origin=Origin.HELPLINE,
                              case_ref="HL-1", principal=ACTOR)
    assert [r.created for r in again] == [False]
    exported = {(r["signal_type"], r["signal_value"]) for r in banks.export_bank(ctx, "helpline", ACTOR)}
    assert {("pdq", pdq), ("md5", md5), ("sha256", sha256), ("vpdq", vpdq)} == exported
    feed = {(u.signal_type, u.signal_value) for u in exchange.fetch_updates(ctx, PARTNER, 0).updates}
    assert ("pdq", pdq) in feed and ("pdq", imported) in feed
    # The copy sweep's exact lookup (a keyed digest) finds the registered MD5.
    with ctx.store.transaction() as session:
        from deepshield.store import content_repository
        found = content_repository.rows_by_digest(session, "md5", [content_repository.value_digest(md5)])
    assert [row.item_id for row in found] == ["post-1"]
    # Withdrawal still stops matching.
    entry_id = again[0].id
    banks.withdraw_entry(ctx, "helpline", entry_id, ACTOR)
    assert _match(ctx, "sha256", sha256) == []
    assert _leaks(ctx, values) == []


def test_the_key_file_is_private_and_one_readable_by_others_is_refused(settings):
    ServiceContext.open(settings).close()
    path = key_file_path(settings.home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.chmod(0o644)
    with pytest.raises(HashKeyUnavailable, match=r"readable by others.*chmod 600"):
        ServiceContext.open(settings)


def test_first_starts_at_the_same_time_share_one_key(tmp_path):
    path = tmp_path / "home" / "keys" / "hash-key"
    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(lambda _: HashKeyFile(path).create().current_id, range(16)))
    assert len(ids) == 1
    assert len(json.loads(path.read_text())["keys"]) == 1


def test_a_missing_key_file_is_a_clear_error_and_no_new_key_is_made(settings, tmp_path):
    ctx = ServiceContext.open(settings)
    _banked_values(ctx, tmp_path)
    ctx.close()
    path = key_file_path(settings.home)
    path.unlink()
    with pytest.raises(HashKeyUnavailable, match=r"is missing.*restore the key file"):
        ServiceContext.open(settings)
    assert not path.exists()


def test_a_wrong_key_or_an_altered_row_is_a_clear_error_not_empty_results(settings, tmp_path):
    ctx = ServiceContext.open(settings)
    values = _banked_values(ctx, tmp_path)
    ctx.close()
    path = key_file_path(settings.home)
    kept = path.read_bytes()
    path.unlink()
    HashKeyFile(path).create()  # another installation's key
    with pytest.raises(HashKeyUnavailable, match="lacks"):
        ServiceContext.open(settings)
    path.write_bytes(kept)

    ctx = ServiceContext.open(settings)
    try:
        with ctx.store.engine.begin() as connection:  # flip one character of one ciphertext
            row_id, stored = connection.execute(
                text("SELECT id, value FROM bank_entries ORDER BY id")).first()
            altered = stored[:-20] + ("A" if stored[-20] != "A" else "B") + stored[-19:]
            connection.execute(text("UPDATE bank_entries SET value = :v WHERE id = :i"),
                               {"v": altered, "i": row_id})
        with pytest.raises(HashKeyUnavailable, match="does not open"):
            banks.export_bank(ctx, "helpline", ACTOR)
        with pytest.raises(HashKeyUnavailable):
            _match(ctx, "pdq", values[0])  # the matcher's load fails loudly, not empty
    finally:
        ctx.close()


def test_rotation_reseals_every_row_resumes_and_drops_the_old_key(settings, tmp_path):
    ctx = ServiceContext.open(settings)
    other = ServiceContext.open(settings)  # another process, holding the old key only
    try:
        values = _banked_values(ctx, tmp_path)
        old_key = json.loads(key_file_path(settings.home).read_text())["current"]
        first = key_service.rotate_hash_key(ctx, ACTOR, batch_rows=2, max_batches=1)
        assert not first.finished and first.key_id != old_key
        assert len(json.loads(key_file_path(settings.home).read_text())["keys"]) == 2
        # Mid-rotation: both keys open values; dedup and exact lookups still find old-key rows.
        assert _match(ctx, "md5", values[1]) == ["helpline"]
        again = banks.add_signals(ctx, "helpline", [SignalInput("sha256", values[2])],
                                  origin=Origin.HELPLINE, case_ref="HL-1", principal=ACTOR)
        assert [r.created for r in again] == [False]

        done = key_service.rotate_hash_key(ctx, ACTOR, batch_rows=2)
        assert done.resumed and done.finished and done.key_id == first.key_id
        assert done.removed_keys == [old_key]
        document = json.loads(key_file_path(settings.home).read_text())
        assert [k["id"] for k in document["keys"]] == [done.key_id]
        with ctx.store.engine.connect() as connection:
            for table in ("bank_entries", "content_items"):
                stored = [v for (v,) in connection.execute(text(f"SELECT value FROM {table}"))]
                assert stored and all(v.startswith(f"{SEALED_PREFIX}{done.key_id}$") for v in stored)
        # The other process picks the new key up from the file.
        exported = {r["signal_value"] for r in banks.export_bank(other, "helpline", ACTOR)}
        assert values[0] in exported
        with ctx.store.transaction() as session:
            actions = [e.action for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action.like("hash_key.%")).order_by(AuditEvent.id))]
        assert actions == ["hash_key.rotate", "hash_key.rotate", "hash_key.rotated"]
        assert _leaks(ctx, values) == []
    finally:
        other.close()
        ctx.close()
    # A fresh start with only the new key reads everything.
    fresh = ServiceContext.open(settings)
    try:
        assert _match(fresh, "pdq", values[0]) == ["helpline"]
        assert _match(fresh, "pdq", values[-1]) == []  # registered content is not banked
    finally:
        fresh.close()


# Alone: VACUUM FULL keeps a dead tuple that a transaction open anywhere in the database may still
# see, and the parallel part's other tests share the PostgreSQL database (CI saw the plain values
# stay in the table's file once, under load).
@pytest.mark.serial
def test_existing_plain_rows_are_sealed_by_the_migration(settings, tmp_path):
    ctx = ServiceContext.open(settings)
    values = _banked_values(ctx, tmp_path)
    keyring = ctx.store.hash_keyring
    ctx.close()
    # Back to revision 0006: the downgrade opens every value, as a database before 0007 held them.
    store = Store.open(settings.resolved_database_url, hash_keys=keyring)
    command.downgrade(_alembic_config(store.engine), "0006")
    with store.engine.connect() as connection:
        plain = {v for (v,) in connection.execute(text("SELECT value FROM bank_entries"))}
    store.close()
    assert values[0] in plain  # the check below can see a leak
    ctx = ServiceContext.open(settings)  # migrates to 0007 again
    try:
        assert _leaks(ctx, values) == []
        if ctx.store.backend == "postgresql":  # the tables' files, dead tuples included
            files = _postgresql_table_files(ctx)
            assert [n for n in _needles(values) if n in files] == []
        assert _match(ctx, "pdq", values[0]) == ["helpline"]
    finally:
        ctx.close()


KMS_MASTER = secrets.token_bytes(32)  # the KMS's own key: never in DeepShield's files


def unwrap(wrapped: bytes) -> bytes:
    """A stand-in KMS: AES key unwrap under a key DeepShield never sees."""
    return aes_key_unwrap(KMS_MASTER, wrapped)


def test_a_kms_callback_unwraps_the_data_key_and_the_file_holds_only_wrapped_keys(settings, tmp_path):
    settings = settings.with_overrides(hash_keys=HashKeySettings(callback=f"{__name__}:unwrap"))
    with pytest.raises(HashKeyUnavailable, match="rotate-hash-key --wrapped-key"):
        ServiceContext.open(settings)
    data_key = secrets.token_bytes(32)
    first = key_service.install_wrapped_hash_key(settings, aes_key_wrap(KMS_MASTER, data_key), ACTOR)
    assert first is not None
    ctx = ServiceContext.open(settings)
    try:
        values = _banked_values(ctx, tmp_path)
        assert _match(ctx, "pdq", values[0]) == ["helpline"]
        assert data_key.hex() not in key_file_path(settings.home).read_text()
        with pytest.raises(InvalidRequest, match="--wrapped-key"):
            key_service.rotate_hash_key(ctx, ACTOR)  # a KMS setup never makes keys itself
        rotated = key_service.rotate_hash_key(
            ctx, ACTOR, wrapped=aes_key_wrap(KMS_MASTER, secrets.token_bytes(32)))
        assert rotated.finished and rotated.removed_keys == [first]
        assert _match(ctx, "md5", values[1]) == ["helpline"]
    finally:
        ctx.close()
    broken = settings.with_overrides(hash_keys=HashKeySettings(callback="os:getcwd"))
    with pytest.raises(HashKeyUnavailable, match="callback failed"):
        ServiceContext.open(broken)


def test_the_cli_rotates_the_key_and_refuses_a_shared_key_file(settings, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from deepshield.cli.main import app

    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DEEPSHIELD_HOME", str(settings.home))
    ctx = ServiceContext.open(settings)
    try:
        _banked_values(ctx, tmp_path)
    finally:
        ctx.close()
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "rotate-hash-key", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["finished"] and report["resealed"]["bank_entries"] >= 8
    os.chmod(key_file_path(settings.home), 0o640)
    result = runner.invoke(app, ["bank", "list", "--json"])
    assert result.exit_code == 6, result.output
    assert "hash_key_unavailable" in result.output and "chmod 600" in result.output


def test_the_index_snapshot_which_holds_plain_hashes_is_private(tmp_path):
    from deepshield.index.pdq_multi_index import PdqMultiIndex

    index = PdqMultiIndex()
    index.add([(1, _random_hex(64)), (2, _random_hex(64))])
    index.save(tmp_path / "pdq")
    assert stat.S_IMODE((tmp_path / "pdq").stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "pdq").glob("*.npy")} == {0o600}
