"""keyed access log: per-entry MAC, queue, message number and break-glass grant on the
entry (format 2), verification requests and how each run was started

Revision ID: 0012_keyed_log
Revises: 0011_staff_admin

Adding columns fires no UPDATE trigger, so the append-only tables stay append-only.
Entries written before this revision keep format 1 and no MAC: `audit verify` accepts
them only inside a signed checkpoint.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from audit.triggers import drop_append_only, make_append_only

revision: str = "0012_keyed_log"
down_revision: str | None = "0011_staff_admin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ENTRY_COLUMNS = (
    sa.Column("queue", sa.String(32), nullable=False, server_default=""),
    sa.Column("message", sa.Integer(), nullable=True),
    sa.Column("grant_id", sa.String(64), nullable=False, server_default=""),
    sa.Column("entry_mac", sa.LargeBinary(32), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("access_entry", recreate="never") as batch:
        for column in ENTRY_COLUMNS:
            batch.add_column(column._copy())
    with op.batch_alter_table("audit_verification", recreate="never") as batch:
        batch.add_column(sa.Column("trigger", sa.String(16), nullable=False, server_default=""))
        batch.add_column(sa.Column("request_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("anchor_age_seconds", sa.BigInteger(), nullable=True))
    op.create_table(
        "audit_verify_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("requested_by_label", sa.String(400), nullable=False),
    )
    make_append_only("audit_verify_request")


def downgrade() -> None:
    drop_append_only("audit_verify_request")
    op.drop_table("audit_verify_request")
    with op.batch_alter_table("audit_verification", recreate="never") as batch:
        for name in ("anchor_age_seconds", "request_id", "trigger"):
            batch.drop_column(name)
    with op.batch_alter_table("access_entry", recreate="never") as batch:
        for column in reversed(ENTRY_COLUMNS):
            batch.drop_column(column.name)
