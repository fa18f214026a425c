"""conversation language, copied onto cases for the queue language filter

Revision ID: 0006_language
Revises: 0005_sealed_totp
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_language"
down_revision: str | None = "0005_sealed_totp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LANGUAGE_ORDER = ["state", "queue", "language", "priority", "first_reported_at", "id"]


def upgrade() -> None:
    # Plain ADD COLUMN with a default works in place on both backends (no table rebuild).
    op.add_column(
        "conversation", sa.Column("language", sa.String(35), nullable=False, server_default="")
    )
    op.add_column(
        "moderation_case", sa.Column("language", sa.String(8), nullable=False, server_default="")
    )
    op.create_index("ix_moderation_case_queue_language", "moderation_case", LANGUAGE_ORDER)


def downgrade() -> None:
    op.drop_index("ix_moderation_case_queue_language", table_name="moderation_case")
    with op.batch_alter_table("moderation_case") as batch:
        batch.drop_column("language")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("language")
