"""Issue 13: the hot pages against the bare route, at a small and at a large size.

Each size is a fresh PostgreSQL database filled by `seed-bulk` (accounts, cases with
sealed evidence, reports, a verifying access log), plus one case filed through the API
(20 messages) that a bench reviewer claims. Pages are measured on gunicorn (2 sync
workers) with load from this process (4 client threads); the bare Flask route on the same
server is the ceiling. One authorization decision is timed in-process over a compiled
policy with 10 and with 100,000 accounts. At the large size every SQL statement the hot
pages issue is captured and EXPLAIN ANALYZEd (bench/EXPLAIN.md).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from bench.bench_intake import UNLIMITED, _postgres_database, measure_reports
from bench.http_load import gunicorn, measure, sign_in_cookie
from bench.report import PG_ADMIN, figure, ratio, write_section

PASSWORD = "bench password 123"  # noqa: S105  (throwaway accounts in a temp database)
EXPLAIN = Path(__file__).resolve().parent / "EXPLAIN.md"
# (users, cases, entries): every size has 10 reports per account.
SMALL = (100, 1_000, 5_000)
LARGE = (100_000, 1_000_000, 5_000_000)
QUICK_LARGE = (10_000, 100_000, 500_000)


def _env(tmp: Path, url: str) -> dict[str, str]:
    return {
        "VIGIL_INSTANCE_PATH": str(tmp),
        "VIGIL_DATABASE_URL": url,
        "VIGIL_VIEWER_CAP": "1000000",
        **UNLIMITED,
    }


class Setup:
    """One seeded database: the accounts and ids the measured pages use."""

    def __init__(self, tmp: Path, url: str, size: tuple[int, int, int]) -> None:
        os.environ.update(_env(tmp, url))
        from access_control.policy import load_baseline
        from app import create_app
        from core import migrate
        from core.db import session_scope
        from core.keys import key_ring
        from moderation.bulk import PASSWORD as BULK_PASSWORD
        from moderation.bulk import seed_bulk
        from moderation.intake.models import Case
        from moderation.review import claims
        from tests.factories import Factory, make_token
        from tests.helpers import Api, report_body

        self.app = app = create_app()
        engine = app.extensions["vigil.engine"]
        migrate.upgrade(engine)
        with session_scope(engine) as session:
            load_baseline(session)
        users, cases, entries = size
        started = time.monotonic()
        with app.app_context():
            seeded = seed_bulk(
                engine,
                ring=key_ring(),
                users=users,
                cases=cases,
                entries=entries,
                progress=_quiet,
            )
        self.seed_seconds = time.monotonic() - started
        self.token = make_token(app)
        api = Api(app.test_client(), self.token)
        texts = tuple(f"message {i}: [simulated scam message]" for i in range(20))
        # A benchmark that measured the wrong thing must stop; it never runs with -O.
        assert api.post(report_body(texts=texts)).status_code == 201  # nosec B101
        self.factory = factory = Factory(app)
        factory.password = PASSWORD
        self.reviewer = factory.make_user(roles=("reviewer:general",))
        self.auditor = factory.make_user(roles=("auditor",))
        with session_scope(engine) as session:
            claim = claims.claim_next(
                session,
                reviewer=self.reviewer,
                queues=["general"],
                lease=timedelta(hours=2),
                now=datetime.now(UTC),
            )
            self.case_id = claim.case_id
            self.seeded_ref = session.get(Case, seeded.first_case_id + cases // 2).ref
        # A seeded end user (not staff: index 1) with their 10 reports.
        self.reporter_email = _seeded_email(engine, seeded.first_user_id + 1)
        self.reporter_password = BULK_PASSWORD
        engine.dispose()

    def pages(self) -> dict[str, str]:
        return {
            "open a claimed case": f"/review/cases/{self.case_id}",
            "queue page": "/review/queues/general",
            "auditor: newest log entries": "/audit/",
            "auditor: one case's entries": f"/audit/cases/{self.seeded_ref}",
            "reporter's page": "/reports",
        }


class _Bar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None


def _quiet(label: str, total: int) -> _Bar:
    print(f"   seeding {label}: {total:,}", flush=True)
    return _Bar()


def _seeded_email(engine, user_id: int) -> str:
    from sqlalchemy import text

    with engine.connect() as conn:
        return conn.execute(text('SELECT email FROM "user" WHERE id = :i'), {"i": user_id}).scalar()


def append_rate(setup: Setup, count: int = 300) -> float:
    """Access-log appends/s through Vigil's own path (one client, each committed), into this
    database's log: the large size's 5,000,000 entries against the small size's 5,000."""
    from bench.bench_access_log import _vigil_appends

    engine = setup.app.extensions["vigil.engine"]
    _vigil_appends(engine, 20, worker="scale-warm")
    started = time.perf_counter()
    _vigil_appends(engine, count, worker="scale")
    return count / (time.perf_counter() - started)


