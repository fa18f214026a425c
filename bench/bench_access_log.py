"""Issues 4 and 12: access-log appends and verification, each next to baselines from the same run.

Appends: Vigil's record_access (ORM, lock, head read, canonical JSON, two hashes, entry MAC,
insert, commit per entry), the same path with the MAC step replaced by a constant (a
bench-only monkeypatch of `audit.access_log.entry_mac`; production has no such mode), and
a raw ceiling doing the same lock, head read, SHA-256, HMAC and insert with the driver
alone. Verification: `verify_log` (every MAC checked) against a bare Core read + hash +
HMAC loop. Plus the per-call cost of HMAC-SHA256 and of Ed25519 sign/verify.
Run: python -m bench.bench_access_log [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from contextlib import contextmanager
from datetime import timedelta
from operator import itemgetter
from pathlib import Path

from bench.report import figure, ratio, write_section

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get(
    "VIGIL_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# One fixed key for every writer and the verifier (each bench process has its own
# instance directory, hence its own generated key; the MAC must verify across them).
MAC_KEY = hashlib.sha256(b"vigil bench entry MAC key").digest()
NO_MAC = bytes(32)  # what the MAC-skipped variant stores instead
RAW_TABLE = (
    "CREATE TABLE bench_raw (seq BIGINT PRIMARY KEY, payload TEXT NOT NULL, "
    "prev_hash {blob} NOT NULL UNIQUE, leaf_hash {blob} NOT NULL, "
    "entry_hash {blob} NOT NULL UNIQUE, entry_mac {blob} NOT NULL)"
)
PAYLOAD = '{"action":"open","actor_id":1,"case_id":"c","reason_code":"QA_SAMPLE","seq":%d}'
HEAD_SQL = "SELECT seq, entry_hash FROM bench_raw ORDER BY seq DESC LIMIT 1"
PG_LOCK_SQL = "SELECT pg_advisory_xact_lock(1234567)"
# Append variants, in the order of the report's columns.
MODES = ("mac", "nomac", "raw")


def _app(url: str, instance: Path):
    from app import create_app

    return create_app({"DATABASE_URL": url, "INSTANCE_PATH": str(instance), "ENV": "test"})


@contextmanager
def _mac_skipped():
    """Bench only: the same append path, its MAC step replaced by a constant."""
    from audit import access_log

    original = access_log.entry_mac
    access_log.entry_mac = lambda _key, _entry_hash: NO_MAC
    try:
        yield
    finally:
        access_log.entry_mac = original


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
                mac_key=MAC_KEY,
            )


RAW_INSERT = "INSERT INTO bench_raw VALUES ({p}, {p}, {p}, {p}, {p}, {p})"
RAW_INSERT_PG, RAW_INSERT_SQLITE = RAW_INSERT.format(p="%s"), RAW_INSERT.format(p="?")


def _raw_step(cursor, insert_sql: str, lock_sql: str | None) -> None:
    """One bare append: lock, read head, SHA-256 twice, HMAC, insert (commit is the caller's)."""
    if lock_sql:
        cursor.execute(lock_sql)
    cursor.execute(HEAD_SQL)
    head = cursor.fetchone()
    seq, prev = (0, bytes(32)) if head is None else (head[0] + 1, bytes(head[1]))
    payload = PAYLOAD % seq
    leaf = hashlib.sha256(b"\x00" + payload.encode()).digest()
    entry = hashlib.sha256(prev + leaf).digest()
    mac = hmac.digest(MAC_KEY, entry, "sha256")
    cursor.execute(insert_sql, (seq, payload, prev, leaf, entry, mac))


class _Appender:
    """One client's three append variants: Vigil with MAC, Vigil without, raw."""

    def __init__(self, engine, raw_conn, *, postgres: bool, worker: str = "0") -> None:
        self.engine, self.raw, self.postgres, self.worker = engine, raw_conn, postgres, worker

    def run(self, mode: str, count: int) -> None:
        if mode == "mac":
            _vigil_appends(self.engine, count, self.worker)
        elif mode == "nomac":
            with _mac_skipped():
                _vigil_appends(self.engine, count, self.worker)
        elif self.postgres:
            for _ in range(count):
                with self.raw.transaction():
                    _raw_step(self.raw.cursor(), RAW_INSERT_PG, PG_LOCK_SQL)
        else:
            cursor = self.raw.cursor()
            for _ in range(count):
                cursor.execute("BEGIN IMMEDIATE")
                _raw_step(cursor, RAW_INSERT_SQLITE, None)
                cursor.execute("COMMIT")


def _order(round_no: int) -> tuple[str, ...]:
    """The two Vigil variants back to back, swapping places every round (so each follows
    the raw run, and each leads, equally often), then the raw ceiling."""
    return ("mac", "nomac", "raw") if round_no % 2 == 0 else ("nomac", "mac", "raw")


class _Timings:
    """Each round's rate per append variant, and CPU seconds over all rounds (this
    process's: meaningful for SQLite, which runs in it)."""

    def __init__(self, appends_per_round: int) -> None:
        self.n = appends_per_round
        self.cpu = dict.fromkeys(MODES, 0.0)
        self.rates: dict[str, list[float]] = {mode: [] for mode in MODES}
        self.load = os.getloadavg()[0]  # the machine may be shared: say how busy it was

    @contextmanager
    def measure(self, mode: str):
        started, cpu_started = time.perf_counter(), time.process_time()
        yield
        elapsed = time.perf_counter() - started
        self.cpu[mode] += time.process_time() - cpu_started
        self.rates[mode].append(self.n / elapsed)

    def summary(self) -> dict:
        """Median round rates (a burst of load elsewhere on the machine moves a mean, not
        a median), CPU rates over all rounds, the range, and the median paired ratio."""
        total = {mode: self.n * len(self.rates[mode]) for mode in MODES}
        pairs = [a / b for a, b in zip(self.rates["mac"], self.rates["nomac"], strict=True)]
        return {
            "median": {mode: statistics.median(self.rates[mode]) for mode in MODES},
            "cpu": {mode: total[mode] / self.cpu[mode] for mode in MODES},
            "slowest": {mode: min(self.rates[mode]) for mode in MODES},
            "fastest": {mode: max(self.rates[mode]) for mode in MODES},
            "paired": statistics.median(pairs),  # median of per-round with/without ratios
            "load": self.load,
        }


def bench_sqlite_appends(tmp: Path, count: int, rounds: int) -> dict:
    """Append rates per variant on SQLite: one client, synchronous=FULL, interleaved rounds."""
    from core import migrate

    app = _app(f"sqlite:///{tmp / 'appends.db'}", tmp / "instance")
    engine = app.extensions["vigil.engine"]
    migrate.upgrade(engine)
    raw = sqlite3.connect(tmp / "raw.db", isolation_level=None, timeout=30)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
        raw.execute(f"PRAGMA {pragma}")
    raw.execute(RAW_TABLE.format(blob="BLOB"))
    appender = _Appender(engine, raw, postgres=False)
    for mode in MODES:
        appender.run(mode, 20)  # warm caches and the statement cache
    timings = _Timings(count // rounds)
    for round_no in range(rounds):
        for mode in _order(round_no):
            with timings.measure(mode):
                appender.run(mode, timings.n)
    engine.dispose()
    raw.close()
    return timings.summary()


def _worker(url: str, instance: str, worker: str) -> None:
    """Child process: warm up, print "ready"; then per "<mode> <count>" line append and
    print "done"; stop on "quit" or end of input."""
    import psycopg

    engine = _app(url, Path(instance)).extensions["vigil.engine"]
    raw = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    appender = _Appender(engine, raw, postgres=True, worker=worker)
    for mode in MODES:
        appender.run(mode, 5)  # connect and warm up before any clock starts
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() in ("", "quit"):
            break
        mode, count = line.split()
        appender.run(mode, int(count))
        print("done", flush=True)
    raw.close()
    engine.dispose()


def _await(children, word: str) -> None:
    for child in children:
        if child.stdout.readline().strip() != word:
            raise RuntimeError(f"a benchmark client did not answer {word!r}")


def _run_clients(url: str, tmp: Path, clients: int, each: int, rounds: int) -> dict:
    """Append rates per variant from `clients` concurrent processes, interleaved rounds."""
    args = [sys.executable, "-m", "bench.bench_access_log", "--worker", url]
    children = [
        # This interpreter running this module: no outside input.
        subprocess.Popen(  # nosec B603
            [*args, str(tmp / f"w{i}"), str(i)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(clients)
    ]
    try:
        _await(children, "ready")
        timings = _Timings(clients * each)
        for round_no in range(rounds):
            for mode in _order(round_no):
                with timings.measure(mode):
                    for child in children:
                        child.stdin.write(f"{mode} {each}\n")
                        child.stdin.flush()
                    _await(children, "done")
        for child in children:
            child.stdin.write("quit\n")
            child.stdin.flush()
            child.wait(timeout=60)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return timings.summary()


def _pg(sql: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


@contextmanager
def _pg_database():
    """A fresh PostgreSQL database URL (dropped afterwards), or None without a server."""
    from sqlalchemy.engine import make_url

    name = f"vigil_bench_{uuid.uuid4().hex[:8]}"
    try:
        _pg(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # no server here: say so in the report instead of failing
        print(f"PostgreSQL unavailable ({exc.__class__.__name__}); skipping", file=sys.stderr)
        yield None
        return
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_pg_appends(tmp: Path, clients: int, each: int, rounds: int) -> dict | None:
    """Append rates per variant on PostgreSQL with concurrent client processes."""
    from sqlalchemy import create_engine, text

    from core import migrate

    with _pg_database() as url:
        if url is None:
            return None
        app = _app(url, tmp / "pg-instance")
        migrate.upgrade(app.extensions["vigil.engine"])
        app.extensions["vigil.engine"].dispose()
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text(RAW_TABLE.format(blob="BYTEA")))
        engine.dispose()
        return _run_clients(url, tmp, clients, each, rounds)


def _fill(engine, count: int) -> None:
    """A valid keyed chain of `count` entries, written in bulk inserts (fast set-up)."""
    from audit.access_log import ENTRY_FORMAT, entry_fields, entry_mac
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
            queue="general", message=seq % 20 + 1, grant_id="",
        )  # fmt: skip
        entry.prev_hash, entry.leaf_hash = prev, leaf_hash(entry_fields(entry))
        entry.entry_hash = prev = chain_hash(prev, entry.leaf_hash)
        entry.entry_mac = entry_mac(MAC_KEY, entry.entry_hash)
        rows.append({c.name: getattr(entry, c.name) for c in AccessEntry.__table__.columns})
    for start in range(0, count, 20_000):
        with session_scope(engine) as session:
            session.execute(AccessEntry.__table__.insert(), rows[start : start + 20_000])


def _bare_scan(engine, limit: int | None = None) -> int:
    """The floor under verification: stream the same rows with Core, SHA-256 the leaf
    fields, SHA-256 the link, HMAC the entry hash; no checks, no canonical JSON, no tree
    (the first `limit` rows only, if given)."""
    from audit.access_log import LEAF_FIELDS
    from audit.models import AccessEntry
    from audit.verify import _rows

    table_columns = [c.name for c in AccessEntry.__table__.columns]
    leaf_fields = itemgetter(*(table_columns.index(name) for name in LEAF_FIELDS))
    prev_at, leaf_at = table_columns.index("prev_hash"), table_columns.index("leaf_hash")
    sha256, digest, n = hashlib.sha256, hmac.digest, 0
    with engine.connect() as conn:
        for row in _rows(conn):  # the verifier's own query: the same rows, the same join
            sha256(b"\x00" + repr(leaf_fields(row)).encode()).digest()
            link = sha256(bytes(row[prev_at]) + bytes(row[leaf_at])).digest()
            digest(MAC_KEY, link, "sha256")
            n += 1
            if n == limit:
                break
    return n


def _verify(engine, count: int):
    from sqlmodel import Session

    from audit.verify import verify_log

    with Session(engine) as session:
        report = verify_log(
            session, sources=[], keys={}, origin="bench", mac_key=MAC_KEY,
            interval=timedelta(days=1),
        )  # fmt: skip
    # A benchmark that measured the wrong thing must stop; it never runs with -O.
    assert report.ok and report.size == count, report.problems[:3]  # nosec B101
    return report


def bench_verify(url: str, instance: Path, count: int, rounds: int = 2) -> tuple[float, ...]:
    """(verify entries/s, bare scan entries/s, checkpoint seconds), best of `rounds` each."""
    from sqlmodel import Session

    from audit.checkpoints import tree_states
    from core import migrate
    from core.db import read_only

    engine = _app(url, instance).extensions["vigil.engine"]
    migrate.upgrade(engine)
    _fill(engine, count)
    engine = read_only(engine)
    vigil = bare = checkpoint = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        # A benchmark that measured the wrong thing must stop; it never runs with -O.
        assert _bare_scan(engine) == count  # nosec B101
        bare = min(bare, time.perf_counter() - started)
        started = time.perf_counter()
        _verify(engine, count)
        vigil = min(vigil, time.perf_counter() - started)
    with Session(engine) as session:
        started = time.perf_counter()
        state, _ = tree_states(session, mac_key=MAC_KEY)  # as the checkpointer: MACs checked
        checkpoint = time.perf_counter() - started
        # A benchmark that measured the wrong thing must stop; it never runs with -O.
        assert state.size == count  # nosec B101
    engine.dispose()
    return count / vigil, count / bare, checkpoint


def bench_crypto() -> dict[str, float]:
    """Microseconds per call over a 32-byte message (an entry hash), best of 9 runs."""
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from audit.access_log import entry_fields, entry_mac
    from audit.tlog.canonical import canonical_json

    message = hashlib.sha256(b"an entry hash").digest()
    entry = SimpleNamespace(
        format=2, seq=123_456, occurred_at=datetime.now(UTC), actor_id=42,
        actor_label="Reviewer 42 <r42@example.test>", action="open", decision="allowed",
        reason_code="ASSIGNED_REVIEW", case_id="123", conversation_id="456",
        evidence_version=1, request_id="req-1", client_address="127.0.0.1",
        note_commitment="", queue="general", message=None, grant_id="",
    )  # fmt: skip
    fields = entry_fields(entry)
    private = Ed25519PrivateKey.generate()
    public, signature = private.public_key(), private.sign(message)
    calls = {
        "sha256": (lambda: hashlib.sha256(message).digest(), 50_000),
        "hmac": (lambda: hmac.digest(MAC_KEY, message, "sha256"), 50_000),
        "entry_mac": (lambda: entry_mac(MAC_KEY, message), 50_000),
        # What every leaf costs before any hashing: the fields, then their canonical JSON.
        "entry_fields": (lambda: entry_fields(entry), 20_000),
        "canonical_json": (lambda: canonical_json(fields), 20_000),
        "ed25519_sign": (lambda: private.sign(message), 2_000),
        "ed25519_verify": (lambda: public.verify(signature, message), 2_000),
    }
    # Short runs, best of many: on a shared machine the minimum is the call's own cost.
    return {
        name: min(timeit.repeat(call, number=number, repeat=9)) / number * 1e6
        for name, (call, number) in calls.items()
    }


def _append_row(label: str, rates: dict[str, float]) -> str:
    mac, nomac, raw = (rates[mode] for mode in MODES)
    return (
        f"| {label} | {mac:,.0f} | {nomac:,.0f} | {raw:,.0f} | {ratio(mac, nomac)} "
        f"| {ratio(mac, raw)} |"
    )


def _spread(name: str, timings: dict) -> str:
    ranges = ", ".join(
        f"{label} {timings['slowest'][mode]:,.0f}-{timings['fastest'][mode]:,.0f}"
        for label, mode in (("with MAC", "mac"), ("MAC skipped", "nomac"), ("raw", "raw"))
    )
    return (
        f"- {name}: rounds ranged {ranges} appends/s; median of the per-round with / "
        f"without MAC ratios {timings['paired']:.2f}x; 1-minute load average at the start "
        f"{timings['load']:.2f} on {os.cpu_count()} cores."
    )


def _verify_row(label: str, count: int, result: tuple[float, ...]) -> str:
    vigil, bare, checkpoint = result
    return (
        f"| {label} | {count:,} | {vigil:,.0f} | {bare:,.0f} | {ratio(vigil, bare)} "
        f"| {checkpoint:.2f} |"
    )


def run(quick: bool) -> str:
    """Measure and return the markdown section."""
    clients = 8
    # (rounds, appends per round) per variant; short rounds give many back-to-back pairs.
    sqlite_rounds, sqlite_each = (20, 50) if quick else (30, 100)
    pg_rounds, pg_each = (6, 15) if quick else (10, 30)
    verify_n = 20_000 if quick else 100_000
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        sqlite = bench_sqlite_appends(tmp, sqlite_rounds * sqlite_each, sqlite_rounds)
        pg = bench_pg_appends(tmp, clients, pg_each, pg_rounds)
        sqlite_verify = bench_verify(f"sqlite:///{tmp / 'verify.db'}", tmp / "vi", verify_n)
        with _pg_database() as url:
            pg_verify = None if url is None else bench_verify(url, tmp / "pvi", verify_n)
    crypto = bench_crypto()
    figure("appends SQLite", sqlite["median"]["mac"] / sqlite["median"]["raw"])
    if pg:
        figure("appends PostgreSQL", pg["median"]["mac"] / pg["median"]["raw"])
    figure("verification SQLite", sqlite_verify[0] / sqlite_verify[1])
    if pg_verify:
        figure("verification PostgreSQL", pg_verify[0] / pg_verify[1])
    figure("canonical JSON µs", crypto["canonical_json"])
    figure("entry fields µs", crypto["entry_fields"])
    figure("bare verify loop µs per entry", 1e6 / sqlite_verify[1])
    figure("raw append µs", 1e6 / sqlite["median"]["raw"])
    mac_us, sign_us = crypto["entry_mac"], crypto["ed25519_sign"]
    check_us = crypto["ed25519_verify"]
    wall_us, cpu_us = 1e6 / sqlite["median"]["mac"], 1e6 / sqlite["cpu"]["mac"]
    verify_us = 1e6 / sqlite_verify[0]
    lines = [
        "## Access log: appends and verification (issues 4 and 12)",
        "",
        "Appends commit one entry per transaction (the fail-closed path). **With MAC** is",
        "`record_access` as Vigil runs it (entry MAC = HMAC-SHA256 of the entry hash).",
        "**MAC skipped** is the same path with `audit.access_log.entry_mac` monkeypatched",
        "by the bench to return a constant (production has no unauthenticated mode). The",
        "**raw ceiling** does the same serialisation (BEGIN IMMEDIATE /",
        "pg_advisory_xact_lock), head read, two SHA-256, the HMAC and the insert of an",
        "equivalent row with the bare driver: no ORM, no canonical JSON, no indexes or",
        "triggers. The variants run interleaved in short rounds (with and without MAC",
        "back to back, swapping order each round); appends/s is the median round's rate.",
        "SQLite runs inside the bench process, so its CPU time per append (all rounds) is",
        "measured as well.",
        "",
        "| appends | with MAC | MAC skipped | raw ceiling | with / without MAC | with MAC / raw |",
        "|---|---:|---:|---:|---:|---:|",
        _append_row(
            f"SQLite appends/s, 1 client, synchronous=FULL "
            f"({sqlite_rounds} rounds x {sqlite_each} each)",
            sqlite["median"],
        ),
        _append_row("SQLite appends per CPU second (same runs)", sqlite["cpu"]),
        _append_row(
            f"PostgreSQL appends/s, {clients} client processes "
            f"({pg_rounds} rounds x {pg_each} each per client)",
            pg["median"],
        )
        if pg
        else "| PostgreSQL appends/s | not measured: no server | | | | |",
        "",
        _spread("SQLite", sqlite),
        *([_spread("PostgreSQL", pg)] if pg else []),
        "",
        f"The MAC itself costs {mac_us:.2f} µs (below), {mac_us / wall_us:.2%} of a SQLite",
        f"append ({wall_us:,.0f} µs, of which {cpu_us:,.0f} µs CPU): far less than rounds",
        "differ from each other, so a with / without ratio inside that spread is noise.",
        "",
        "Verification: `verify_log` reads every entry (with its note, if any), rebuilds",
        "canonical JSON, leaf, chain and Merkle root and checks every MAC; the bare loop",
        "streams the same query with SQLAlchemy Core and does SHA-256 of the leaf fields,",
        "SHA-256 of the link and the HMAC per row, with no checks (best of 2 runs each).",
        "The checkpoint column is `tree_states` with MAC checks, as the checkpointer runs it.",
        "",
        "| verification | entries | verify_log entries/s | bare read + hash + HMAC "
        "| verify / bare | checkpoint s |",
        "|---|---:|---:|---:|---:|---:|",
        _verify_row("SQLite", verify_n, sqlite_verify),
        _verify_row("PostgreSQL", verify_n, pg_verify)
        if pg_verify
        else "| PostgreSQL | not measured: no server | | | | |",
        "",
        "Per call over 32 bytes (an entry hash), best of 9 short runs (`hashlib`, `hmac`,",
        "`cryptography`):",
        "",
        "| operation | µs per call | vs HMAC-SHA256 |",
        "|---|---:|---:|",
        f"| SHA-256 | {crypto['sha256']:.2f} | {ratio(crypto['sha256'], crypto['hmac'])} |",
        f"| HMAC-SHA256 (`hmac.digest`) | {crypto['hmac']:.2f} | 1.00x |",
        f"| `audit.access_log.entry_mac` | {mac_us:.2f} | {ratio(mac_us, crypto['hmac'])} |",
        f"| Ed25519 sign | {sign_us:.1f} | {ratio(sign_us, crypto['hmac'])} |",
        f"| Ed25519 verify | {check_us:.1f} | {ratio(check_us, crypto['hmac'])} |",
        "",
        f"A verified entry costs {verify_us:.1f} µs on SQLite, of which the MAC check is",
        f"{mac_us / verify_us:.1%}. A per-entry Ed25519 signature instead of the MAC would add",
        f"{sign_us - mac_us:.0f} µs per append ({(sign_us - mac_us) / wall_us:.1%}) and "
        f"{check_us - mac_us:.0f} µs per verified entry",
        f"({1 + (check_us - mac_us) / verify_us:.1f}x the verifier's time per entry).",
    ]
    return "\n".join(lines)


def profile() -> str:
    """pyinstrument trees of 2,000 appends and of one verification of 20,000 entries (SQLite)."""
    from pyinstrument import Profiler

    from core import migrate
    from core.db import read_only

    out = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        engine = _app(f"sqlite:///{tmp / 'p.db'}", tmp / "pi").extensions["vigil.engine"]
        migrate.upgrade(engine)
        _vigil_appends(engine, 20)
        profiler = Profiler()
        profiler.start()
        _vigil_appends(engine, 2000)
        profiler.stop()
        out.append(profiler.output_text(unicode=False, color=False))
        engine.dispose()
        engine = _app(f"sqlite:///{tmp / 'v.db'}", tmp / "vi").extensions["vigil.engine"]
        migrate.upgrade(engine)
        _fill(engine, 20_000)
        profiler = Profiler()
        profiler.start()
        _verify(read_only(engine), 20_000)
        profiler.stop()
        out.append(profiler.output_text(unicode=False, color=False))
        engine.dispose()
    return "\n".join(out)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI and make bench")
    parser.add_argument(
        "--profile", action="store_true", help="print profiles instead (BENCHMARKS.md untouched)"
    )
    args = parser.parse_args()
    if args.profile:
        print(profile())
        return
    section = run(args.quick)
    write_section("access_log", section)
    print(section)


if __name__ == "__main__":
    main()
