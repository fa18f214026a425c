"""The migrations build exactly the models, on both backends, and run down and up."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from core import migrate


def _drift(engine) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, SQLModel.metadata)


def test_head_matches_every_model(app):
    assert _drift(app.extensions["vigil.engine"]) == []


def test_downgrade_to_base_and_back(app):
    engine = app.extensions["vigil.engine"]
    migrate.downgrade(engine, "base")
    migrate.upgrade(engine)
    assert _drift(engine) == []
