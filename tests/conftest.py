"""Shared fixtures: a real database per test (SQLite, and PostgreSQL where reachable), and media.

Every database test runs twice, on SQLite and on PostgreSQL (``database_backend``). A test gets a
database already migrated to the newest revision, exactly as ``Store.open`` leaves a new one,
and empty of everything a test writes:

- SQLite: a copy of a template file, migrated once per session (per pytest-xdist worker).
- PostgreSQL: one schema per worker (named after the xdist worker id), migrated once; before
  each test the tables that hold anything are emptied (``TRUNCATE ... RESTART IDENTITY
  CASCADE``, keeping ``alembic_version``), the rows migration seeds are put back, and moved
  sequences are restarted. A test that changed the schema itself (dropped a trigger or a table,
  downgraded) is noticed, and the schema is built again.

The hash key file lives under each test's own ``home`` (``settings``), so every test starts
without one, as on a first start. Tests that need a truly empty, unmigrated database (migration
tests, tests that watch what a first start writes, servers started on their own database) ask
for ``empty_database_url``, or are marked ``empty_database``; then ``database_url`` (and so
``settings`` and ``ctx``) is that same empty database.

PostgreSQL tests use ``DEEPSHIELD_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Where no server answers, those tests
skip and say why; with ``DEEPSHIELD_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail
instead. Other essentials (reference packages and data) follow ``DEEPSHIELD_REQUIRE_REFERENCE=1``:
see essentials.py.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from deepshield.store import Store
from factories import encode_image, photo_pixels

POSTGRES_URL = os.environ.get(
    "DEEPSHIELD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: scrypt's cost for victims' PINs in tests: 2**10 instead of the default 2**15 (about 1 ms).
CHEAP_PIN_KDF_LOG2_N = 10
#: How long a reset of the worker's PostgreSQL schema waits for a table lock before it ends
#: the sessions that hold one (a connection a test left open in a transaction).
_RESET_LOCK_TIMEOUT = "10s"
_postgres_problem: str | bool | None = False  # False: not checked yet; None: reachable


def _postgres_unavailable() -> str | None:
    global _postgres_problem
    if _postgres_problem is False:
        try:
            engine = create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            engine.dispose()
            _postgres_problem = None
        except (SQLAlchemyError, ImportError, OSError) as exc:  # no server, no driver, a bad URL
            _postgres_problem = f"PostgreSQL at {POSTGRES_URL} is not reachable ({type(exc).__name__})"
    if _postgres_problem and os.environ.get("DEEPSHIELD_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"DEEPSHIELD_REQUIRE_POSTGRES=1 but {_postgres_problem}")
    return _postgres_problem or None


#: Terminal sizes a pytest-xdist worker must not inherit unless the run itself has them: importing
#: GNU readline in the controller writes COLUMNS=80 and LINES into its C environment (not into
#: os.environ), the workers start with them, and the CLI's Rich consoles, made at import, would then
#: draw tables at 80 columns whatever COLUMNS a test sets. The controller names the ones it lacks
#: in this variable (inherited by the workers), before any worker starts.
_UNSET_IN_WORKERS = "DEEPSHIELD_TEST_UNSET_IN_WORKERS"


def _terminal_size_as_in_the_controller() -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        os.environ[_UNSET_IN_WORKERS] = ",".join(n for n in ("COLUMNS", "LINES") if n not in os.environ)
        return
    for name in os.environ.get(_UNSET_IN_WORKERS, "").split(","):
        if name:
            os.environ.pop(name, None)


# At import: this file is imported before any other conftest (and so before the CLI's consoles).
_terminal_size_as_in_the_controller()


#: Test files whose tests run on one pytest-xdist worker, in file order, under ``--dist loadgroup``
#: (the Makefile's): test_isolation.py checks what the test before it left behind. Their
#: ``xdist_group`` mark alone does not do it with pytest 9.2 (pytest-dev/pytest-xdist#1386: the
#: group never reaches the scheduler), so the scheduler below groups these by file; every other
#: test is handed out on its own, as ``--dist load`` does.
ONE_WORKER_FILES = frozenset({"tests/test_isolation.py"})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """(pytest-xdist) ``--dist loadgroup`` that also keeps ``ONE_WORKER_FILES`` together."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class FileGroups(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if path in ONE_WORKER_FILES else str(super()._split_scope(nodeid))

    return FileGroups(config, log)


