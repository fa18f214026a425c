"""Bulk seeding for scale tests and benchmarks: `flask --app app seed-bulk`.

Fills a database with real, consistent rows at the size of a large platform: accounts
(one in twenty holds a staff role), one conversation and one case per report (each case
with its own wrapped data key and sealed evidence that opens on the case page), reports
filed by those accounts, the training exclusion every reported conversation must have,
and a hash-chained, MAC'd access log that continues the existing chain and verifies.

Speed: worker processes make the rows chunk by chunk, ready to write (COPY text on
PostgreSQL, driver tuples on SQLite), including the AES-GCM work and the entries' leaf
hashes; the main process only chains the entries (the one sequential step), adds their
MACs and writes, all in one transaction: an interrupted run leaves nothing behind.
Text is harmless placeholders.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
from moderation.intake.sealing import (
    MasterKey,
    case_context,
    content_hash,
    evidence_aad,
    seal,
    wrap,
)
from privacy.models import Conversation, TrainingExclusion

CHUNK = 10_000
STAFF_EVERY = 20  # one account in twenty holds a staff role
STAFF_ROLES = ("reviewer:general", "reviewer:general", "qa", "auditor")
PASSWORD = "bulk seeded account 1"  # noqa: S105  (printed; every seeded account shares it)
HASH_COLUMNS = ("prev_hash", "leaf_hash", "entry_hash", "entry_mac")
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


@dataclass(frozen=True)
class _Plan:
    """Everything a worker needs to make any row by its index (picklable, no secrets
    beyond the evidence master key the workers wrap with)."""

    now: datetime
    tag: str
    u0: int
    c0: int
    e0: int
    r0: int
    users: int
    cases: int
    password_hash: str
    master: MasterKey
    plaintext: bytes
    digest: str
    actors: tuple[int | None, ...]
    seq0: int
    entry_start: datetime
    entry_step: timedelta
    pg: bool

    def owner(self, i: int) -> int | None:
        return self.u0 + (i * 7919) % self.users if self.users else None

    def reported_at(self, i: int) -> datetime:
        return self.now - timedelta(seconds=i * 3 % 2_592_000)


def _account(plan: _Plan, i: int) -> dict:
    return {
        "id": plan.u0 + i,
        "email": f"bulk-{plan.tag}-{i}@example.test",
        "display_name": f"Bulk account {i}",
        "password_hash": plan.password_hash,
        "session_token": secrets.token_urlsafe(24),
        "created_at": plan.now,
    }


def _conversation(plan: _Plan, i: int) -> dict:
    return {
        "id": plan.c0 + i,
        "public_ref": f"bk{plan.tag}{i:010d}",
        "external_id": f"bulk-{plan.tag}-{i}",
        "owner_id": plan.owner(i),
        "model_id": "bulk-model",
        "product": "chat",
        "title": "",
        "created_at": plan.now,
        "updated_at": plan.now,
    }


def _case(plan: _Plan, i: int) -> dict:
    reported, closed = plan.reported_at(i), i % 4 == 0
    return {
        "id": plan.c0 + i,
        "ref": f"VC-B{plan.tag}{i:08d}",
        "conversation_id": plan.c0 + i,
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


def _case_key(plan: _Plan, i: int, data_key: bytes) -> dict:
    case_id = plan.c0 + i
    return {
        "case_id": case_id,
        "wrapped": wrap(plan.master, data_key, context=case_context(case_id)),
        "key_id": plan.master.key_id,
        "created_at": plan.now,
    }


def _evidence(plan: _Plan, i: int, data_key: bytes) -> dict:
    case_id = plan.c0 + i
    return {
        "id": plan.e0 + i,
        "case_id": case_id,
        "version": 1,
        "content_hash": plan.digest,
        "message_count": 6,
        "sealed": seal(data_key, plan.plaintext, aad=evidence_aad(case_id, 1)),
        "created_at": plan.now,
    }


def _report(plan: _Plan, i: int) -> dict:
    reporter = plan.owner(i + 1)
    return {
        "id": plan.r0 + i,
        "ref": f"VR-B{plan.tag}{i:08d}",
        "case_id": plan.c0 + i,
        "conversation_id": plan.c0 + i,
        "evidence_version_id": plan.e0 + i,
        "channel": "web",
        "source_type": "user_notice",
        "category": "scam_fraud",
        "message_ids": '["m3"]',
        "reporter_key": f"user:{reporter}" if reporter else f"bulk:{i}",
        "reporter_user_id": reporter,
        "status": "received",
        "created_at": plan.reported_at(i),
    }


def _exclusion(plan: _Plan, i: int) -> dict:
    return {"conversation_id": plan.c0 + i, "reason": "reported"}


def _entry(plan: _Plan, i: int) -> dict:
    """An entry's fields (no hashes): looks by staff at seeded cases, one in 50 refused."""
    actor = plan.actors[i % len(plan.actors)]
    case = str(plan.c0 + (i * 104_729) % plan.cases) if plan.cases else ""
    denied = i % 50 == 0
    return {
        "format": ENTRY_FORMAT,
        "seq": plan.seq0 + i,
        "occurred_at": plan.entry_start + plan.entry_step * i,
        "actor_id": actor,
        "actor_label": f"Bulk account {actor} <bulk@example.test>",
        "action": "open",
        "decision": "denied" if denied else "allowed",
        "reason_code": "" if denied else "ASSIGNED_REVIEW",
        "case_id": case,
        "conversation_id": case,
        "evidence_version": None if denied else 1,
        "request_id": f"bulk-{i}",
        "client_address": "127.0.0.1",
        "note_commitment": "",
        "queue": "general",
        "message": None,
        "grant_id": "",
    }


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
# table -> row maker (`_sealed` makes case_key and evidence_version rows together)
_MAKERS = {
    "user": _account,
    "conversation": _conversation,
    "moderation_case": _case,
    "report": _report,
    "training_exclusion": _exclusion,
    "access_entry": _entry,
}


