"""sealed values bound to their row; titles, attachment names, break-glass reasons and
case-event notes sealed too

Revision ID: 0014_sealed_rows
Revises: 0013_scale_indexes

Every sealed value ("v1", one fixed associated data) is re-sealed as "v2", bound to its
table, column and primary key (core.sealed_text.row_aad); the four plaintext columns are
sealed the same way (and become Text: ciphertext is longer than the old limits, which the
forms and the API still enforce). Runs with the app's keys (`flask --app app db upgrade`):
a database with rows to seal and no keys on the engine stops here, changing nothing.
case_event stays append-only, except that its typed text may now be re-sealed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.sealed_text import (
    LEGACY_AAD,
    LEGACY_PREFIX,
    SealBroken,
    open_value,
    row_aad,
    seal,
    store_keys,
)

revision: str = "0014_sealed_rows"
down_revision: str | None = "0013_scale_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Sealed since earlier revisions (v1 -> v2), and stored in the clear until now.
RESEALED = (
    ("user", "totp_secret"),
    ("message", "text"),
    ("feedback", "comment"),
    ("share_link", "snapshot"),
    ("appeal", "statement"),
    ("webhook_endpoint", "secret"),
)
NEWLY_SEALED = (
    ("conversation", "title", sa.String(200)),
    ("message", "attachment_name", sa.String(255)),
    ("break_glass_grant", "reason", sa.String(1000)),
    ("case_event", "detail", None),  # already Text
)


def _rewrite(table: str, column: str, change, batch: int = 1000) -> None:
    """Apply change(keys, table, column, id, stored) to every non-empty value, in batches."""
    bind = op.get_bind()
    t = sa.table(table, sa.column("id", sa.Integer()), sa.column(column, sa.Text()))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(t.c.id, t.c[column])
            .where(t.c.id > last, t.c[column].is_not(None), t.c[column] != "")
            .order_by(t.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        keys = store_keys(bind.dialect)  # SealBroken: run through `flask --app app db upgrade`
        changed = []
        for row_id, old in rows:
            try:
                changed.append({"row_id": row_id, "new": change(keys, table, column, row_id, old)})
            except SealBroken as exc:  # a missing old key, or a tampered row: stop, change nothing
                raise SealBroken(f"{table}.{column} of row {row_id}: {exc}") from exc
        bind.execute(
            t.update()
            .where(t.c.id == sa.bindparam("row_id"))
            .values({column: sa.bindparam("new")}),
            changed,
        )
        last = rows[-1][0]


def _v1_to_v2(keys, table, column, row_id, old):
    plain = open_value(keys, old, aad=LEGACY_AAD, prefix=LEGACY_PREFIX)
    return seal(keys, plain, aad=row_aad(table, column, row_id))


def _v2_to_v1(keys, table, column, row_id, old):
    plain = open_value(keys, old, aad=row_aad(table, column, row_id))
    return seal(keys, plain, aad=LEGACY_AAD, prefix=LEGACY_PREFIX)


def _plain_to_v2(keys, table, column, row_id, old):
    return seal(keys, old, aad=row_aad(table, column, row_id))


def _v2_to_plain(keys, table, column, row_id, old):
    return open_value(keys, old, aad=row_aad(table, column, row_id))


def _case_event_trigger(detail_may_change: bool) -> None:
    """case_event stays append-only (who, what, when never change); its typed text may be
    blanked by a purge and, from this revision, re-sealed (key rotation, this migration).
    A writer without the keys can blank a note or break it (it then reads as withheld),
    never write one that opens."""
    columns = ("id", "case_id", "kind", "actor_id", "actor_label", "occurred_at")
    if op.get_bind().dialect.name == "sqlite":
        changed = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in columns)
        extra = "" if detail_may_change else " OR NEW.detail <> ''"
        op.execute("DROP TRIGGER IF EXISTS case_event_no_update")
        op.execute(
            "CREATE TRIGGER case_event_no_update BEFORE UPDATE ON case_event "
            f"WHEN {changed}{extra} "
            "BEGIN SELECT RAISE(ABORT, 'case_event is append-only'); END"
        )
        return
    blank = "TRUE" if detail_may_change else "NEW.detail = ''"
    new, old = ", ".join(f"NEW.{c}" for c in columns), ", ".join(f"OLD.{c}" for c in columns)
    op.execute(
        f"""CREATE OR REPLACE FUNCTION case_event_reject_change() RETURNS trigger AS $$
        BEGIN
          IF TG_OP = 'UPDATE' AND {blank}
             AND ({new}) IS NOT DISTINCT FROM ({old})
          THEN RETURN NEW; END IF;
          RAISE EXCEPTION 'case_event is append-only';
        END $$ LANGUAGE plpgsql"""
    )


def _retype(table: str, column: str, old_type, new_type) -> None:
    """Change a column's type. On SQLite without copying the table (a batch copy drops it,
    which its children's foreign keys refuse): add, copy, drop, rename."""
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(table, column, type_=new_type, existing_type=old_type)
        return
    quoted = f'"{table}"'
    nullable = next(c for c in sa.inspect(op.get_bind()).get_columns(table) if c["name"] == column)[
        "nullable"
    ]
    ddl = new_type.compile(dialect=op.get_bind().dialect)
    op.execute(
        f"ALTER TABLE {quoted} ADD COLUMN {column}_new {ddl}"
        + ("" if nullable else " NOT NULL DEFAULT ''")
    )
    op.execute(f"UPDATE {quoted} SET {column}_new = {column}")  # noqa: S608 (our own names)  # nosec B608
    op.execute(f"ALTER TABLE {quoted} DROP COLUMN {column}")
    op.execute(f"ALTER TABLE {quoted} RENAME COLUMN {column}_new TO {column}")


def upgrade() -> None:
    for table, column, old_type in NEWLY_SEALED:
        if old_type is not None:
            _retype(table, column, old_type, sa.Text())
    _case_event_trigger(detail_may_change=True)
    for table, column in RESEALED:
        _rewrite(table, column, _v1_to_v2)
    for table, column, _ in NEWLY_SEALED:
        _rewrite(table, column, _plain_to_v2)


def downgrade() -> None:
    for table, column, _ in NEWLY_SEALED:
        _rewrite(table, column, _v2_to_plain)
    _case_event_trigger(detail_may_change=False)
    for table, column in RESEALED:
        _rewrite(table, column, _v2_to_v1)
    for table, column, old_type in NEWLY_SEALED:
        if old_type is not None:
            _retype(table, column, sa.Text(), old_type)
