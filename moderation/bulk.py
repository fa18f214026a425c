"""Bulk seeding for scale tests and benchmarks: `flask --app app seed-bulk`.

Fills a database with real, consistent rows at the size of a large platform: accounts
(one in twenty holds a staff role), one conversation and one case per report (each case
with its own wrapped data key and sealed evidence that opens on the case page), reports
filed by those accounts, the training exclusion every reported conversation must have,
and a hash-chained, MAC'd access log that continues the existing chain and verifies.
Rows are written with COPY on PostgreSQL and executemany on SQLite, in chunks inside one
transaction: an interrupted run leaves nothing behind. Text is harmless placeholders.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from types import SimpleNamespace

from pydantic_core import PydanticUndefined
from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from access_control.models import PolicyRule, User
from access_control.passwords import hash_password
from access_control.policy import note_bulk_grants
from audit.access_log import APPEND_LOCK_KEY, ENTRY_FORMAT, entry_fields, entry_mac
from audit.models import AccessEntry
from audit.tlog.canonical import GENESIS, chain_hash, leaf_hash
from core.keys import KeyRing
from moderation.intake.evidence import canonical_bytes, evidence_keys, snapshot
from moderation.intake.models import Case, CaseKey, EvidenceVersion, Report
from moderation.intake.sealing import case_context, content_hash, evidence_aad, seal, wrap
from privacy.models import Conversation, TrainingExclusion

CHUNK = 20_000
STAFF_EVERY = 20  # one account in twenty holds a staff role
STAFF_ROLES = ("reviewer:general", "reviewer:general", "qa", "auditor")
PASSWORD = "bulk seeded account 1"  # noqa: S105  (printed; every seeded account shares it)
# The progress reporter: called with a label and a total, returns a context manager whose
# value has update(n) (click.progressbar fits).
Progress = Callable[[str, int], AbstractContextManager]


@dataclass(frozen=True)
class Seeded:
    users: int
    staff: int
    cases: int
    entries: int
    first_user_id: int
    first_case_id: int


def _chunks(rows: Iterable, size: int = CHUNK) -> Iterator[list]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def _next_id(conn: Connection, table: Table, column: str = "id") -> int:
    return (conn.execute(select(func.max(table.c[column]))).scalar() or 0) + 1


def _defaults(table: Table) -> dict:
    """The scalar defaults the model declares for `table` (COPY and Core apply none)."""
    model = _MODELS[table.name]
    out = {}
    for name, field in model.model_fields.items():
        if name in table.c and field.default is not PydanticUndefined:
            if field.default is None and table.c[name].primary_key:
                continue  # the database numbers it
            out[name] = getattr(field.default, "value", field.default)  # enums as values
    return out


_MODELS = {
    model.__table__.name: model
    for model in (
        User,
        PolicyRule,
        Conversation,
        Case,
        CaseKey,
        EvidenceVersion,
        Report,
        TrainingExclusion,
        AccessEntry,
    )
}


class _Writer:
    """Writes row dicts to a table: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, conn: Connection, progress: Progress) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.progress = progress

    def write(self, label: str, table: Table, total: int, rows: Iterable[dict]) -> None:
        with self.progress(label, total) as bar:
            defaults = _defaults(table)
            for chunk in _chunks(rows):
                chunk = [{**defaults, **row} for row in chunk]
                if self.pg:
                    self._copy(table, chunk)
                else:
                    self.conn.execute(table.insert(), chunk)
                bar.update(len(chunk))

    def _copy(self, table: Table, chunk: list[dict]) -> None:
        names = list(chunk[0])
        quote = self.conn.dialect.identifier_preparer.quote
        sql = f"COPY {quote(table.name)} ({', '.join(quote(n) for n in names)}) FROM STDIN"
        with self.conn.connection.driver_connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in chunk:
                copy.write_row([row[n] for n in names])

    def reset_sequences(self, *tables: Table) -> None:
        if not self.pg:
            return  # SQLite continues after the largest rowid by itself
        quote = self.conn.dialect.identifier_preparer.quote  # the argument is an identifier
        for table in tables:
            sequence = func.pg_get_serial_sequence(quote(table.name), "id")
            largest = select(func.max(table.c.id)).scalar_subquery()
            self.conn.execute(select(func.setval(sequence, largest)))


