"""staff administration: one-time enrolment and reset links, role and policy requests (four-eyes), break-glass refusals

Revision ID: 0011_staff_admin
Revises: 0010_consequences
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_staff_admin"
down_revision: str | None = "0010_consequences"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user(name: str = "user_id") -> sa.Column:
    return sa.Column(name, sa.Integer(), sa.ForeignKey("user.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "account_invitation",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user(),
        sa.Column("purpose", sa.String(8), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=True),
        sa.Column("requested_by_label", sa.String(400), nullable=False),
        _utc("created_at"),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        _utc("approved_at", True),
        _utc("expires_at", True),
        _utc("used_at", True),
        sa.Column("used_from", sa.String(64), nullable=False),
        _utc("refused_at", True),
    )
    op.create_index("ix_account_invitation_user_id", "account_invitation", ["user_id"])
    op.create_index("ix_account_invitation_token_hash", "account_invitation", ["token_hash"])
    op.create_table(
        "role_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user(),
        sa.Column("role", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        _user("requested_by"),
        sa.Column("requested_by_label", sa.String(400), nullable=False),
        _utc("requested_at"),
        _utc("expires_at"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_by_label", sa.String(400), nullable=False),
        _utc("decided_at", True),
        sa.Column("decision_reason", sa.String(500), nullable=False),
    )
    op.create_index("ix_role_request_user_id", "role_request", ["user_id"])
    op.create_table(
        "policy_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("verb", sa.String(8), nullable=False),
        sa.Column("row", sa.String(400), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        _user("requested_by"),
        sa.Column("requested_by_label", sa.String(400), nullable=False),
        _utc("requested_at"),
        _utc("expires_at"),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by_label", sa.String(400), nullable=False),
        _utc("decided_at", True),
    )
    with op.batch_alter_table("break_glass_grant") as batch:
        batch.add_column(
            sa.Column("refusal_reason", sa.String(500), nullable=False, server_default="")
        )
    with op.batch_alter_table("review_preference") as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC")
        )


def downgrade() -> None:
    with op.batch_alter_table("review_preference") as batch:
        batch.drop_column("time_zone")
    with op.batch_alter_table("break_glass_grant") as batch:
        batch.drop_column("refusal_reason")
    op.drop_table("policy_request")
    op.drop_table("role_request")
    op.drop_table("account_invitation")