def _worker_id() -> str:
    """``gw0``, ``gw1``... under pytest-xdist; ``main`` in a run without workers."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _schema_url(schema: str) -> str:
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def _quoted(schema: str, name: str) -> str:
    return f'"{schema}"."{name}"'


# -- SQLite: a migrated template file, copied per test ------------------------------------------


def _migrated_sqlite_template(directory: Path) -> Path:
    """A SQLite file migrated to head, with nothing in a WAL: a plain copy of it is a database
    just as ``Store.open`` leaves a new one (no hash key is made: an empty database seals nothing)."""
    path = directory / "deepshield.db"
    Store.open(f"sqlite:///{path}").close()
    # The last connection to close checkpoints the WAL and removes it; make sure of it, since a
    # copy of the main file alone must hold every page.
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    leftovers = [p.name for p in directory.iterdir() if p != path]
    assert not leftovers, f"the template database left {leftovers} beside it"
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This worker's migrated SQLite template (copy it; never open it in a test)."""
    return _migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


# -- PostgreSQL: one migrated schema per worker, emptied between tests ---------------------------

#: Everything a test could change about the schema's shape: relations, columns, constraints,
#: triggers and functions. Rows are not part of it.
_SHAPE_SQL = """
SELECT coalesce(string_agg(item, E'\\n' ORDER BY item), '') FROM (
    SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || coalesce(a.attname || ' '
               || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text, '') AS item
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE n.nspname = :schema
    UNION ALL
    SELECT 'constraint ' || c.relname || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema
    UNION ALL
    SELECT 'trigger ' || c.relname || ' ' || t.tgname || ' ' || t.tgenabled::text
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND NOT t.tgisinternal
    UNION ALL
    SELECT 'function ' || p.proname || ' ' || md5(p.prosrc)
    FROM pg_proc p
    JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = :schema
) shape
"""

_TABLES_SQL = "SELECT tablename FROM pg_tables WHERE schemaname = :schema ORDER BY tablename"
_SEQUENCES_SQL = ("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = :schema "
                  "ORDER BY sequencename")


@dataclasses.dataclass
class _Snapshot:
    """What a just-migrated schema holds besides its shape."""

    shape: str
    version: tuple[str, ...]
    tables: tuple[str, ...]  # every table but alembic_version
    #: Rows that migration itself writes (audit_chain_head's genesis row): table -> (columns, rows).
    seeds: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]]
    #: sequence -> last_value (None: never used, as a new sequence is).
    sequences: dict[str, int | None]


