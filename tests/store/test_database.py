import pytest
from sqlalchemy import inspect, text

from deepshield.errors import InvalidSignal
from deepshield.services.spread import banks
from deepshield.services.spread.banks import Origin, SignalInput
from deepshield.store.database import Store, normalize_database_url, schema_is_current
from principals import SETUP


def test_migrations_create_the_schema_and_are_idempotent(empty_database_url):
    store = Store.open(empty_database_url)
    Store.open(empty_database_url).close()  # a second start migrates nothing and fails nothing
    tables = set(inspect(store.engine).get_table_names())
    assert {"banks", "bank_entries", "entry_changes", "api_keys", "audit_events"} <= tables
    assert schema_is_current(store.engine)
    store.close()


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        # Freed cells are zeroed: an updated or deleted hash value leaves no trace in the file.
        assert connection.execute(text("PRAGMA secure_delete")).scalar() == 1
    store.close()


def test_plain_postgresql_urls_use_the_psycopg3_driver():
    assert normalize_database_url("postgresql://u@h/db").startswith("postgresql+psycopg://")
    assert normalize_database_url("sqlite:///x.db") == "sqlite:///x.db"


def test_a_batch_with_one_bad_signal_writes_nothing(ctx):
    banks.create_bank(ctx, "b", "", SETUP)
    good = SignalInput("md5", "0" * 32)
    with pytest.raises(InvalidSignal, match="signal 2"):
        banks.add_signals(ctx, "b", [good, SignalInput("md5", "xyz")], origin=Origin.HELPLINE,
                          case_ref=None, principal=SETUP)
    with ctx.store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM bank_entries")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM entry_changes")).scalar() == 0
