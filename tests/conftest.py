"""Shared fixtures: a real database per test (SQLite, and PostgreSQL where reachable), and media.

PostgreSQL tests use ``DEEPSHIELD_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets its own schema,
dropped afterwards. Where no server answers, those tests skip and say why; with
``DEEPSHIELD_REQUIRE_POSTGRES=1`` (set by ``.ci/run``) they fail instead. Other essentials
(reference packages and data) follow ``DEEPSHIELD_REQUIRE_REFERENCE=1``: see essentials.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from deepshield.services.context import ServiceContext
from deepshield.settings import Settings
from factories import encode_image, photo_pixels

POSTGRES_URL = os.environ.get(
    "DEEPSHIELD_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, or a private schema in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'deepshield.db'}"
        return
    problem = _postgres_unavailable()
    if problem:
        pytest.skip(f"{problem}; set DEEPSHIELD_TEST_POSTGRES_URL to run the PostgreSQL tests")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(home=tmp_path / "home", database_url=database_url)


@pytest.fixture
def ctx(settings: Settings) -> Iterator[ServiceContext]:
    context = ServiceContext.open(settings)
    yield context
    context.close()


@pytest.fixture
def photo_jpeg() -> Callable[..., bytes]:
    """``photo_jpeg(seed, width=640, height=480, quality=92)``: JPEG bytes of a photo-like image."""

    def make(seed: int, width: int = 640, height: int = 480, quality: int = 92) -> bytes:
        return encode_image(photo_pixels(seed, width, height), "JPEG", quality=quality)

    return make
