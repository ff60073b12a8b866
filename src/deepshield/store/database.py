"""Engines, sessions and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DataError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from deepshield.errors import InvalidRequest, StoreUnavailable
from deepshield.store import audit_repository
from deepshield.store.hash_sealing import (
    SEALED_PREFIX,
    HashKeyFile,
    HashKeyring,
    HashKeyUnavailable,
    engine_keyring,
    install_keyring,
    sealed_columns,
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets the server read while a CLI process writes; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Freed cells and pages are zeroed, so an updated or deleted hash value leaves no trace
    # in the file (docs/HASHES_AT_REST.md).
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def make_engine(url: str, *, connect_args: dict[str, Any] | None = None) -> Engine:
    """Create an engine for ``url``; SQLite files get WAL mode and their folder is created."""
    url = normalize_database_url(url)
    parsed = make_url(url)
    args: dict[str, Any] = dict(connect_args or {})
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=args)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, connect_args=args, pool_pre_ping=True)


def _alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


#: Set by migration 0007 in the Alembic config when it sealed plain rows.
SEALED_ROWS_ATTRIBUTE = "deepshield_sealed_rows"


@functools.cache
def _head_revision() -> str | None:
    """The newest migration's revision, read from the scripts once per process."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(config).get_current_head()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    config = _alembic_config(engine)
    try:
        # Already at head (every start but the first after an upgrade): nothing to run. Alembic
        # would load and run every migration script to find that out, on each start of each
        # process (a CLI command, a server worker).
        with engine.connect() as connection:
            if MigrationContext.configure(connection).get_current_revision() == _head_revision():
                return
        command.upgrade(config, "head")
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot reach the database: {exc.orig}") from exc
    if config.attributes.get(SEALED_ROWS_ATTRIBUTE):
        if engine.dialect.name == "sqlite":
            compact_sqlite(engine)
        elif engine.dialect.name == "postgresql":
            rewrite_postgresql_tables(engine)


def compact_sqlite(engine: Engine) -> None:
    """Rewrite a SQLite file (VACUUM) and empty its WAL, so no old page keeps a plain value."""
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute("VACUUM")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def rewrite_postgresql_tables(engine: Engine) -> None:
    """VACUUM FULL the sealed tables: an UPDATE leaves the old row version (the plain value)
    in its page as a dead tuple; this rewrites each table into new files without them.
    The WAL and any backup taken before still hold plain values (docs/HASHES_AT_REST.md)."""
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        for table in sorted({sealed.table for sealed in sealed_columns()}):
            connection.exec_driver_sql(f"VACUUM FULL {table}")


#: A value the database refused as data (a number past its column's range, PostgreSQL's 32-bit
#: ids above all): the request's fault, never a 500. The services range-check what they can.
_OUT_OF_RANGE = "a value in the request is out of the range the database holds (too large a number?)"


def _has_table(connection: Connection, table: str) -> bool:
    return inspect(connection).has_table(table)


def sealed_key_ids(engine: Engine) -> set[str]:
    """Key ids of the first and last sealed value of each sealed table (a cheap start check)."""
    found: set[str] = set()
    with engine.connect() as connection:
        for sealed in sealed_columns():
            if not _has_table(connection, sealed.table):
                continue
            for order in ("ASC", "DESC"):
                value = connection.execute(text(
                    f"SELECT {sealed.column} FROM {sealed.table} WHERE {sealed.column} LIKE :sealed "
                    f"ORDER BY id {order} LIMIT 1"), {"sealed": SEALED_PREFIX + "%"}).scalar()
                key_id = HashKeyring.key_id_of(value) if value is not None else None
                if key_id:
                    found.add(key_id)
    return found


def open_keyring(engine: Engine, key_file: HashKeyFile) -> HashKeyring:
    """Load the key file, or make a first key when the database holds no sealed value yet."""
    if key_file.exists():
        return key_file.load()
    in_use = sealed_key_ids(engine)
    if in_use:
        raise HashKeyUnavailable(
            f"the hash key file {key_file.path} is missing, but the database holds hash values "
            f"sealed under key {', '.join(sorted(in_use))}: restore the key file (a new key would "
            "not open them)")
    return key_file.create()


def schema_is_current(engine: Engine) -> bool:
    head = ScriptDirectory.from_config(_alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() == head


_BANK_CHANGED = "deepshield.bank_changed"


def mark_bank_change(session: Session) -> None:
    """Note that ``session`` changes bank entries: its store's generation moves on commit."""
    session.info[_BANK_CHANGED] = True


class Store:
    """The database: one engine and a session factory. Use ``transaction()`` for every unit of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # Audit events queued on a session are chained and written as it commits.
        event.listen(self._sessions, "before_commit", audit_repository.write_pending)
        #: Bumped after each commit through this store that changed bank entries (see
        #: ``mark_bank_change``), so readers in this process can tell, without a query,
        #: that they must look at the change feed.
        self.bank_generation = 0

    @classmethod
    def open(cls, url: str, *, connect_args: dict[str, Any] | None = None,
             hash_keys: HashKeyFile | HashKeyring | None = None) -> Store:
        """Connect to ``url`` and apply pending migrations.

        ``hash_keys`` seals hash values at rest (docs/HASHES_AT_REST.md): a key file (made on
        first start when missing and the database holds no sealed value) or a keyring. Without
        it, reading or writing a hash value fails with ``HashKeyUnavailable``.
        """
        engine = make_engine(url, connect_args=connect_args)
        try:
            keyring = hash_keys if isinstance(hash_keys, HashKeyring) or hash_keys is None \
                else open_keyring(engine, hash_keys)
            install_keyring(engine, keyring)
            migrate(engine)
            if keyring is not None:
                unknown = sealed_key_ids(engine) - set(keyring.key_ids)
                if unknown:
                    keyring.reload()
                    unknown -= set(keyring.key_ids)
                if unknown:
                    raise HashKeyUnavailable(
                        f"the database holds hash values sealed under key {', '.join(sorted(unknown))}, "
                        f"which the hash key file lacks (it holds {', '.join(keyring.key_ids)}): a wrong "
                        "or replaced key file")
        except OperationalError as exc:
            engine.dispose()
            raise StoreUnavailable(f"cannot reach the database: {exc.orig}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine)

    @property
    def hash_keyring(self) -> HashKeyring | None:
        return engine_keyring(self.engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error: nothing half-written."""
        session = self._sessions()
        try:
            yield session
            session.commit()
            if session.info.pop(_BANK_CHANGED, False):
                self.bank_generation += 1
        except OperationalError as exc:
            session.rollback()
            audit_repository.discard_pending(session)
            raise StoreUnavailable(f"the database failed: {exc.orig}") from exc
        except DataError as exc:
            session.rollback()
            audit_repository.discard_pending(session)
            raise InvalidRequest(_OUT_OF_RANGE) from exc
        except BaseException:
            session.rollback()
            audit_repository.discard_pending(session)
            raise
        finally:
            session.close()

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A plain connection in one transaction, committed on success, for hot paths that
        run a few Core statements (a match's bank lookup, group-committed audit rows) and
        need none of the ORM session's bookkeeping."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as exc:
            raise StoreUnavailable(f"the database failed: {exc.orig}") from exc
        except DataError as exc:
            raise InvalidRequest(_OUT_OF_RANGE) from exc

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["SQLAlchemyError", "Store", "make_engine", "mark_bank_change", "migrate",
           "normalize_database_url"]
