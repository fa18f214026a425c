"""Issue 5: opening a case (authorize + log append + decrypt + render) and the queue page.

Both are measured on gunicorn (2 sync workers, SQLite) next to the bare Flask route on the
same server, and the queue page with 1,000,000 open cases next to 1,000.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import sqlite3
import tempfile
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp

from bench.http_load import gunicorn, measure
from bench.report import ratio, write_section

PASSWORD = "bench password 123"  # noqa: S105  (a throwaway account in a temp database)


def _env(tmp: Path) -> dict[str, str]:
    return {
        "VIGIL_INSTANCE_PATH": str(tmp),
        "VIGIL_DATABASE_URL": f"sqlite:///{tmp}/b.db",
        "VIGIL_VIEWER_CAP": "1000",
    }


def _prepare(tmp: Path) -> tuple[int, str, str]:
    """Migrate, file one case through the API, make a reviewer who claims it."""
    os.environ.update(_env(tmp))
    from access_control.policy import load_baseline
    from app import create_app
    from core import migrate
    from core.db import session_scope
    from moderation.review import claims
    from tests.factories import Factory, make_token
    from tests.helpers import Api, report_body

    app = create_app()
    engine = app.extensions["vigil.engine"]
    migrate.upgrade(engine)
    with session_scope(engine) as session:
        load_baseline(session)
    api = Api(app.test_client(), make_token(app))
    texts = tuple(f"message {i}: [simulated scam message]" for i in range(20))
    # A benchmark that measured the wrong thing must stop; it never runs with -O.
    assert api.post(report_body(texts=texts)).status_code == 201  # nosec B101
    factory = Factory(app)
    factory.password = PASSWORD
    reviewer = factory.make_user(email="bench@vigil.test", roles=("reviewer:general",))
    with session_scope(engine) as session:
        claim = claims.claim_next(
            session,
            reviewer=reviewer,
            queues=["general"],
            lease=timedelta(hours=2),
            now=datetime.now(UTC),
        )
    engine.dispose()
    return claim.case_id, reviewer.email, reviewer.totp_secret


def _cookie(port: int, email: str, secret: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"

    def post(path: str, data: dict) -> None:
        html = opener.open(base + path).read().decode()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        opener.open(base + path, urllib.parse.urlencode({"csrf_token": token, **data}).encode())

    post("/login", {"email": email, "password": PASSWORD})
    post("/login/mfa", {"code": pyotp.TOTP(secret).now()})
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def _fill_queue(db_path: Path, count: int) -> None:
    """Insert `count` open general-queue cases (each on its own conversation) in bulk."""
    now = datetime.now(UTC)
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA synchronous=OFF")
    batch = 50_000
    for start in range(0, count, batch):
        rows = range(start, min(count, start + batch))
        conn.executemany(
            "INSERT INTO conversation (public_ref, external_id, owner_ref, model_id, product, "
            "title, created_at, updated_at) VALUES (?, ?, '', 'm', 'chat', '', ?, ?)",
            [(f"bq{i}", f"bq{i}", now, now) for i in rows],
        )
        first = conn.execute("SELECT max(id) FROM conversation").fetchone()[0] - len(rows) + 1
        conn.executemany(
            "INSERT INTO moderation_case (ref, conversation_id, state, queue, category, severity,"
            " trusted_flagger, report_count, distinct_reporters, channels, source_types,"
            " priority, evidence_version, first_reported_at, last_reported_at, sla_due_at,"
            " created_at) VALUES (?, ?, 'open', 'general', 'scam_fraud', 2, 0, 1, 1, 'api',"
            " 'user_notice', ?, 1, ?, ?, ?, ?)",
            [
                (
                    f"BQ{i}",
                    first + n,
                    200 + i % 300,
                    now - timedelta(minutes=i % 5000),
                    now,
                    now + timedelta(hours=24),
                    now,
                )
                for n, i in enumerate(rows)
            ],
        )
        conn.commit()
    conn.close()


def run(seconds: float, big: int) -> str:
    """Measure and return the markdown section."""
    results: dict[str, float] = {}
    for size in (1_000, big):
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            case_id, email, secret = _prepare(tmp)
            _fill_queue(tmp / "b.db", size)
            with gunicorn("bench.bench_server:app", _env(tmp)) as port:
                headers = {"Cookie": _cookie(port, email, secret)}
                results[f"queue_{size}"] = measure(
                    port, "/review/queues/general", seconds=seconds, headers=headers
                )
                if size == 1_000:
                    results["bare"] = measure(port, "/__bench/bare", seconds=seconds)
                    results["open"] = measure(
                        port, f"/review/cases/{case_id}", seconds=seconds, headers=headers
                    )
    bare = results["bare"]
    return "\n".join(
        [
            "## Reviewer workspace (issue 5)",
            "",
            "gunicorn, 2 sync workers, SQLite (`synchronous=FULL`); 4 client threads on the same",
            f"2 cores; {seconds:.0f} s per route. Opening a case = policy check with fresh case",
            "facts + hash-chained access-log append committed + evidence decrypt (20 messages)",
            "+ render.",
            "",
            "| route | requests/s | vs bare route |",
            "|---|---:|---:|",
            f"| bare Flask route | {bare:,.0f} | 1.00x |",
            f"| open a claimed case | {results['open']:,.0f} | {ratio(results['open'], bare)} |",
            f"| queue page, 1,000 open cases | {results['queue_1000']:,.0f} | "
            f"{ratio(results['queue_1000'], bare)} |",
            f"| queue page, {big:,} open cases | {results[f'queue_{big}']:,.0f} | "
            f"{ratio(results[f'queue_{big}'], bare)} |",
            "",
            f"Queue page with {big:,} cases vs 1,000: "
            f"{ratio(results[f'queue_{big}'], results['queue_1000'])} of the throughput "
            "(keyset pagination on the (state, queue, priority, first_reported_at, id) index;"
            ' header counts are indexed range counts capped at 10,000, shown as "10,000+").',
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="2 s per route, 100,000 cases")
    args = parser.parse_args()
    section = run(2.0 if args.quick else args.seconds, 100_000 if args.quick else 1_000_000)
    write_section("review", section)
    print(section)


if __name__ == "__main__":
    main()