class PostgresWorkerSchema:
    """One PostgreSQL schema for this worker, migrated once; ``reset()`` empties it between tests.

    ``url`` stays the same for the whole session (its ``search_path`` is the schema). After
    ``reset()`` the schema holds exactly what a newly migrated one holds: the same tables,
    triggers and functions, the rows migration seeds, and sequences that start at 1.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = _schema_url(name)
        self._admin: Engine = create_engine(POSTGRES_URL)
        self.rebuilds = 0
        try:
            self._snapshot = self._build()
        except BaseException:
            self.drop()  # a schema half built is no use to anyone: leave none behind
            raise

    def _build(self) -> _Snapshot:
        def recreate() -> None:
            with self._admin.begin() as connection:
                connection.execute(text(f"SET LOCAL lock_timeout = '{_RESET_LOCK_TIMEOUT}'"))
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
                connection.execute(text(f'CREATE SCHEMA "{self.name}"'))

        self._retrying_on_locks(recreate)
        Store.open(self.url).close()  # no hash key: an empty database seals nothing
        with self._admin.connect() as connection:
            return self._take_snapshot(connection)

    def _take_snapshot(self, connection: Connection) -> _Snapshot:
        schema = {"schema": self.name}
        tables = tuple(t for t in connection.execute(text(_TABLES_SQL), schema).scalars()
                       if t != "alembic_version")
        seeds: dict[str, tuple[tuple[str, ...], list[tuple[Any, ...]]]] = {}
        for table in tables:
            result = connection.execute(text(f"SELECT * FROM {_quoted(self.name, table)} ORDER BY 1"))
            columns, rows = tuple(result.keys()), [tuple(row) for row in result]
            if rows:
                seeds[table] = (columns, rows)
        return _Snapshot(shape=self._shape(connection), version=self._version(connection), tables=tables,
                         seeds=seeds, sequences=self._sequences(connection))

    def _shape(self, connection: Connection) -> str:
        return str(connection.execute(text(_SHAPE_SQL), {"schema": self.name}).scalar())

    def _version(self, connection: Connection) -> tuple[str, ...]:
        if not connection.execute(text("SELECT to_regclass(:t)"),
                                  {"t": _quoted(self.name, "alembic_version")}).scalar():
            return ()
        return tuple(connection.execute(text(
            f"SELECT version_num FROM {_quoted(self.name, 'alembic_version')} ORDER BY 1")).scalars())

    def _sequences(self, connection: Connection) -> dict[str, int | None]:
        return {row.sequencename: row.last_value
                for row in connection.execute(text(_SEQUENCES_SQL), {"schema": self.name})}

    def reset(self) -> None:
        """Put the schema back to just-migrated: every test starts from the same database."""
        with self._admin.connect() as connection:
            shape_changed = (self._shape(connection) != self._snapshot.shape
                             or self._version(connection) != self._snapshot.version)
        if shape_changed:
            # A test altered the schema (dropped a trigger, a table; downgraded): build it again.
            self.rebuilds += 1
            self._snapshot = self._build()
            return
        self._retrying_on_locks(self._empty)

    def _retrying_on_locks(self, work: Callable[[], None]) -> None:
        try:
            work()
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
                raise
            # A connection left open in a transaction (a server a test did not stop) holds a
            # lock on the schema: end it, since its test is over, and try once more.
            self._end_sessions_holding_locks()
            work()

    def _empty(self) -> None:
        snapshot = self._snapshot
        with self._admin.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{_RESET_LOCK_TIMEOUT}'"))
            unseeded = [t for t in snapshot.tables if t not in snapshot.seeds]
            dirty: set[str] = set()
            if unseeded:
                # One round trip: which tables hold any row at all.
                dirty.update(connection.execute(text(" UNION ALL ".join(
                    f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM {_quoted(self.name, t)})"
                    for t in unseeded))).scalars())
            for table, (_, rows) in snapshot.seeds.items():
                result = connection.execute(text(f"SELECT * FROM {_quoted(self.name, table)} ORDER BY 1"))
                if [tuple(row) for row in result] != rows:
                    dirty.add(table)
            if dirty:
                # TRUNCATE (not DELETE): audit_events' triggers refuse deletes, and TRUNCATE drops
                # every row version at once. CASCADE may reach a seeded table: refill them all.
                targets = sorted(dirty | set(snapshot.seeds))
                connection.execute(text(f"TRUNCATE {', '.join(_quoted(self.name, t) for t in targets)} "
                                        "RESTART IDENTITY CASCADE"))
                for table, (columns, rows) in snapshot.seeds.items():
                    names = ", ".join(f'"{c}"' for c in columns)
                    values = ", ".join(f":c{i}" for i in range(len(columns)))
                    connection.execute(text(f"INSERT INTO {_quoted(self.name, table)} ({names}) "
                                            f"VALUES ({values})"),
                                       [{f"c{i}": v for i, v in enumerate(row)} for row in rows])
            # A sequence moves on even for rows rolled back or deleted: put each back as it was.
            for sequence, value in self._sequences(connection).items():
                wanted = snapshot.sequences.get(sequence)
                if value == wanted:
                    continue
                if wanted is None:
                    connection.execute(text(f"ALTER SEQUENCE {_quoted(self.name, sequence)} RESTART"))
                else:
                    connection.execute(text("SELECT setval(:s, :v, true)"),
                                       {"s": _quoted(self.name, sequence), "v": wanted})

    def _end_sessions_holding_locks(self) -> None:
        with self._admin.connect() as connection:
            connection.execute(text(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
                "JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND l.pid <> pg_backend_pid() GROUP BY l.pid"),
                {"schema": self.name})

    def drop(self) -> None:
        """Drop the schema (at the end of the session); a failure only warns."""
        try:
            with self._admin.begin() as connection:
                connection.execute(text(f"SET LOCAL lock_timeout = '{_RESET_LOCK_TIMEOUT}'"))
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))
        except SQLAlchemyError as exc:
            warnings.warn(f"could not drop the test schema {self.name}: {exc}", stacklevel=1)
        finally:
            self._admin.dispose()


@pytest.fixture(scope="session")
def postgres_worker_schema() -> Iterator[PostgresWorkerSchema]:
    """This worker's PostgreSQL schema (made on first use, so SQLite-only runs never connect).

    Its name holds the xdist worker id and a random part, so runs at the same time on one server
    never share a schema."""
    problem = _postgres_unavailable()
    if problem:
        pytest.skip(f"{problem}; set DEEPSHIELD_TEST_POSTGRES_URL to run the PostgreSQL tests")
    schema = PostgresWorkerSchema(f"t_{_worker_id()}_{uuid.uuid4().hex[:8]}")
    try:
        yield schema
    finally:
        schema.drop()


# -- the database fixtures -----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: every database test runs on both (ids ``[sqlite]``,
    ``[postgresql]``). The PostgreSQL variant skips, or fails under ``DEEPSHIELD_REQUIRE_POSTGRES=1``,
    where no server answers."""
    if request.param == "postgresql":
        problem = _postgres_unavailable()
        if problem:
            pytest.skip(f"{problem}; set DEEPSHIELD_TEST_POSTGRES_URL to run the PostgreSQL tests")
    return str(request.param)