def _defaults(table_name: str) -> dict:
    """The scalar defaults the model declares (COPY and a driver insert apply none)."""
    model, table = _MODELS[table_name], _MODELS[table_name].__table__
    out = {}
    for name, field in model.model_fields.items():
        if name in table.c and field.default is not PydanticUndefined:
            if field.default is None and table.c[name].primary_key:
                continue  # the database numbers it
            out[name] = getattr(field.default, "value", field.default)  # enums as values
    return out


def _columns(table_name: str, plan: _Plan) -> list[str]:
    """The columns written, in order (an entry's hash columns come last)."""
    sample = _maker_row(table_name, plan, 0)
    names = list({**_defaults(table_name), **sample})
    if table_name != "access_entry":
        return names
    return [n for n in names if n not in HASH_COLUMNS] + list(HASH_COLUMNS)


def _maker_row(table_name: str, plan: _Plan, i: int) -> dict:
    if table_name == "case_key":
        return _case_key(plan, i, bytes(32))
    if table_name == "evidence_version":
        return _evidence(plan, i, bytes(32))
    return _MAKERS[table_name](plan, i)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    return value.translate(_COPY_ESCAPES)


# COPY text by exact type: the seeding's hottest loop, so one dict lookup per value.
_COPY_BY_TYPE: dict[type, Callable[[object], str]] = {
    str: _copy_text,
    int: str,
    bool: lambda value: "t" if value else "f",
    bytes: lambda value: "\\\\x" + value.hex(),
    datetime: lambda value: value.isoformat(sep=" "),
    type(None): lambda value: "\\N",
}


def _copy_value(value) -> str:
    """One value in PostgreSQL's COPY text format."""
    encode = _COPY_BY_TYPE.get(type(value))
    if encode is not None:
        return encode(value)
    return _copy_text(str(getattr(value, "value", value)))  # enums and the like


def _sqlite_value(value):
    """One value as SQLAlchemy stores it on SQLite (UTC wall-clock text, ints for bools)."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        return f"{value:%Y-%m-%d %H:%M:%S}.{value.microsecond:06d}"
    if value is True or value is False:
        return int(value)
    return getattr(value, "value", value)


_DEFAULTS: dict[str, dict] = {}


def _work(task: tuple) -> tuple:
    """A worker's chunk: (table, plan, columns, start, stop) -> encoded rows (+ leaf hashes)."""
    table_name, plan, names, start, stop = task
    indices = range(start, stop)
    if table_name == "sealed":
        keys, evidence = [], []
        key_defaults = _DEFAULTS.setdefault("case_key", _defaults("case_key"))
        evidence_defaults = _DEFAULTS.setdefault("evidence_version", _defaults("evidence_version"))
        for i in indices:
            data_key = secrets.token_bytes(32)
            keys.append({**key_defaults, **_case_key(plan, i, data_key)})
            evidence.append({**evidence_defaults, **_evidence(plan, i, data_key)})
        key_names, evidence_names = names
        return (_rows(plan, key_names, keys), _rows(plan, evidence_names, evidence))
    defaults = _DEFAULTS.setdefault(table_name, _defaults(table_name))
    rows = [{**defaults, **_MAKERS[table_name](plan, i)} for i in indices]
    if table_name != "access_entry":
        return (_rows(plan, names, rows),)
    for row in rows:
        row.pop("entry_mac", None)  # the main process adds the hashes and the MAC
    leaves = [leaf_hash(entry_fields(SimpleNamespace(**row))) for row in rows]
    return (_rows(plan, names[: -len(HASH_COLUMNS)], rows), leaves)


