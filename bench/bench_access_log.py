"""Issue 4: access-log appends and verification, each next to a raw ceiling from the same run.

Appends: Vigil's record_access (ORM, lock, head read, canonical JSON, two hashes, insert,
commit per entry) against a bare loop doing the same lock, head read, SHA-256 and insert
with the driver alone. Verification: `audit verify`'s scan against a bare read + hash loop.
Run: python -m bench.bench_access_log [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.report import ratio, write_section

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get(
    "VIGIL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RAW_TABLE = (
    "CREATE TABLE bench_raw (seq BIGINT PRIMARY KEY, payload TEXT NOT NULL, "
    "prev_hash {blob} NOT NULL UNIQUE, leaf_hash {blob} NOT NULL, "
    "entry_hash {blob} NOT NULL UNIQUE)"
)
PAYLOAD = '{"action":"open","actor_id":1,"case_id":"c","reason_code":"QA_SAMPLE","seq":%d}'


def _app(url: str, instance: Path):
    from app import create_app

    return create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "ENV": "test"})


def _vigil_appends(engine, count: int, worker: str = "0") -> None:
    from audit.access_log import record_access
    from core.db import session_scope

    for i in range(count):
        with session_scope(engine) as session:
            record_access(
                session,
                actor=None,
                action="open",
                decision="allowed",
                reason_code="QA_SAMPLE",
                case_id=f"bench-{worker}",
                conversation_id=str(i),
                evidence_version=1,
            )


def _raw_step(cursor, placeholder: str, seq_sql: str, lock_sql: str | None) -> None:
    """One bare append: lock, read head, SHA-256 twice, insert (commit is the caller's)."""
    if lock_sql:
        cursor.execute(lock_sql)
    cursor.execute(seq_sql)
    head = cursor.fetchone()
    seq, prev = (0, bytes(32)) if head is None else (head[0] + 1, bytes(head[1]))
    payload = PAYLOAD % seq
    leaf = hashlib.sha256(b"\x00" + payload.encode()).digest()
    entry = hashlib.sha256(prev + leaf).digest()
    p = placeholder
    cursor.execute(
        f"INSERT INTO bench_raw VALUES ({p}, {p}, {p}, {p}, {p})", (seq, payload, prev, leaf, entry)
    )


HEAD_SQL = "SELECT seq, entry_hash FROM bench_raw ORDER BY seq DESC LIMIT 1"


def _sqlite_raw(path: Path, count: int) -> float:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
        conn.execute(f"PRAGMA {pragma}")
    conn.execute(RAW_TABLE.format(blob="BLOB"))
    cursor = conn.cursor()
    started = time.perf_counter()
    for _ in range(count):
        cursor.execute("BEGIN IMMEDIATE")
        _raw_step(cursor, "?", HEAD_SQL, None)
        cursor.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return count / elapsed


def bench_sqlite_appends(tmp: Path, count: int) -> tuple[float, float]:
    """(Vigil appends/s, raw appends/s) on SQLite, one client, synchronous=FULL."""
    from core import migrate

    app = _app(f"sqlite:///{tmp / 'appends.db'}", tmp / "instance")
    engine = app.extensions["vigil.engine"]
    migrate.upgrade(engine)
    _vigil_appends(engine, 20)  # warm caches and the statement cache
    started = time.perf_counter()
    _vigil_appends(engine, count)
    vigil = count / (time.perf_counter() - started)
    engine.dispose()
    return vigil, _sqlite_raw(tmp / "raw.db", count)


def _worker(mode: str, url: str, instance: str, worker: str, count: int) -> None:
    """Child process: wait for "go" on stdin, append `count` entries, print "done"."""
    if mode == "vigil":
        engine = _app(url, Path(instance)).extensions["vigil.engine"]
        _vigil_appends(engine, 5, worker)  # connect and warm up before the clock starts
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    print("ready", flush=True)
    sys.stdin.readline()
    if mode == "vigil":
        _vigil_appends(engine, count, worker)
    else:
        lock = "SELECT pg_advisory_xact_lock(1234567)"
        for _ in range(count):
            with conn.transaction():
                _raw_step(conn.cursor(), "%s", HEAD_SQL, lock)
    print("done", flush=True)


def _run_clients(mode: str, url: str, tmp: Path, clients: int, each: int) -> float:
    args = [sys.executable, "-m", "bench.bench_access_log", "--worker", mode, url]
    children = [
        subprocess.Popen(
            [*args, str(tmp / f"w{i}"), str(i), str(each)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(clients)
    ]
    for child in children:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("a benchmark client failed to start")
    started = time.perf_counter()
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    for child in children:
        child.stdout.readline()
        child.wait(timeout=600)
    return clients * each / (time.perf_counter() - started)


def _pg(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def bench_pg_appends(tmp: Path, clients: int, each: int) -> tuple[float, float] | None:
    """(Vigil appends/s, raw appends/s) on PostgreSQL with concurrent client processes."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from core import migrate

    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    try:
        _pg(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server here: say so in the report instead of failing
        print(f"PostgreSQL unavailable ({exc.__class__.__name__}); skipping", file=sys.stderr)
        return None
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    try:
        app = _app(url, tmp / "pg-instance")
        migrate.upgrade(app.extensions["vigil.engine"])
        app.extensions["vigil.engine"].dispose()
        vigil = _run_clients("vigil", url, tmp, clients, each)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(RAW_TABLE.format(blob="BYTEA")))
        engine.dispose()
        raw = _run_clients("raw", url, tmp, clients, each)
        return vigil, raw
    finally:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _fill(engine, count: int) -> None:
    """A valid chain of `count` entries, written in one bulk insert (fast set-up)."""
    from audit.access_log import ENTRY_FORMAT, entry_fields
    from audit.models import AccessEntry
    from audit.tlog.canonical import GENESIS, chain_hash, leaf_hash
    from core.db import session_scope
    from core.timeutil import utcnow

    prev, rows, now = GENESIS, [], utcnow()
    for seq in range(count):
        entry = AccessEntry(
            seq=seq, format=ENTRY_FORMAT, occurred_at=now, actor_id=seq % 7,
            actor_label=f"reviewer {seq % 7}", action="open", decision="allowed",
            reason_code="ASSIGNED_REVIEW", case_id=str(seq // 5), conversation_id=str(seq // 5),
            evidence_version=1, request_id="", client_address="", note_commitment="",
        )  # fmt: skip
        entry.prev_hash, entry.leaf_hash = prev, leaf_hash(entry_fields(entry))
        entry.entry_hash = prev = chain_hash(prev, entry.leaf_hash)
        rows.append({c.name: getattr(entry, c.name) for c in AccessEntry.__table__.columns})
    with session_scope(engine) as session:
        session.execute(AccessEntry.__table__.insert(), rows)


def bench_verify(tmp: Path, count: int) -> tuple[float, float, float]:
    """(verify entries/s, raw read+hash entries/s, checkpoint seconds) on SQLite."""
    from sqlmodel import Session

    from audit.checkpoints import tree_states
    from audit.verify import verify_log
    from core import migrate
    from core.db import read_only

    app = _app(f"sqlite:///{tmp / 'verify.db'}", tmp / "verify-instance")
    engine = app.extensions["vigil.engine"]
    migrate.upgrade(engine)
    _fill(engine, count)
    with Session(read_only(engine)) as session:
        started = time.perf_counter()
        report = verify_log(session, sources=[], keys={}, origin="bench")
        vigil = count / (time.perf_counter() - started)
        assert report.ok and report.size == count, report.problems[:3]
        started = time.perf_counter()
        tree_states(session)
        checkpoint_seconds = time.perf_counter() - started
    engine.dispose()
    conn = sqlite3.connect(tmp / "verify.db")
    started = time.perf_counter()
    for row in conn.execute("SELECT * FROM access_entry ORDER BY seq"):
        hashlib.sha256(repr(row[:-3]).encode()).digest()
        hashlib.sha256(row[-3] + row[-2]).digest()
    raw = count / (time.perf_counter() - started)
    conn.close()
    return vigil, raw, checkpoint_seconds


def run(quick: bool) -> str:
    """Measure and return the markdown section."""
    clients = 8
    sqlite_n, pg_each, verify_n = (300, 60, 20_000) if quick else (2000, 300, 200_000)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        sqlite_vigil, sqlite_raw = bench_sqlite_appends(tmp, sqlite_n)
        pg = bench_pg_appends(tmp, clients, pg_each)
        verify_vigil, verify_raw, checkpoint_s = bench_verify(tmp, verify_n)
    lines = [
        "## Access log: appends and verification (issue 4)",
        "",
        "Appends commit one entry per transaction (the fail-closed path). The raw ceiling",
        "does the same serialisation (BEGIN IMMEDIATE / pg_advisory_xact_lock), head read,",
        "two SHA-256 and insert with the bare driver: no ORM, no canonical JSON, no indexes",
        "or triggers. Verification reads every entry, rebuilds canonical JSON, leaf, chain",
        "and Merkle root; its raw ceiling reads the same rows and hashes each twice.",
        "",
        "| measurement | Vigil | raw ceiling | Vigil / raw |",
        "|---|---:|---:|---:|",
        f"| SQLite appends/s, 1 client, synchronous=FULL ({sqlite_n:,}) | {sqlite_vigil:,.0f} "
        f"| {sqlite_raw:,.0f} | {ratio(sqlite_vigil, sqlite_raw)} |",
    ]
    if pg is None:
        lines.append("| PostgreSQL appends/s | not measured: no server | | |")
    else:
        lines.append(
            f"| PostgreSQL appends/s, {clients} client processes x {pg_each} | {pg[0]:,.0f} "
            f"| {pg[1]:,.0f} | {ratio(pg[0], pg[1])} |"
        )
    lines += [
        f"| verification entries/s, SQLite ({verify_n:,} entries) | {verify_vigil:,.0f} "
        f"| {verify_raw:,.0f} | {ratio(verify_vigil, verify_raw)} |",
        "",
        f"Computing a checkpoint (size, root, chain head) over {verify_n:,} entries took "
        f"{checkpoint_s:.2f} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(*sys.argv[2:6], int(sys.argv[6]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI and make bench")
    args = parser.parse_args()
    section = run(args.quick)
    write_section("access_log", section)
    print(section)


if __name__ == "__main__":
    main()
