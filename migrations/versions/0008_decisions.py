"""decisions with grounds, facts and automation flags (statements of reasons), append-only

Revision ID: 0008_decisions
Revises: 0007_user_side
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_decisions"
down_revision: str | None = "0007_user_side"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (
    ("ground", sa.String(16), "no_violation"),
    ("legal_ground", sa.String(500), ""),
    ("terms_ground", sa.String(500), ""),
    ("explanation", sa.Text(), ""),
    ("facts", sa.Text(), ""),
    ("automated_detection", sa.Boolean(), sa.false()),
    ("automated_decision", sa.String(16), "not_automated"),
)


def upgrade() -> None:
    with op.batch_alter_table("case_decision") as batch:
        for name, kind, default in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        batch.add_column(sa.Column("restricted_until", sa.Date(), nullable=True))
        batch.add_column(sa.Column("supersedes_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_case_decision_supersedes", "case_decision", ["supersedes_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("case_decision") as batch:
        batch.drop_constraint("fk_case_decision_supersedes", type_="foreignkey")
        for name in ("supersedes_id", "restricted_until", *(c[0] for c in COLUMNS)):
            batch.drop_column(name)
