"""Migration 0002_intake: matches the models, runs both ways, adds its policy rows on upgrade."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import Session, SQLModel, select

from access_control.journal import AdminEvent
from access_control.models import PolicyRule
from access_control.policy import current_version
from core import migrate

INTAKE_TABLES = {
    "conversation",
    "message",
    "training_exclusion",
    "service_token",
    "idempotency_record",
    "moderation_case",
    "case_key",
    "evidence_version",
    "report",
}
NEW_ROWS = {
    ("*", "*", "report", "create", "any", "allow"),
    ("*", "*", "conversation", "read", "self", "allow"),
}


def _table_of(diff) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if isinstance(part, str) and part in INTAKE_TABLES:
            return part
        if name in INTAKE_TABLES:
            return name
    return None


def test_migration_matches_the_models(app):
    engine = app.extensions["vigil.engine"]
    # Compared at head: later migrations (0004_review) refine this table's indexes.
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = [
            d for d in compare_metadata(context, SQLModel.metadata) if _table_of(d) in INTAKE_TABLES
        ]
    assert diffs == []


def _policy_rows(session: Session) -> set[tuple[str, ...]]:
    return {row.values() for row in session.exec(select(PolicyRule).where(PolicyRule.ptype == "p"))}


def test_downgrade_and_upgrade_keep_an_existing_policy_in_step(app):
    engine = app.extensions["vigil.engine"]
    migrate.downgrade(engine, "0001_foundation")
    with Session(engine) as session:
        assert not NEW_ROWS & _policy_rows(session)
        before = current_version(session)
    migrate.upgrade(engine)
    with Session(engine) as session:
        assert _policy_rows(session) >= NEW_ROWS
        assert current_version(session) == before + 2
        reasons = session.exec(
            select(AdminEvent.reason).where(AdminEvent.event_type == "policy.rule_added")
        ).all()
        assert reasons.count("migration 0002_intake") == 2