def _evidence_plaintext() -> bytes:
    document = snapshot(
        conversation={"id": "bulk", "model_id": "bulk-model", "product": "chat", "title": ""},
        messages=[
            {
                "id": f"m{i}",
                "role": "user" if i % 2 == 0 else "assistant",
                "text": f"message {i + 1}: [simulated scam message]",
                "created_at": "2026-01-05T09:00:00+00:00",
                "attachment": None,
            }
            for i in range(6)
        ],
    )
    return canonical_bytes(document)


def seed_bulk(
    engine: Engine,
    *,
    ring: KeyRing,
    users: int,
    cases: int,
    entries: int,
    progress: Progress,
    now: datetime | None = None,
) -> Seeded:
    """Add `users` accounts, `cases` reported cases and `entries` access-log entries."""
    now = now or datetime.now(UTC)
    keys = evidence_keys(ring)
    password_hash = hash_password(PASSWORD)
    plaintext = _evidence_plaintext()
    digest = content_hash(plaintext)
    user_t, rule_t = User.__table__, PolicyRule.__table__
    conv_t, case_t, key_t = Conversation.__table__, Case.__table__, CaseKey.__table__
    evidence_t, report_t = EvidenceVersion.__table__, Report.__table__
    exclusion_t = TrainingExclusion.__table__
    with engine.begin() as conn:
        writer = _Writer(conn, progress)
        if writer.pg:  # the same lock every append takes: the chain continues from its head
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
        u0 = _next_id(conn, user_t)
        c0 = max(_next_id(conn, conv_t), _next_id(conn, case_t))
        e0, r0 = _next_id(conn, evidence_t), _next_id(conn, report_t)
        tag = secrets.token_hex(2)  # refs stay unique across runs: 16 characters at most

        writer.write(
            "accounts",
            user_t,
            users,
            (
                {
                    "id": u0 + i,
                    "email": f"bulk-{tag}-{i}@example.test",
                    "display_name": f"Bulk account {i}",
                    "password_hash": password_hash,
                    "session_token": secrets.token_urlsafe(24),
                    "created_at": now,
                }
                for i in range(users)
            ),
        )
        staff = [u0 + i for i in range(0, users, STAFF_EVERY)]
        writer.write(
            "staff roles",
            rule_t,
            len(staff),
            (
                {"ptype": "g", "v0": f"user:{uid}", "v1": STAFF_ROLES[n % len(STAFF_ROLES)]}
                for n, uid in enumerate(staff)
            ),
        )

        with Session(bind=conn) as session:  # one journal event, and every process reloads
            note_bulk_grants(session, count=len(staff), reason="seed-bulk (scale data)")
            session.flush()

        def owner(i: int) -> int | None:
            return u0 + (i * 7919) % users if users else None

        writer.write(
            "conversations",
            conv_t,
            cases,
            (
                {
                    "id": c0 + i,
                    "public_ref": f"bk{tag}{i:010d}",
                    "external_id": f"bulk-{tag}-{i}",
                    "owner_id": owner(i),
                    "model_id": "bulk-model",
                    "product": "chat",
                    "title": "",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(cases)
            ),
        )

        def case_row(i: int) -> dict:
            reported = now - timedelta(seconds=i * 3 % 2_592_000)
            closed = i % 4 == 0
            return {
                "id": c0 + i,
                "ref": f"VC-B{tag}{i:08d}",
                "conversation_id": c0 + i,
                "state": "closed" if closed else "open",
                "queue": "general",
                "category": "scam_fraud",
                "severity": 2,
                "report_count": 1,
                "distinct_reporters": 1,
                "channels": "web",
                "source_types": "user_notice",
                "priority": 200 + i % 300,
                "evidence_version": 1,
                "first_reported_at": reported,
                "last_reported_at": reported,
                "sla_due_at": reported + timedelta(hours=24),
                "created_at": reported,
                "closed_at": reported + timedelta(hours=1) if closed else None,
            }

        writer.write("cases", case_t, cases, (case_row(i) for i in range(cases)))

        def sealed(i: int) -> tuple[dict, dict]:
            case_id, data_key = c0 + i, secrets.token_bytes(32)
            key_row = {
                "case_id": case_id,
                "wrapped": wrap(keys.current, data_key, context=case_context(case_id)),
                "key_id": keys.current.key_id,
                "created_at": now,
            }
            evidence_row = {
                "id": e0 + i,
                "case_id": case_id,
                "version": 1,
                "content_hash": digest,
                "message_count": 6,
                "sealed": seal(data_key, plaintext, aad=evidence_aad(case_id, 1)),
                "created_at": now,
            }
            return key_row, evidence_row

        with progress("data keys and sealed evidence", cases) as bar:
            for chunk in _chunks(range(cases)):
                pairs = [sealed(i) for i in chunk]
                _write_now(writer, key_t, [p[0] for p in pairs])
                _write_now(writer, evidence_t, [p[1] for p in pairs])
                bar.update(len(chunk))

        writer.write(
            "reports",
            report_t,
            cases,
            (
                {
                    "id": r0 + i,
                    "ref": f"VR-B{tag}{i:08d}",
                    "case_id": c0 + i,
                    "conversation_id": c0 + i,
                    "evidence_version_id": e0 + i,
                    "channel": "web",
                    "source_type": "user_notice",
                    "category": "scam_fraud",
                    "message_ids": '["m3"]',
                    "reporter_key": f"user:{owner(i + 1)}" if users else f"bulk:{i}",
                    "reporter_user_id": owner(i + 1),
                    "status": "received",
                    "created_at": now - timedelta(seconds=i * 3 % 2_592_000),
                }
                for i in range(cases)
            ),
        )
        writer.write(
            "training exclusions",
            exclusion_t,
            cases,
            ({"conversation_id": c0 + i, "reason": "reported"} for i in range(cases)),
        )
        written = _seed_entries(conn, writer, ring, staff, c0, cases, entries, now)
        writer.reset_sequences(user_t, rule_t, conv_t, case_t, evidence_t, report_t)
    with engine.connect() as conn:  # fresh statistics, or the planner guesses at size
        conn.execute(text("ANALYZE"))
        conn.commit()
    return Seeded(users, len(staff), cases, written, u0, c0)


def _write_now(writer: _Writer, table: Table, rows: list[dict]) -> None:
    defaults = _defaults(table)
    rows = [{**defaults, **row} for row in rows]
    if writer.pg:
        writer._copy(table, rows)
    else:
        writer.conn.execute(table.insert(), rows)


def _seed_entries(
    conn: Connection,
    writer: _Writer,
    ring: KeyRing,
    staff: list[int],
    c0: int,
    cases: int,
    entries: int,
    now: datetime,
) -> int:
    """Append `entries` looks by staff at seeded cases, continuing the chain from its head."""
    if not entries:
        return 0
    table = AccessEntry.__table__
    head = conn.execute(
        select(table.c.seq, table.c.entry_hash, table.c.occurred_at)
        .order_by(table.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (0, GENESIS) if head is None else (head[0] + 1, bytes(head[1]))
    start = now - timedelta(days=30)
    if head is not None and head[2] is not None:
        last = head[2] if head[2].tzinfo else head[2].replace(tzinfo=UTC)
        start = max(start, last)
    step = max((now - start) / entries, timedelta(microseconds=1))
    key, actors = ring.entry_mac, staff or [None]

    def rows() -> Iterator[dict]:
        nonlocal seq, prev
        for i in range(entries):
            actor = actors[i % len(actors)]
            case = c0 + (i * 104_729) % cases if cases else None
            denied = i % 50 == 0
            row = {
                "format": ENTRY_FORMAT,
                "seq": seq,
                "occurred_at": start + step * i,
                "actor_id": actor,
                "actor_label": f"Bulk account {actor} <bulk@example.test>",
                "action": "open",
                "decision": "denied" if denied else "allowed",
                "reason_code": "" if denied else "ASSIGNED_REVIEW",
                "case_id": "" if case is None else str(case),
                "conversation_id": "" if case is None else str(case),
                "evidence_version": None if denied else 1,
                "request_id": f"bulk-{i}",
                "client_address": "127.0.0.1",
                "note_commitment": "",
                "queue": "general",
                "message": None,
                "grant_id": "",
            }
            entry = SimpleNamespace(**row)
            row["prev_hash"] = prev
            row["leaf_hash"] = leaf_hash(entry_fields(entry))
            row["entry_hash"] = prev = chain_hash(prev, row["leaf_hash"])
            row["entry_mac"] = entry_mac(key, prev)
            seq += 1
            yield row

    writer.write("access-log entries", table, entries, rows())
    return entries
