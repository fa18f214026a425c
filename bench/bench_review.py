"""Issues 5 and 13: opening a case (authorize + log append + decrypt + render) and the queue
page on SQLite, next to the bare Flask route on the same gunicorn server (2 sync workers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.http_load import gunicorn, measure, sign_in_cookie
from bench.report import figure, ratio, write_section

QUEUE_CASES = 1_000

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


def run(seconds: float) -> str:
    """Measure and return the markdown section."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        case_id, email, secret = _prepare(tmp)
        fill_queue(f"sqlite:///{tmp}/b.db", QUEUE_CASES)
        with gunicorn("bench.bench_server:app", _env(tmp)) as port:
            headers = {"Cookie": sign_in_cookie(port, email, PASSWORD, secret)}
            results["bare"] = measure(port, "/__bench/bare", seconds=seconds)
            results["open"] = measure(
                port, f"/review/cases/{case_id}", seconds=seconds, headers=headers
            )
            results["queue"] = measure(
                port, "/review/queues/general", seconds=seconds, headers=headers
            )
    bare = results["bare"]
    figure("open a case SQLite", results["open"] / bare)
    figure("queue page SQLite", results["queue"] / bare)
    return "\n".join(
        [
            "## Reviewer workspace on SQLite (issues 5 and 13)",
            "",
            "gunicorn, 2 sync workers, SQLite (`synchronous=FULL`); 4 client threads on the same",
            f"2 cores; {seconds:.0f} s per route. Opening a case = policy check with fresh case",
            "facts + hash-chained access-log append committed + evidence decrypt (20 messages)",
            f"+ render. The queue holds {QUEUE_CASES:,} open cases (seed-bulk). Growth to a",
            "million cases is measured on PostgreSQL (section below).",
            "",
            "| route | requests/s | vs bare route |",
            "|---|---:|---:|",
            f"| bare Flask route | {bare:,.0f} | 1.00x |",
            f"| open a claimed case | {results['open']:,.0f} | {ratio(results['open'], bare)} |",
            f"| queue page | {results['queue']:,.0f} | {ratio(results['queue'], bare)} |",
        ]
    )


def fill_queue(url: str, cases: int) -> None:
    """Seed `cases` reported cases with seed-bulk's own code (no accounts, no log)."""
    from app import create_app
    from core.keys import key_ring
    from moderation.bulk import seed_bulk

    app = create_app()
    with app.app_context():
        seed_bulk(
            app.extensions["vigil.engine"],
            ring=key_ring(),
            users=0,
            cases=cases,
            entries=0,
            progress=lambda label, total: contextlib.nullcontext(_NoBar()),
        )
    app.extensions["vigil.engine"].dispose()


class _NoBar:
    def update(self, n: int) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="2 s per route")
    args = parser.parse_args()
    section = run(2.0 if args.quick else args.seconds)
    write_section("review", section)
    print(section)


if __name__ == "__main__":
    main()