@pytest.fixture
def make_empty_database(database_backend: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """``make_empty_database()``: the URL of one more empty, unmigrated database on this test's
    backend (a new SQLite file under ``tmp_path``, or a new PostgreSQL schema dropped after the
    test). Each call makes another."""
    schemas: list[str] = []
    admin: Engine | None = None

    def make() -> str:
        nonlocal admin
        if database_backend == "sqlite":
            return f"sqlite:///{tmp_path / f'empty-{uuid.uuid4().hex[:8]}.db'}"
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = admin or create_engine(POSTGRES_URL, poolclass=NullPool)
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        return _schema_url(schema)

    try:
        yield make
    finally:
        if admin is not None:
            with admin.begin() as connection:
                for schema in schemas:
                    connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture
def empty_database_url(database_backend: str, tmp_path: Path,
                       make_empty_database: Callable[[], str]) -> str:
    """A truly empty, unmigrated database: ``tmp_path/deepshield.db`` not yet made (SQLite), or
    a new schema of its own (PostgreSQL). A test that asks for it gets it as ``database_url``
    too, so ``settings`` and ``ctx`` open it (and migrate it) like a first start."""
    if database_backend == "sqlite":
        return f"sqlite:///{tmp_path / 'deepshield.db'}"
    return make_empty_database()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, database_backend: str, tmp_path: Path) -> str:
    """A database migrated to head and holding nothing a test wrote: a copy of the migrated
    template at ``tmp_path/deepshield.db`` (SQLite), or this worker's schema, just reset
    (PostgreSQL). The same as ``empty_database_url`` when the test asks for that, or is marked
    ``empty_database`` (a marker for modules whose tests take ``settings`` or ``ctx``)."""
    if "empty_database_url" in request.fixturenames or request.node.get_closest_marker("empty_database"):
        return str(request.getfixturevalue("empty_database_url"))
    if database_backend == "sqlite":
        path = tmp_path / "deepshield.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    schema: PostgresWorkerSchema = request.getfixturevalue("postgres_worker_schema")
    schema.reset()
    return schema.url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[ServiceContext]:
    context = ServiceContext.open(settings)
    yield context
    context.close()


# -- a cheap PIN KDF -------------------------------------------------------------------------------


@pytest.fixture
def cheap_kdf_settings(settings: Settings) -> Settings:
    """``settings`` with victims' PINs hashed at the cheap test cost (``CHEAP_PIN_KDF_LOG2_N``)
    instead of the default 2**15, which would make every filed case cost 50-100 ms; everything
    else is ``settings``' (the same database and home)."""
    return settings.with_overrides(
        cases=dataclasses.replace(settings.cases, pin_kdf_log2_n=CHEAP_PIN_KDF_LOG2_N))


@pytest.fixture
def cheap_kdf_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Sets ``DEEPSHIELD_PIN_KDF_LOG2_N`` to the cheap test cost for this test (for the CLI run
    in-process) and returns it as ``{name: value}`` to add to a subprocess's or server's env."""
    env = {"DEEPSHIELD_PIN_KDF_LOG2_N": str(CHEAP_PIN_KDF_LOG2_N)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


# -- media ---------------------------------------------------------------------------------------


@pytest.fixture
def photo_jpeg() -> Callable[..., bytes]:
    """``photo_jpeg(seed, width=640, height=480, quality=92)``: JPEG bytes of a photo-like image."""

    def make(seed: int, width: int = 640, height: int = 480, quality: int = 92) -> bytes:
        return encode_image(photo_pixels(seed, width, height), "JPEG", quality=quality)

    return make


# -- a database for a world built once per module -------------------------------------------------


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of the module's own, for a world its tests share (built once per module
    and backend, ids ``[sqlite]`` and ``[postgresql]``): a copy of the SQLite template, or a
    PostgreSQL schema made for the module and dropped after its last test. Nothing empties it
    between tests (``database_url`` would: it truncates the worker's schema before each test), so a
    test that changes what others rely on must make its own piece. The PostgreSQL variant skips,
    or fails under ``DEEPSHIELD_REQUIRE_POSTGRES=1``, as ``database_backend``'s does."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("module-database") / "deepshield.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    problem = _postgres_unavailable()
    if problem:
        pytest.skip(f"{problem}; set DEEPSHIELD_TEST_POSTGRES_URL to run the PostgreSQL tests")
    # Made, migrated and dropped as the worker's schema is; never reset, so its snapshot goes unused.
    schema = PostgresWorkerSchema(f"t_{_worker_id()}_m{uuid.uuid4().hex[:8]}")
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture(scope="module")
def module_cheap_kdf_settings(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings on ``module_database_url``, with a home of the module's own (no hash key yet) and
    the cheap PIN KDF (as ``cheap_kdf_settings``)."""
    home = tmp_path_factory.mktemp("module-home") / "home"
    settings = Settings(home=home, database_url=module_database_url)
    return settings.with_overrides(
        cases=dataclasses.replace(settings.cases, pin_kdf_log2_n=CHEAP_PIN_KDF_LOG2_N))
