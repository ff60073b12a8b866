"""Nothing leaks between tests: a database reused from the template (SQLite) or the worker's
schema (PostgreSQL) is, for the next test, the same as a newly migrated one.

The tests here run in order, on one worker (``ONE_WORKER_FILES`` in conftest.py): a test writes
(rows, sealed hash values, moved sequences, the audit chain's head), and the next sees a database
equal to a fresh one; a test alters the schema (drops a trigger and a table), and the next still
gets the whole schema. "Equal" is checked against a database made and migrated in the test
itself: the same tables, rows, schema objects and sequence positions.

Run alone, or split across workers (pytest-xdist with ``--dist load``), a checking test skips,
and fails where CI requires the essentials (essentials.py).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, text

from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from deepshield.store import Store, audit_repository, bank_repository
from deepshield.store.bank_repository import NewEntry
from deepshield.store.database import make_engine, sealed_key_ids
from deepshield.store.hash_sealing import HashKeyFile
from deepshield.store.models import ApiKey, Bank
from essentials import essential_missing

pytestmark = pytest.mark.xdist_group("isolation")  # what conftest.py's ONE_WORKER_FILES does for now

#: What the writing tests left, by backend: their database URL and their hash key id.
_written: dict[str, tuple[str, str]] = {}
_altered: dict[str, str] = {}

PDQ = "f" * 32 + "0" * 32


def _without_the_test_before(name: str) -> None:
    """Skip (fail where CI requires the essentials): this test checks what ``name`` left behind,
    and ``name`` did not run before it in this process."""
    essential_missing(f"{name} did not run before this test in this process: run the whole module "
                      "(under pytest-xdist with --dist loadgroup, as the Makefile does)")


def _state(engine: Engine) -> dict[str, Any]:
    """Everything that tells one database from another: schema objects, every row of every
    table, and where each sequence stands."""
    state: dict[str, Any] = {}
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            state["objects"] = connection.execute(text(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")).all()
            tables = [row.name for row in state["objects"] if row.type == "table"]
        else:
            inspector = inspect(connection)
            tables = sorted(inspector.get_table_names())
            state["columns"] = {t: [(c["name"], str(c["type"]), c["nullable"])
                                    for c in inspector.get_columns(t)] for t in tables}
            state["indexes"] = {t: sorted(map(str, inspector.get_indexes(t))) for t in tables}
            state["triggers"] = connection.execute(text(
                "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal "
                "ORDER BY 1, 2")).all()
            state["sequences"] = connection.execute(text(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema() "
                "ORDER BY 1")).all()
        state["rows"] = {table: connection.execute(text(f'SELECT * FROM "{table}" ORDER BY 1')).all()
                         for table in tables}
    return state


def _fresh_state(make_empty_database: Any) -> dict[str, Any]:
    """The state of a database made and migrated here, as a first start leaves it."""
    store = Store.open(make_empty_database())
    try:
        return _state(store.engine)
    finally:
        store.close()


def _assert_like_a_fresh_database(database_url: str, make_empty_database: Any) -> None:
    engine = make_engine(database_url)
    try:
        assert _state(engine) == _fresh_state(make_empty_database)
    finally:
        engine.dispose()


def test_a_test_writes_rows_sealed_hashes_and_moves_sequences(settings: Settings, database_backend: str,
                                                              database_url: str) -> None:
    ctx = ServiceContext.open(settings)
    try:
        with ctx.store.transaction() as session:
            bank = bank_repository.create_bank(session, "leaky", "")
            bank_repository.add_entries(session, bank, [NewEntry("pdq", PDQ, 100, "helpline", "HL-1")],
                                        "test")
            audit_repository.record_event(session, "test", "bank.create", "bank:leaky")
        # A transaction rolled back still moves its sequence on (PostgreSQL), and leaves its
        # table empty: only the sequence tells.
        with pytest.raises(RuntimeError), ctx.store.transaction() as session:
            session.add(ApiKey(key_id="0" * 12, secret_hash="0" * 64, role="admin"))
            session.flush()
            raise RuntimeError("roll back")
        with ctx.store.transaction() as session:
            assert session.query(Bank).count() == 1 and session.query(ApiKey).count() == 0
        keyring = ctx.store.hash_keyring
        assert keyring is not None
        assert sealed_key_ids(ctx.store.engine) == set(keyring.key_ids)
        _written[database_backend] = (database_url, keyring.key_ids[0])
    finally:
        ctx.close()


def test_a_later_test_gets_a_database_like_a_fresh_one(settings: Settings, database_backend: str,
                                                       database_url: str, make_empty_database: Any) -> None:
    if database_backend not in _written:
        _without_the_test_before("test_a_test_writes_rows_sealed_hashes_and_moves_sequences")
    written_url, written_key = _written[database_backend]
    if database_backend == "postgresql":
        assert database_url == written_url, "the worker's schema is reused, emptied"
    _assert_like_a_fresh_database(database_url, make_empty_database)
    # The hash key file lives under this test's own home: none yet, so a first start makes one,
    # which the database (holding no sealed value) accepts.
    assert not HashKeyFile.for_home(settings.home).exists()
    ctx = ServiceContext.open(settings)
    try:
        keyring = ctx.store.hash_keyring
        assert keyring is not None and written_key not in keyring.key_ids
        assert sealed_key_ids(ctx.store.engine) == set()
        with ctx.store.transaction() as session:
            bank = bank_repository.create_bank(session, "first", "")
            audit_repository.record_event(session, "test", "bank.create", "bank:first")
        with ctx.store.engine.connect() as connection:
            assert bank.id == 1, "ids start at 1 again"
            assert connection.execute(text("SELECT seq FROM audit_events")).scalars().all() == [1]
    finally:
        ctx.close()


def test_a_test_alters_the_schema(database_backend: str, database_url: str, ctx: ServiceContext) -> None:
    with ctx.store.engine.begin() as connection:
        if database_backend == "postgresql":
            connection.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_append_only_update"))
        connection.execute(text("DROP TABLE public_filing_counts"))
    _altered[database_backend] = database_url


def test_a_later_test_gets_the_whole_schema_again(database_backend: str, database_url: str,
                                                  make_empty_database: Any) -> None:
    if database_backend not in _altered:
        _without_the_test_before("test_a_test_alters_the_schema")
    _assert_like_a_fresh_database(database_url, make_empty_database)


def test_an_empty_database_is_unmigrated_and_is_the_database_url_too(
        empty_database_url: str, database_url: str, settings: Settings) -> None:
    assert database_url == empty_database_url == settings.database_url
    engine = make_engine(empty_database_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_the_cheap_pin_kdf_fixtures(cheap_kdf_settings: Settings, settings: Settings,
                                    cheap_kdf_env: dict[str, str]) -> None:
    assert cheap_kdf_settings.cases.pin_kdf_log2_n == 10 < settings.cases.pin_kdf_log2_n
    assert cheap_kdf_settings.database_url == settings.database_url
    assert cheap_kdf_settings.home == settings.home
    assert cheap_kdf_env == {"DEEPSHIELD_PIN_KDF_LOG2_N": "10"}
    assert os.environ["DEEPSHIELD_PIN_KDF_LOG2_N"] == "10"
