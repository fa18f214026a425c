"""reviewer workspace: claims, timeline, break-glass grants, decisions, preferences

Revision ID: 0004_review
Revises: 0003_access_log
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_review"
down_revision: str | None = "0003_access_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "case_claim",
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("moderation_case.id"), primary_key=True),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        _utc("claimed_at"),
        _utc("lease_until"),
    )
    op.create_index("ix_case_claim_reviewer_id", "case_claim", ["reviewer_id"])
    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("moderation_case.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_label", sa.String(400), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        _utc("occurred_at"),
    )
    op.create_index("ix_case_event_case_id", "case_event", ["case_id"])
    op.create_table(
        "break_glass_grant",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("moderation_case.id"), nullable=False),
        sa.Column("requester_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        _utc("requested_at"),
        sa.Column("approver_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        _utc("approved_at", True),
        _utc("expires_at", True),
    )
    op.create_index("ix_break_glass_grant_case_id", "break_glass_grant", ["case_id"])
    op.create_index("ix_break_glass_grant_requester_id", "break_glass_grant", ["requester_id"])
    op.create_table(
        "case_decision",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("moderation_case.id"), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("labels", sa.String(400), nullable=False),
        _utc("decided_at"),
    )
    op.create_index("ix_case_decision_case_id", "case_decision", ["case_id"])
    op.create_table(
        "review_preference",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), primary_key=True),
        sa.Column("blur", sa.Boolean(), nullable=False),
        sa.Column("greyscale", sa.Boolean(), nullable=False),
    )
    # Queue pages sort open cases by priority, then age, then id within one queue; the
    # header counts are capped range counts by age and by SLA deadline.
    op.drop_index("ix_moderation_case_queue_order", table_name="moderation_case")
    op.create_index(
        "ix_moderation_case_queue_order",
        "moderation_case",
        ["state", "queue", "priority", "first_reported_at", "id"],
    )
    op.create_index(
        "ix_moderation_case_queue_age", "moderation_case", ["state", "queue", "first_reported_at"]
    )
    op.create_index(
        "ix_moderation_case_queue_sla", "moderation_case", ["state", "queue", "sla_due_at"]
    )


def downgrade() -> None:
    for index in ("ix_moderation_case_queue_age", "ix_moderation_case_queue_sla"):
        op.drop_index(index, table_name="moderation_case")
    op.drop_index("ix_moderation_case_queue_order", table_name="moderation_case")
    op.create_index(
        "ix_moderation_case_queue_order", "moderation_case", ["state", "queue", "priority"]
    )
    for table in (
        "review_preference",
        "case_decision",
        "break_glass_grant",
        "case_event",
        "case_claim",
    ):
        op.drop_table(table)
