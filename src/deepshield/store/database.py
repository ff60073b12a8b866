"""Engines, sessions and schema migrations for SQLite (default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from deepshield.errors import StoreUnavailable
from deepshield.store import audit_repository

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


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    try:
        command.upgrade(_alembic_config(engine), "head")
    except OperationalError as exc:
        raise StoreUnavailable(f"cannot reach the database: {exc.orig}") from exc


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
    def open(cls, url: str, *, connect_args: dict[str, Any] | None = None) -> Store:
        """Connect to ``url`` and apply pending migrations."""
        engine = make_engine(url, connect_args=connect_args)
        migrate(engine)
        return cls(engine)

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

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["SQLAlchemyError", "Store", "make_engine", "mark_bank_change", "migrate",
           "normalize_database_url"]
