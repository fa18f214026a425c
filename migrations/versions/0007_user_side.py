"""the user's side: plans and consent history, feedback, share links, deleted conversations

Revision ID: 0007_user_side
Revises: 0006_language
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_user_side"
down_revision: str | None = "0006_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("conversation", _utc("deleted_at", nullable=True))
    # Zero retention from now on: OCR text stored before this version goes (report
    # evidence, sealed elsewhere, keeps what a report froze).
    op.execute(
        "DELETE FROM message WHERE conversation_id IN "
        "(SELECT id FROM conversation WHERE product = 'ocr')"
    )
    op.create_table(
        "owner_privacy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True, unique=True),
        sa.Column("owner_ref", sa.String(128), nullable=True, unique=True),
        sa.Column("plan", sa.String(16), nullable=True),
        sa.Column("training_opt_out", sa.Boolean(), nullable=False),
        _utc("feedback_disclosed_at", nullable=True),
        sa.Column("feedback_disclosure", sa.String(16), nullable=False),
        _utc("updated_at"),
    )
    op.create_table(
        "consent_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("user.id"), nullable=True),
        sa.Column("owner_ref", sa.String(128), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("old_plan", sa.String(16), nullable=True),
        sa.Column("new_plan", sa.String(16), nullable=True),
        sa.Column("old_opt_out", sa.Boolean(), nullable=True),
        sa.Column("new_opt_out", sa.Boolean(), nullable=False),
        _utc("changed_at"),
    )
    op.create_index("ix_consent_change_user_id", "consent_change", ["user_id"])
    op.create_index("ix_consent_change_owner_ref", "consent_change", ["owner_ref"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversation.id"), nullable=False
        ),
        sa.Column("message_external_id", sa.String(128), nullable=False),
        sa.Column("rating", sa.String(8), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False),
        _utc("created_at"),
        sa.UniqueConstraint("conversation_id", "message_external_id"),
    )
    op.create_index("ix_feedback_conversation_id", "feedback", ["conversation_id"])
    op.create_table(
        "share_link",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversation.id"), nullable=False
        ),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("shown_name", sa.String(120), nullable=False),
        _utc("created_at"),
        _utc("expires_at", nullable=True),
        _utc("revoked_at", nullable=True),
        sa.Column("opens", sa.Integer(), nullable=False),
    )
    op.create_index("ix_share_link_conversation_id", "share_link", ["conversation_id"])


def downgrade() -> None:
    op.drop_table("share_link")
    op.drop_table("feedback")
    op.drop_table("consent_change")
    op.drop_table("owner_privacy")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("deleted_at")
