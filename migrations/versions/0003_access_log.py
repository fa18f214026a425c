"""access log: entries, erasable notes, signed checkpoints, verification runs

Revision ID: 0003_access_log
Revises: 0002_intake
Create Date: 2026-11-21 09:00:00

Written by hand (see issue 4). No foreign keys to moderation tables: entries
outlive purged cases.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit.triggers import drop_append_only, make_append_only

revision: str = "0003_access_log"
down_revision: str | None = "0002_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("access_entry", "audit_checkpoint", "audit_verification")


def _utc(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def _hash(name: str) -> sa.Column:
    return sa.Column(name, sa.LargeBinary(32), nullable=False)


def upgrade() -> None:
    op.create_table(
        "access_entry",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        _utc("occurred_at"),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(400), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("conversation_id", sa.String(64), nullable=False),
        sa.Column("evidence_version", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("client_address", sa.String(64), nullable=False),
        sa.Column("note_commitment", sa.String(64), nullable=False),
        _hash("prev_hash"),
        _hash("leaf_hash"),
        _hash("entry_hash"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("prev_hash"),
        sa.UniqueConstraint("entry_hash"),
    )
    for column in ("occurred_at", "actor_id", "case_id", "conversation_id"):
        op.create_index(f"ix_access_entry_{column}", "access_entry", [column])

    op.create_table(
        "access_note",
        sa.Column("entry_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.LargeBinary(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["entry_seq"], ["access_entry.seq"]),
        sa.PrimaryKeyConstraint("entry_seq"),
        sa.UniqueConstraint("salt"),
    )

    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        _utc("created_at"),
        sa.Column("origin", sa.String(200), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        _hash("root_hash"),
        _hash("chain_head"),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_checkpoint_tree_size", "audit_checkpoint", ["tree_size"])

    op.create_table(
        "audit_verification",
        sa.Column("id", sa.Integer(), nullable=False),
        _utc("started_at"),
        _utc("finished_at"),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("problems", sa.Integer(), nullable=False),
        sa.Column("redacted", sa.Integer(), nullable=False),
        sa.Column("checkpoints", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    for table in APPEND_ONLY:
        make_append_only(table)
    _forbid_note_updates()


def _forbid_note_updates() -> None:
    # Notes may be erased (DELETE) but never rewritten; the commitment would catch it anyway.
    message = "access_note can be erased but not changed"
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "CREATE TRIGGER access_note_no_update BEFORE UPDATE ON access_note "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
        return
    op.execute(
        "CREATE OR REPLACE FUNCTION access_note_reject_update() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{message}'; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        "CREATE TRIGGER access_note_no_update BEFORE UPDATE ON access_note "
        "FOR EACH ROW EXECUTE FUNCTION access_note_reject_update()"
    )
    op.execute("ALTER TABLE access_note ENABLE ALWAYS TRIGGER access_note_no_update")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS access_note_no_update")
    else:
        op.execute("DROP TRIGGER IF EXISTS access_note_no_update ON access_note")
        op.execute("DROP FUNCTION IF EXISTS access_note_reject_update()")
    for table in reversed(APPEND_ONLY):
        drop_append_only(table)
    op.drop_table("audit_verification")
    op.drop_index("ix_audit_checkpoint_tree_size", table_name="audit_checkpoint")
    op.drop_table("audit_checkpoint")
    op.drop_table("access_note")
    for column in ("occurred_at", "actor_id", "case_id", "conversation_id"):
        op.drop_index(f"ix_access_entry_{column}", table_name="access_entry")
    op.drop_table("access_entry")