def _rows(plan: _Plan, names: list[str], rows: list[dict]) -> list:
    if plan.pg:
        return ["\t".join(_copy_value(row.get(n)) for n in names) for row in rows]
    return [tuple(_sqlite_value(row.get(n)) for n in names) for row in rows]


class _Writer:
    """Writes encoded rows on the transaction's own driver connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pg = conn.dialect.name == "postgresql"
        self.quote = conn.dialect.identifier_preparer.quote

    def write(self, table_name: str, names: list[str], rows: list) -> None:
        if not rows:
            return
        columns = ", ".join(self.quote(n) for n in names)
        driver = self.conn.connection.driver_connection
        if self.pg:
            sql = f"COPY {self.quote(table_name)} ({columns}) FROM STDIN"
            with driver.cursor() as cursor, cursor.copy(sql) as copy:
                copy.write("\n".join(rows) + "\n")
        else:
            marks = ", ".join("?" * len(names))
            sql = f"INSERT INTO {self.quote(table_name)} ({columns}) VALUES ({marks})"  # noqa: S608  (names from the models)  # nosec B608
            driver.executemany(sql, rows)

    @contextmanager
    def indexes_rebuilt(self, table_name: str, progress: Progress, *, large: bool):
        """Drop the table's secondary indexes and unique constraints, and build them again
        afterwards from their own definitions (PostgreSQL, large writes): one sorted build
        is several times cheaper than millions of random inserts into the hash columns'
        B-trees. DDL is transactional, so an interrupted run still leaves nothing behind,
        and the rebuilt unique constraints check every row, the seeded ones included."""
        if not (self.pg and large):
            yield
            return
        found = self.conn.execute(_SECONDARY_INDEXES, {"table": table_name}).all()
        table = self.quote(table_name)
        for name, constraint, _ in found:
            if constraint:
                self.conn.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT {self.quote(name)}"))
            else:
                self.conn.execute(text(f"DROP INDEX {self.quote(name)}"))
        yield
        with progress(f"indexes of {table_name}", len(found)) as bar:
            self.conn.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
            for name, constraint, definition in found:
                if constraint:
                    statement = (
                        f"ALTER TABLE {table} ADD CONSTRAINT {self.quote(name)} {definition}"
                    )
                else:
                    statement = definition
                self.conn.execute(text(statement))
                bar.update(1)

    def reset_sequences(self, *tables: Table) -> None:
        if not self.pg:
            return  # SQLite continues after the largest rowid by itself
        for table in tables:  # the name is an identifier: quoted, and sent as a parameter
            sequence = func.pg_get_serial_sequence(self.quote(table.name), "id")
            largest = select(func.max(table.c.id)).scalar_subquery()
            self.conn.execute(select(func.setval(sequence, largest)))


# A table's indexes other than its primary key: (name, constraint?, definition), where the
# definition is what PostgreSQL itself prints (pg_get_constraintdef / pg_get_indexdef).
_SECONDARY_INDEXES = text(
    """
    SELECT i.relname,
           c.conname IS NOT NULL,
           COALESCE(pg_get_constraintdef(c.oid), pg_get_indexdef(i.oid))
      FROM pg_index x
      JOIN pg_class i ON i.oid = x.indexrelid
      JOIN pg_class t ON t.oid = x.indrelid
      LEFT JOIN pg_constraint c ON c.conindid = x.indexrelid AND c.conrelid = t.oid
     WHERE t.relname = :table AND t.relnamespace = current_schema()::regnamespace
       AND NOT x.indisprimary
     ORDER BY i.relname
    """
)


def _tasks(table_name: str, plan: _Plan, names, total: int) -> Iterator[tuple]:
    for start in range(0, total, CHUNK):
        yield (table_name, plan, names, start, min(total, start + CHUNK))


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


def _next_id(conn: Connection, table: Table, column: str = "id") -> int:
    return (conn.execute(select(func.max(table.c[column]))).scalar() or 0) + 1


def _log_head(
    conn: Connection, now: datetime, entries: int
) -> tuple[int, bytes, datetime, timedelta]:
    table = AccessEntry.__table__
    head = conn.execute(
        select(table.c.seq, table.c.entry_hash, table.c.occurred_at)
        .order_by(table.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev = (0, GENESIS) if head is None else (head[0] + 1, bytes(head[1]))
    start = now - timedelta(days=30)  # seeded looks spread over the last 30 days
    if head is not None:
        last = head[2] if head[2].tzinfo else head[2].replace(tzinfo=UTC)
        start = max(start, last)  # times follow the sequence
    step = max((now - start) / max(entries, 1), timedelta(microseconds=1))
    return seq, prev, start, step


def seed_bulk(
    engine: Engine,
    *,
    ring: KeyRing,
    users: int,
    cases: int,
    entries: int,
    progress: Progress,
    now: datetime | None = None,
    workers: int | None = None,
) -> Seeded:
    """Add `users` accounts, `cases` reported cases and `entries` access-log entries."""
    now = now or datetime.now(UTC)
    plaintext = _evidence_plaintext()
    with engine.begin() as conn:
        writer = _Writer(conn)
        if writer.pg:  # the same lock every append takes: the chain continues from its head
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK_KEY})
        u0 = _next_id(conn, User.__table__)
        staff = tuple(u0 + i for i in range(0, users, STAFF_EVERY))
        seq0, prev, entry_start, entry_step = _log_head(conn, now, entries)
        plan = _Plan(
            now=now,
            tag=secrets.token_hex(2),  # refs stay unique across runs: 16 characters at most
            u0=u0,
            c0=max(_next_id(conn, Conversation.__table__), _next_id(conn, Case.__table__)),
            e0=_next_id(conn, EvidenceVersion.__table__),
            r0=_next_id(conn, Report.__table__),
            users=users,
            cases=cases,
            password_hash=hash_password(PASSWORD),
            master=evidence_keys(ring).current,
            plaintext=plaintext,
            digest=content_hash(plaintext),
            actors=staff or (None,),
            seq0=seq0,
            entry_start=entry_start,
            entry_step=entry_step,
            pg=writer.pg,
        )
        context = multiprocessing.get_context("fork")
        with context.Pool(workers or os.cpu_count() or 1) as pool:

            def run(label: str, table_name: str, total: int) -> None:
                names = _columns(table_name, plan)
                with progress(label, total) as bar:
                    for (rows,) in pool.imap(_work, _tasks(table_name, plan, names, total)):
                        writer.write(table_name, names, rows)
                        bar.update(len(rows))

            run("accounts", "user", users)
            _grant_staff(conn, writer, staff)
            run("conversations", "conversation", cases)
            run("cases", "moderation_case", cases)
            names = (_columns("case_key", plan), _columns("evidence_version", plan))
            with progress("data keys and sealed evidence", cases) as bar:
                for keys, evidence in pool.imap(_work, _tasks("sealed", plan, names, cases)):
                    writer.write("case_key", names[0], keys)
                    writer.write("evidence_version", names[1], evidence)
                    bar.update(len(keys))
            run("reports", "report", cases)
            run("training exclusions", "training_exclusion", cases)
            with writer.indexes_rebuilt("access_entry", progress, large=entries > CHUNK):
                _write_entries(pool, writer, plan, ring.entry_mac, prev, entries, progress)
        writer.reset_sequences(
            User.__table__,
            PolicyRule.__table__,
            Conversation.__table__,
            Case.__table__,
            EvidenceVersion.__table__,
            Report.__table__,
        )
    with engine.connect() as conn:  # fresh statistics, or the planner guesses at size
        conn.execute(text("ANALYZE"))
        conn.commit()
    return Seeded(users, len(staff), cases, entries, u0, plan.c0)


def _grant_staff(conn: Connection, writer: _Writer, staff: tuple[int, ...]) -> None:
    rows = [
        {"ptype": "g", "v0": f"user:{uid}", "v1": STAFF_ROLES[n % len(STAFF_ROLES)]}
        for n, uid in enumerate(staff)
    ]
    if rows:
        conn.execute(PolicyRule.__table__.insert(), rows)
    with Session(bind=conn) as session:  # one journal event, and every process reloads
        note_bulk_grants(session, count=len(staff), reason="seed-bulk (scale data)")
        session.flush()


def _write_entries(pool, writer, plan, key, prev, entries, progress) -> None:
    """The one sequential step: chain the workers' leaf hashes, MAC each entry, write."""
    names = _columns("access_entry", plan)
    with progress("access-log entries", entries) as bar:
        for rows, leaves in pool.imap(_work, _tasks("access_entry", plan, names, entries)):
            chained = []
            if plan.pg:  # each hash is encoded once: an entry's hash is the next one's prev
                prev_text = _copy_value(prev)
                for row, leaf in zip(rows, leaves, strict=True):
                    entry_hash = chain_hash(prev, leaf)
                    entry_text = _copy_value(entry_hash)
                    mac = entry_mac(key, entry_hash)
                    hashes = (prev_text, _copy_value(leaf), entry_text, _copy_value(mac))
                    chained.append(row + "\t" + "\t".join(hashes))
                    prev, prev_text = entry_hash, entry_text
            else:
                for row, leaf in zip(rows, leaves, strict=True):
                    entry_hash = chain_hash(prev, leaf)
                    chained.append((*row, prev, leaf, entry_hash, entry_mac(key, entry_hash)))
                    prev = entry_hash
            writer.write("access_entry", names, chained)
            bar.update(len(rows))
