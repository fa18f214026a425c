"""Database engine and the per-request session."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app, g
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, create_engine

# Counts a page shows stop here ("1,000+"): a count reads at most this many index entries,
# so a page costs the same at a thousand rows and at a million.
COUNT_CAP = 1_000


def make_engine(url: str) -> Engine:
    """Create the engine: SQLite with WAL, foreign keys and BEGIN IMMEDIATE; PostgreSQL pooled."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _tune_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # pysqlite begins lazily and never with IMMEDIATE; take over transaction control.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:
        # Every transaction takes the write lock up front: read-then-write sequences
        # (claims, log appends, policy bumps) then wait on busy_timeout instead of
        # failing with "database is locked". Engines made by read_only() run each
        # statement on its own (no snapshot, no lock), for observers such as tests.
        if not connection.get_execution_options().get("vigil_read_only"):
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine: Engine) -> Engine:
    """The same pool; on SQLite each statement stands alone (observers, not writers)."""
    return engine.execution_options(vigil_read_only=True)


def dialect_insert(session: Session):
    """The insert() that knows ON CONFLICT for this session's database."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def is_postgres(engine: Engine) -> bool:
    """True when the engine talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def get_session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = Session(current_app.extensions["vigil.engine"], expire_on_commit=False)
    return g.db_session


def close_session(_exc: BaseException | None = None) -> None:
    """Roll back anything uncommitted and close the request's session."""
    session = g.pop("db_session", None)
    if session is None:
        return
    try:
        session.rollback()
        session.close()
    except DBAPIError:
        # The connection died under the request (the database stopped or restarted): the
        # server already dropped the transaction. Throw the connection away; the pool's
        # pre-ping hands the next request a fresh one.
        session.invalidate()


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session for CLI commands and tests: commit on success, roll back on error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
