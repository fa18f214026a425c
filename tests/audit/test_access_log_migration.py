"""Migrations 0003_access_log and 0012_keyed_log: match the models, run both ways, triggers
come back."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from core import migrate

TABLES = {"access_entry", "access_note", "audit_checkpoint", "audit_verification"}
ALL_TABLES = {*TABLES, "audit_verify_request"}


def _touches_ours(diff) -> bool:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        table = getattr(part, "table", None)
        name = getattr(table, "name", None) or getattr(part, "name", None) or part
        if isinstance(name, str) and name in ALL_TABLES:
            return True
    return False


def test_the_migration_matches_the_models(app):
    engine = app.extensions["vigil.engine"]
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, SQLModel.metadata) if _touches_ours(d)]
    assert diffs == []


def test_downgrade_removes_the_tables_and_upgrade_restores_the_triggers(app, access_log):
    engine = app.extensions["vigil.engine"]
    migrate.downgrade(engine, "0002_intake")
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    access_log.append(2)
    with engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("DELETE FROM access_entry"))
