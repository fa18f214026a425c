"""decisions with consequences: four-eyes, quarantine, legal holds, appeals, QA samples,
legal requests, purges

Revision ID: 0010_consequences
Revises: 0009_webhooks
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit.triggers import drop_append_only, make_append_only

revision: str = "0010_consequences"
down_revision: str | None = "0009_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


APPEND_ONLY = ("case_decision",)
SQLITE_CHANGED = " OR ".join(
    f"NEW.{c} IS NOT OLD.{c}"
    for c in ("id", "case_id", "kind", "actor_id", "actor_label", "occurred_at")
)


def _case_event_append_only() -> None:
    """case_event is append-only, except that a purge may blank a line's typed text
    (notes may quote content: retention must reach them)."""
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER case_event_no_update BEFORE UPDATE ON case_event "
            f"WHEN {SQLITE_CHANGED} OR NEW.detail <> '' "
            "BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END"
        )
        op.execute(
            "CREATE TRIGGER case_event_no_delete BEFORE DELETE ON case_event "
            "BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END"
        )
        return
    op.execute(
        """CREATE OR REPLACE FUNCTION case_event_reject_change() RETURNS trigger AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND NEW.detail = ''
             AND (NEW.id, NEW.case_id, NEW.kind, NEW.actor_id, NEW.actor_label, NEW.occurred_at)
                 IS NOT DISTINCT FROM
                 (OLD.id, OLD.case_id, OLD.kind, OLD.actor_id, OLD.actor_label, OLD.occurred_at)
          THEN RETURN NEW; END IF;
          RAISE EXCEPTION 'case_event is append-only';
        END $$ LANGUAGE plpgsql"""
    )
    op.execute(
        "CREATE TRIGGER case_event_no_change BEFORE UPDATE OR DELETE ON case_event "
        "FOR EACH ROW EXECUTE FUNCTION case_event_reject_change()"
    )
    op.execute(
        "CREATE TRIGGER case_event_no_truncate BEFORE TRUNCATE ON case_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION case_event_reject_change()"
    )
    op.execute("ALTER TABLE case_event ENABLE ALWAYS TRIGGER case_event_no_change")
    op.execute("ALTER TABLE case_event ENABLE ALWAYS TRIGGER case_event_no_truncate")


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _open_index(where: str) -> None:
    op.create_index(
        "uq_moderation_case_open_conversation",
        "moderation_case",
        ["conversation_id"],
        unique=True,
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def _case_fk() -> sa.Column:
    return sa.Column("case_id", sa.Integer(), sa.ForeignKey("moderation_case.id"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("moderation_case") as batch:
        batch.add_column(sa.Column("stage", sa.String(16), nullable=False, server_default="review"))
        batch.add_column(_utc("quarantined_at", True))
        batch.add_column(_utc("purged_at", True))
    # One open case per conversation besides one under appeal (a report during an appeal
    # opens a case of its own).
    op.drop_index("uq_moderation_case_open_conversation", table_name="moderation_case")
    _open_index("state = 'open' AND stage <> 'appeal'")
    with op.batch_alter_table("case_decision") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="first"))
        batch.add_column(sa.Column("final", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("share_link") as batch:
        batch.add_column(
            sa.Column("revoked_by", sa.String(16), nullable=False, server_default="owner")
        )
        batch.add_column(sa.Column("revoked_ref", sa.String(32), nullable=False, server_default=""))
    op.create_table(
        "share_block",
        sa.Column(
            "conversation_id",
            sa.Integer(),
            sa.ForeignKey("conversation.id"),
            primary_key=True,
        ),
        sa.Column("ref", sa.String(32), primary_key=True),
    )
    op.create_table(
        "legal_hold",
        sa.Column("id", sa.Integer(), primary_key=True),
        _case_fk(),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("placed_by", sa.String(400), nullable=False),
        _utc("placed_at"),
        _utc("until", True),
        _utc("lifted_at", True),
        sa.Column("lifted_by", sa.String(400), nullable=False),
        sa.Column("lift_reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_legal_hold_case_id", "legal_hold", ["case_id"])
    op.create_table(
        "appeal",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ref", sa.String(16), nullable=False, unique=True),
        _case_fk(),
        sa.Column("decision_id", sa.Integer(), sa.ForeignKey("case_decision.id"), nullable=False),
        sa.Column("appellant", sa.String(16), nullable=False),
        sa.Column("appellant_key", sa.String(200), nullable=False),
        sa.Column("report_id", sa.Integer(), sa.ForeignKey("report.id"), nullable=True),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        _utc("filed_at"),
        sa.Column("from_queue", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        _utc("decided_at", True),
        sa.Column(
            "result_decision_id", sa.Integer(), sa.ForeignKey("case_decision.id"), nullable=True
        ),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("outcome_reason", sa.String(2000), nullable=False, server_default=""),
    )
    op.create_index("ix_appeal_case_id", "appeal", ["case_id"])
    op.create_index("ix_appeal_appellant_key", "appeal", ["appellant_key"])
    for table, extra in (
        ("legal_request", sa.Column("reference", sa.String(100), nullable=False)),
        ("qa_sample", None),
    ):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), primary_key=True),
            _case_fk(),
            sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
            *([extra] if extra is not None else []),
            _utc("created_at" if table == "legal_request" else "drawn_at"),
            _utc("expires_at"),
        )
        op.create_index(f"ix_{table}_case_id", table, ["case_id"])
        op.create_index(f"ix_{table}_user_id", table, ["user_id"])
    # The timeline and the decisions are history: nobody edits or deletes them.
    for table in APPEND_ONLY:
        make_append_only(table)
    _case_event_append_only()


def downgrade() -> None:
    for table in (*APPEND_ONLY, "case_event"):
        drop_append_only(table)
    for table in ("qa_sample", "legal_request", "appeal", "legal_hold"):
        op.drop_table(table)
    op.drop_table("share_block")
    with op.batch_alter_table("share_link") as batch:
        batch.drop_column("revoked_ref")
        batch.drop_column("revoked_by")
    with op.batch_alter_table("case_decision") as batch:
        batch.drop_column("final")
        batch.drop_column("kind")
    op.drop_index("uq_moderation_case_open_conversation", table_name="moderation_case")
    _open_index("state = 'open'")
    with op.batch_alter_table("moderation_case") as batch:
        for name in ("purged_at", "quarantined_at", "stage"):
            batch.drop_column(name)