VERIFY_PREFIX = 200_000  # entries of the log verified at each size (a full pass at 5M: minutes)


class _Enough(Exception):
    """Stops a verification once it has checked the entries a rate needs."""


def verify_rate(setup: Setup, entries: int = VERIFY_PREFIX) -> tuple[int, float, float]:
    """(entries, verify_log entries/s, bare read + hash + HMAC entries/s) over the first
    `entries` of this database's log: the verifier's own streaming query, on a log of this
    size (the whole log if it is shorter)."""
    from sqlmodel import Session

    from audit.access_log import entry_mac
    from audit.models import AccessEntry
    from audit.verify import verify_log
    from bench.bench_access_log import _bare_scan
    from core.db import read_only
    from core.keys import key_ring

    with setup.app.app_context():
        mac_key = key_ring().entry_mac
    engine = read_only(setup.app.extensions["vigil.engine"])
    with Session(engine) as session:  # the key the log was written with, or no benchmark
        first = session.get(AccessEntry, 0)
        assert entry_mac(mac_key, first.entry_hash) == first.entry_mac  # nosec B101
    checked = [0]

    def progress(count: int) -> None:
        checked[0] += count
        if checked[0] >= entries:
            raise _Enough

    started = time.perf_counter()
    with Session(engine) as session:
        try:
            report = verify_log(
                session, sources=[], keys={}, origin="bench", mac_key=mac_key,
                interval=timedelta(days=3650), progress=progress,
            )  # fmt: skip
            # A shorter log was verified whole: it must verify (no -O in benchmarks).
            assert report.ok, report.problems[:3]  # nosec B101
        except _Enough:
            pass
    vigil = checked[0] / (time.perf_counter() - started)
    started = time.perf_counter()
    bare = _bare_scan(engine, limit=checked[0]) / (time.perf_counter() - started)
    return checked[0], vigil, bare


def decision_p99(accounts: int, samples: int = 20_000) -> tuple[float, float]:
    """(p50, p99) in microseconds of one decision over the baseline plus `accounts` grants."""
    from access_control.models import PolicyRule
    from access_control.permissions import Resource, Subject
    from access_control.policy import DecisionTable, _baseline_rules, build_enforcer

    columns = ("v0", "v1", "v2", "v3", "v4", "v5")
    rows = [
        PolicyRule(ptype=r.ptype, **dict(zip(columns, r.values, strict=False)))
        for r in _baseline_rules()
    ]
    roles = ("reviewer:general", "qa", "auditor", "legal")
    rows += [PolicyRule(ptype="g", v0=f"user:{i}", v1=roles[i % 4]) for i in range(accounts)]
    table = DecisionTable(build_enforcer(rows))
    # Seeded, reproducible synthetic requests, not secrets.
    rng = random.Random(13)  # nosec B311
    asks = [
        (
            Subject(id=f"user:{rng.randrange(accounts)}", status="active"),
            Resource(kind="case", assignee=f"user:{rng.randrange(accounts)}", stage="review"),
        )
        for _ in range(samples)
    ]
    for sub, obj in asks[:2000]:  # warm: what a running process has already compiled
        table.decide(sub, "general", obj, "read")
    timings = []
    clock = time.perf_counter_ns
    for sub, obj in asks:
        started = clock()
        table.decide(sub, "general", obj, "read")
        timings.append(clock() - started)
    timings.sort()
    return statistics.median(timings) / 1000, timings[int(len(timings) * 0.99)] / 1000


