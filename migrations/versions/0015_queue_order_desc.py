"""queue-order indexes hold the page's own order (priority descending, then oldest, then
id), so a queue page reads its 50 entries instead of sorting a whole priority group

Revision ID: 0015_queue_order_desc
Revises: 0014_sealed_rows
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_queue_order_desc"
down_revision: str | None = "0014_sealed_rows"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_moderation_case_queue_order": ["state", "queue"],
    "ix_moderation_case_queue_language": ["state", "queue", "language"],
}


def _recreate(descending: bool) -> None:
    priority = sa.text("priority DESC") if descending else "priority"
    for name, leading in INDEXES.items():
        op.drop_index(name, table_name="moderation_case")
        columns = [*leading, priority, "first_reported_at", "id"]
        op.create_index(name, "moderation_case", columns)


def upgrade() -> None:
    _recreate(descending=True)


def downgrade() -> None:
    _recreate(descending=False)
