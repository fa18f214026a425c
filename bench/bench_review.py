"""Issues 5 and 13: opening a case (authorize + log append + decrypt + render) and the queue
page on SQLite, next to the bare Flask route on the same gunicorn server (2 sync workers).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.http_load import gunicorn, measure, sign_in_cookie
from bench.report import figure, ratio, write_section

QUEUE_CASES = 1_000
LARGE_CASES = 100_000  # SQLite's large size (the embedded default; a million runs on PostgreSQL)

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


def _measure(port: int, case_id: int, headers: dict[str, str], seconds: float) -> dict:
    return {
        "bare": measure(port, "/__bench/bare", seconds=seconds),
        "open": measure(port, f"/review/cases/{case_id}", seconds=seconds, headers=headers),
        "queue": measure(port, "/review/queues/general", seconds=seconds, headers=headers),
    }


def run(seconds: float, large: int = LARGE_CASES) -> str:
    """Measure at QUEUE_CASES and at `large` cases; return the markdown section."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        case_id, email, secret = _prepare(tmp)
        fill_queue(f"sqlite:///{tmp}/b.db", QUEUE_CASES)
        with gunicorn("bench.bench_server:app", _env(tmp)) as port:
            # One sign-in: a second one inside the same 30 s would reuse a TOTP code.
            headers = {"Cookie": sign_in_cookie(port, email, PASSWORD, secret)}
            small = _measure(port, case_id, headers, seconds)
            started = time.monotonic()  # the server idles while the database fills up
            fill_queue(f"sqlite:///{tmp}/b.db", large - QUEUE_CASES)
            filled = time.monotonic() - started
            big = _measure(port, case_id, headers, seconds)
    for key, label in (("open", "open a case SQLite"), ("queue", "queue page SQLite")):
        figure(label, small[key] / small["bare"])
        figure(f"{label}, large", big[key] / big["bare"])
    rows = [
        f"| {label} | {r[key]:,.0f} | {ratio(r[key], r['bare'])} |"
        for size, r in ((QUEUE_CASES, small), (large, big))
        for key, label in (
            ("bare", f"bare Flask route ({size:,} cases)"),
            ("open", f"open a claimed case ({size:,} cases)"),
            ("queue", f"queue page ({size:,} cases)"),
        )
    ]
    growth = {k: (big[k] / big["bare"]) / (small[k] / small["bare"]) for k in ("open", "queue")}
    return "\n".join(
        [
            "## Reviewer workspace on SQLite (issues 5 and 13)",
            "",
            "gunicorn, 2 sync workers, SQLite (`synchronous=FULL`); 4 client threads on the same",
            f"2 cores; {seconds:.0f} s per route. Opening a case = policy check with fresh case",
            "facts + hash-chained access-log append committed + evidence decrypt (20 messages)",
            f"+ render. The queue holds {QUEUE_CASES:,} open cases (seed-bulk), then",
            f"{large:,} (the same database and server, filled up in {filled:.0f} s). The",
            "million-case size is measured on PostgreSQL (section below).",
            "",
            "| route | requests/s | vs bare route |",
            "|---|---:|---:|",
            *rows,
            "",
            f"At {large:,} cases against {QUEUE_CASES:,} (each against its own server's bare "
            f"route): case {growth['open']:.2f}x, queue page {growth['queue']:.2f}x.",
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
    section = run(2.0, 20_000) if args.quick else run(args.seconds)
    write_section("review", section)
    print(section)


if __name__ == "__main__":
    main()
