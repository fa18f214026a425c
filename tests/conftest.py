"""Fixtures: a fresh migrated database per test, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import shutil
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app, load_models
from core.db import make_engine, session_scope
from tests import figures
from tests.factories import Factory

load_models()  # every table in SQLModel.metadata (schema comparisons)

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_URL = os.environ.get(
    "VIGIL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def _migrate(url: str) -> None:
    from access_control.policy import load_baseline
    from core import migrate

    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with session_scope(engine) as session:
            load_baseline(session)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def pg_admin_url() -> str:
    """The PostgreSQL server tests create databases on; skips (fails in CI) if absent."""
    try:
        engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"CI=true but PostgreSQL at {PG_URL} is unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL} (set VIGIL_TEST_DATABASE_URL)")
    return PG_URL


def pg_execute(admin_url: str, sql: str) -> None:
    """Run one statement on the admin database in autocommit mode."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def pg_database_url(admin_url: str, name: str) -> str:
    """The URL of database `name` on the admin URL's server."""
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def empty_database_url(request, like_url: str, tmp_path) -> str:
    """A fresh, empty (unmigrated) database of the same kind as `like_url`, dropped after
    the test (restore targets)."""
    if like_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / f'empty-{uuid.uuid4().hex[:8]}.db'}"
    admin_url = request.getfixturevalue("pg_admin_url")
    name = f"vigil_empty_{uuid.uuid4().hex[:12]}"
    pg_execute(admin_url, f'CREATE DATABASE "{name}"')
    request.addfinalizer(
        lambda: pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    )
    return pg_database_url(admin_url, name)


@pytest.fixture(scope="session")
def pg_template(pg_admin_url):
    """A migrated template database, copied per test (CREATE DATABASE ... TEMPLATE)."""
    name = f"vigil_tmpl_{uuid.uuid4().hex[:10]}"
    pg_execute(pg_admin_url, f'CREATE DATABASE "{name}"')
    _migrate(pg_database_url(pg_admin_url, name))
    yield name
    pg_execute(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    """A migrated SQLite file, copied per test."""
    path = tmp_path_factory.mktemp("template") / "vigil.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path):
    """A fresh, migrated database for one test, on each backend."""
    if request.param == "sqlite":
        target = tmp_path / "vigil.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    admin_url = request.getfixturevalue("pg_admin_url")
    template = request.getfixturevalue("pg_template")
    name = f"vigil_t_{uuid.uuid4().hex[:12]}"
    pg_execute(admin_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield pg_database_url(admin_url, name)
    pg_execute(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_settings(database_url: str, tmp_path) -> dict:
    """The test mapping handed to create_app."""
    return {
        "ENV": "test",
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
    }


test_settings.__test__ = False  # a helper, not a test


@pytest.fixture
def app(database_url, tmp_path):
    """A Vigil app on a fresh database."""
    application = create_app(test_settings(database_url, tmp_path))
    yield application
    application.extensions["vigil.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    """A session outside any request, for asserting (reads never block the app's writes)."""
    from sqlmodel import Session

    from core.db import read_only

    with Session(read_only(app.extensions["vigil.engine"]), expire_on_commit=False) as session:
        yield session


@pytest.fixture
def factory(app) -> Factory:
    return Factory(app)


# --- proof that the PostgreSQL and browser tests really ran ------------------------

_RAN = {"postgres": 0, "browser": 0}


def pytest_runtest_logreport(report):
    if report.when == "call" and report.outcome in ("passed", "failed"):
        for marker in _RAN:
            if marker in report.keywords:
                _RAN[marker] += 1


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(
        f"PostgreSQL tests run: {_RAN['postgres']}; browser tests run: {_RAN['browser']}"
    )
    terminalreporter.write_line(figures.summary())


def pytest_sessionfinish(session, exitstatus):
    # With CI=true a green run must include both; a skip would hide a missing install.
    if IN_CI and exitstatus == 0 and session.testscollected > 50:
        missing = [name for name, count in _RAN.items() if count == 0]
        if missing:
            session.exitstatus = 1
            print(f"\nCI=true but no {' or '.join(missing)} tests ran")
