"""indexes the hot pages need at a million cases: the reporter's page (reports by
reporter, newest first) and the subject's history (conversations by the chat backend's
owner id)

Revision ID: 0013_scale_indexes
Revises: 0012_keyed_log
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013_scale_indexes"
down_revision: str | None = "0012_keyed_log"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_report_reporter_newest", "report", ["reporter_user_id", "created_at", "id"])
    op.create_index("ix_conversation_owner_ref", "conversation", ["owner_ref"])


def downgrade() -> None:
    op.drop_index("ix_conversation_owner_ref", "conversation")
    op.drop_index("ix_report_reporter_newest", "report")
