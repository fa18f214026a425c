"""seal TOTP secrets at rest: the column holds ciphertext (core.sealed_text)

Revision ID: 0005_sealed_totp
Revises: 0004_review
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sealed_totp"
down_revision: str | None = "0004_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing plaintext secrets (none before this release) would have to be re-enrolled.
    with op.batch_alter_table("user") as batch:
        batch.alter_column("totp_secret", type_=sa.Text(), existing_nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.alter_column("totp_secret", type_=sa.String(64), existing_nullable=True)