def explain(setup: Setup) -> str:
    """EXPLAIN ANALYZE of every statement the hot pages issue, captured in-process."""
    from sqlalchemy import event

    engine = setup.app.extensions["vigil.engine"]
    captured: list[tuple[str, str, object]] = []
    page = {"name": ""}

    def capture(conn, cursor, statement, parameters, context, executemany):
        if not executemany and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            captured.append((page["name"], statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for name, path, client in _signed_in_pages(setup, setup.app.test_client):
            page["name"] = name
            # A benchmark that measured the wrong thing must stop; it never runs with -O.
            assert client.get(path).status_code == 200, name  # nosec B101
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    lines = ["# EXPLAIN ANALYZE of the hot pages' queries at the large size", ""]
    seen = set()
    with engine.connect() as conn:
        for name, statement, parameters in captured:
            if (name, statement) in seen or "pg_advisory" in statement:
                continue
            seen.add((name, statement))
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            lines += [f"## {name}", "", "```sql", statement.strip(), "```", "", "```"]
            lines += [row[0] for row in plan] + ["```", ""]
        conn.rollback()
    EXPLAIN.write_text("\n".join(lines), encoding="utf-8")
    return f"{len(seen)} statements"


def statement_counts(setup: Setup) -> dict[str, int]:
    """SQL statements each hot page sends per request (all of them: reads, the advisory
    lock, the log insert), counted on its second request (the first warms caches)."""
    from sqlalchemy import event

    engine = setup.app.extensions["vigil.engine"]
    counts: dict[str, int] = {}
    for name, path, client in _signed_in_pages(setup, setup.app.test_client):
        client.get(path)
        seen = [0]

        def count(*_args, seen=seen) -> None:
            seen[0] += 1

        event.listen(engine, "before_cursor_execute", count)
        try:
            # A benchmark that measured the wrong thing must stop; it never runs with -O.
            assert client.get(path).status_code == 200, name  # nosec B101
        finally:
            event.remove(engine, "before_cursor_execute", count)
        counts[name] = seen[0]
    return counts


def _signed_in_pages(setup: Setup, client_for):
    from types import SimpleNamespace

    pages, factory = setup.pages(), setup.factory
    reporter = SimpleNamespace(email=setup.reporter_email)
    for who, names in (
        (setup.reviewer, ("open a claimed case", "queue page")),
        (setup.auditor, ("auditor: newest log entries", "auditor: one case's entries")),
        (reporter, ("reporter's page",)),
    ):
        client = client_for()
        factory.login(
            client, who, password=None if who is not reporter else setup.reporter_password
        )
        for name in names:
            yield name, pages[name], client


def profile_pages(setup: Setup, requests: int = 200) -> str:
    """The top of a pyinstrument tree for a case open and a queue page, in-process."""
    from pyinstrument import Profiler

    client = setup.app.test_client()
    setup.factory.login(client, setup.reviewer, password=PASSWORD)
    out = []
    for path in (f"/review/cases/{setup.case_id}", "/review/queues/general"):
        for _ in range(20):  # warm: compiled policy, statement cache, templates
            # A benchmark that measured the wrong thing must stop; it never runs with -O.
            assert client.get(path).status_code == 200  # nosec B101
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        profiler.start()
        for _ in range(requests):
            client.get(path)
        profiler.stop()
        each = (time.perf_counter() - started) / requests * 1000
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        tree = [line for line in text.splitlines() if line.strip()][4:40]
        out += [f"{path}: {each:.1f} ms per request under the profiler", *tree, ""]
    return "\n".join(out).rstrip()


ROUNDS = 5  # each figure is measured in this many short rounds, alternating the sizes
WHO = {
    "open a claimed case": "reviewer",
    "queue page": "reviewer",
    "auditor: newest log entries": "auditor",
    "auditor: one case's entries": "auditor",
    "reporter's page": "reporter",
}


@dataclass
class _Served:
    """One size: its seeded database, the in-process figures, and its own server."""

    setup: Setup
    port: int
    cookies: dict[str, str]
    result: dict


@contextmanager
def _serving(size: tuple[int, int, int], with_explain: bool):
    """Seed a fresh database at `size` and serve it with gunicorn until the block ends;
    the in-process figures (appends, and EXPLAIN or the profile) are taken on the way."""
    with tempfile.TemporaryDirectory() as tmp_name, _postgres_database(PG_ADMIN) as url:
        tmp = Path(tmp_name)
        setup = Setup(tmp, url, size)
        with gunicorn("bench.bench_server:app", _env(tmp, url)) as port:
            # Signed in over HTTP first: the in-process sign-ins below would spend the
            # same TOTP codes, and a code is accepted once.
            reviewer, auditor = setup.reviewer, setup.auditor
            cookies = {
                "reviewer": sign_in_cookie(port, reviewer.email, PASSWORD, reviewer.totp_secret),
                "auditor": sign_in_cookie(port, auditor.email, PASSWORD, auditor.totp_secret),
                "reporter": sign_in_cookie(port, setup.reporter_email, setup.reporter_password),
            }
            # Verified before the appends below: those are MAC'd with the bench's own key.
            result: dict = {"seed": setup.seed_seconds, "verify": verify_rate(setup)}
            result["appends"] = append_rate(setup)
            if with_explain:
                result["explain"] = explain(setup)
            else:
                result["profile"] = profile_pages(setup)
                result["statements"] = statement_counts(setup)
            setup.app.extensions["vigil.engine"].dispose()
            yield _Served(setup, port, cookies, result)


def _measure_sizes(sizes: list[_Served], seconds: float) -> None:
    """Every figure at every size in alternating short rounds (the order swapped each
    round); each size keeps its median round. The sizes are served side by side, so a
    slower minute of the machine falls on both rather than on whichever size ran then."""

    def calls(served: _Served) -> dict:
        out = {"bare": partial(measure, served.port, "/__bench/bare", seconds=seconds / ROUNDS)}
        for name, path in served.setup.pages().items():
            headers = {"Cookie": served.cookies[WHO[name]]}
            out[name] = partial(
                measure, served.port, path, seconds=seconds / ROUNDS, headers=headers
            )
        # Last: it adds cases (each a new conversation of 6 messages).
        out["report intake"] = partial(
            measure_reports, served.port, served.setup.token, seconds=seconds / ROUNDS
        )
        return out

    each = [calls(served) for served in sizes]
    for name in each[0]:
        rounds: list[list[float]] = [[] for _ in sizes]
        for r in range(ROUNDS):
            order = range(len(sizes)) if r % 2 == 0 else reversed(range(len(sizes)))
            for i in order:
                rounds[i].append(each[i][name]())
        for served, rates in zip(sizes, rounds, strict=True):
            served.result[name] = statistics.median(rates)


def run(seconds: float, large: tuple[int, int, int]) -> str:
    with _serving(SMALL, with_explain=False) as small, _serving(large, True) as big:
        _measure_sizes([small, big], seconds)
    small_r, large_r = small.result, big.result
    p10 = decision_p99(10)
    p100k = decision_p99(100_000)
    skip = ("seed", "bare", "explain", "profile", "appends", "verify", "statements")
    names = [k for k in small_r if k not in skip]
    for label, page in (
        ("open a case", "open a claimed case"),
        ("queue page", "queue page"),
        ("intake", "report intake"),
    ):
        figure(f"{label} PostgreSQL", small_r[page] / small_r["bare"])
        figure(f"{label} PostgreSQL, large", large_r[page] / large_r["bare"])
    # Both sizes were measured side by side (_measure_sizes): their own rates compare.
    growth = {name: large_r[name] / small_r[name] for name in names}
    # The same append path at both sizes; the raw ceiling writes a table of its own, so
    # it does not grow with the log (bench/goals.py scales the small ratio by this).
    figure("appends large / small", large_r["appends"] / small_r["appends"])
    figure("verification PostgreSQL, large", large_r["verify"][1] / large_r["verify"][2])
    for name, count in small_r["statements"].items():
        figure(f"statements {name}", count)
    hot = {name: value for name, value in growth.items() if name != "report intake"}
    figure("hot pages large / small (worst)", min(hot.values()))
    worst = min(hot, key=hot.get)
    figure(f"worst page: {worst}", growth[worst])
    figure("decision p99 µs, 10 accounts", p10[1])
    figure("decision p99 µs, 100,000 accounts", p100k[1])
    lines = [
        "## Hot pages as data grows (issue 13)",
        "",
        "gunicorn, 2 sync workers, PostgreSQL; 4 client threads in the bench process on the",
        f"same 2 cores; {seconds:.0f} s per page and size, in {ROUNDS} rounds that alternate the",
        "sizes (median round). Each size is a fresh database filled by `flask --app app",
        "seed-bulk` (10 reports per account), plus one case filed through the API (20",
        "messages) and claimed by the bench reviewer, with its own server; both servers run",
        "side by side. Ratios: against the bare Flask route on the same server, and large",
        "against small.",
        "",
        f"| page | small: {SMALL[1]:,} cases, {SMALL[2]:,} log entries, {SMALL[0]:,} accounts "
        f"(req/s) | vs bare | large: {large[1]:,} cases, {large[2]:,} entries, {large[0]:,} "
        "accounts (req/s) | vs bare | large / small |",
        "|---|---:|---:|---:|---:|---:|",
        f"| bare Flask route | {small_r['bare']:,.0f} | 1.00x | {large_r['bare']:,.0f} | 1.00x | "
        f"{ratio(large_r['bare'], small_r['bare'])} |",
    ]
    for name in names:
        lines.append(
            f"| {name} | {small_r[name]:,.0f} | {ratio(small_r[name], small_r['bare'])} | "
            f"{large_r[name]:,.0f} | {ratio(large_r[name], large_r['bare'])} | "
            f"{ratio(large_r[name], small_r[name])} |"
        )
    lines += [
        "",
        "Large / small is the large size's rate over the small size's: each round measures",
        "both within seconds of each other, so machine drift falls on both (the bare row",
        "shows how equal the two servers are).",
        "Report intake is `POST /api/v1/reports` (a new conversation of 6 messages each),",
        "measured last; it is not a hot page, so it is left out of the worst.",
        f"Access-log appends through Vigil's own path (one client in-process, each "
        f"committed): {small_r['appends']:,.0f}/s into the {SMALL[2]:,}-entry log, "
        f"{large_r['appends']:,.0f}/s into the {large[2]:,}-entry one "
        f"({ratio(large_r['appends'], small_r['appends'])}).",
        "Verification (`verify_log`, every MAC checked) against the bare read + hash + HMAC",
        "loop over the same rows, in-process:",
        *(
            f"{label}: the first {n:,} entries of the log at {v:,.0f} entries/s, bare "
            f"{b:,.0f}/s ({ratio(v, b)})."
            for label, (n, v, b) in (("Small", small_r["verify"]), ("Large", large_r["verify"]))
        ),
        "SQL statements per request (PostgreSQL, the small database, each page's second "
        "request, all statements): "
        + ", ".join(f"{name} {count}" for name, count in small_r["statements"].items())
        + ".",
        f"Seeding took {small_r['seed']:.0f} s (small) and {large_r['seed']:.0f} s (large).",
        f"EXPLAIN ANALYZE at the large size: `bench/EXPLAIN.md` ({large_r['explain']}).",
        "",
        "One authorization decision (compiled policy, in-process, 20,000 random asks after",
        "warm-up; the policy version is read once per request, not per decision):",
        "",
        "| accounts with a role | p50 µs | p99 µs |",
        "|---:|---:|---:|",
        f"| 10 | {p10[0]:.1f} | {p10[1]:.1f} |",
        f"| 100,000 | {p100k[0]:.1f} | {p100k[1]:.1f} |",
        "",
        "Where a case open and a queue page spend their time (pyinstrument, in-process on the",
        "small database, 200 requests each through the Flask test client, top of the tree):",
        "",
        "```",
        small_r["profile"],
        "```",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="2 s per page, large = 100,000 cases")
    args = parser.parse_args()
    section = run(2.0 if args.quick else args.seconds, QUICK_LARGE if args.quick else LARGE)
    write_section("scale", section)
    print(section)


if __name__ == "__main__":
    main()
