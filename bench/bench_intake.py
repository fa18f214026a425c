"""Issue 3: reports per second through POST /api/v1/reports vs a bare route, then at 100k cases.

Each measured report is a new conversation (six messages), so every request does the full
intake: token check, rate limits, validation, conversation upsert, new case, data key wrap,
sealed evidence, report, case update and training exclusion, in one transaction.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench.http_load import ROOT, gunicorn, measure, measure_calls, request
from bench.report import PG_ADMIN, figure, ratio, write_section

UNLIMITED = {
    "VIGIL_REPORT_LIMIT_PER_REPORTER": "100000000 per hour",
    "VIGIL_REPORT_LIMIT_PER_ADDRESS": "100000000 per minute",
}
EXISTING_CASES = 100_000
FILL_BASE = 10_000_000


def _flask(env: dict[str, str], *args: str) -> str:
    # This interpreter running flask on the bench app: no outside input.
    result = subprocess.run(  # nosec B603
        [sys.executable, "-m", "flask", "--app", "bench.bench_server", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def _body(conversation_id: str) -> bytes:
    messages = [
        {
            "id": f"m{i}",
            "role": "user" if i % 2 == 0 else "assistant",
            "text": f"message {i}: " + "[simulated scam message] " * 8,
            "created_at": "2026-01-05T09:00:00+00:00",
        }
        for i in range(6)
    ]
    body = {
        "conversation": {
            "id": conversation_id,
            "model_id": "bench-model",
            "product": "chat",
            "messages": messages,
        },
        "message_ids": ["m3"],
        "category": "scam_fraud",
        "description": "benchmark report",
        "reporter_id": "bench-reporter",
        "source_type": "user_notice",
    }
    return json.dumps(body).encode()


def measure_reports(port: int, token: str, *, seconds: float, clients: int = 4) -> float:
    """Reports per second, each about a new conversation."""
    ids = itertools.count()
    run = secrets.token_hex(4)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post() -> int:
        body = _body(f"b-{run}-{next(ids)}")
        return request(port, "POST", "/api/v1/reports", headers=headers, body=body)

    return measure_calls(post, seconds=seconds, clients=clients, expect=201, warmup=10)


def fill_cases(database_url: str, count: int) -> None:
    """Insert `count` open cases, each with a conversation, sealed evidence and a report."""
    from sqlalchemy import insert

    from app import load_models

    load_models()
    from core.db import make_engine
    from moderation.intake.models import Case, EvidenceVersion, Report
    from privacy.models import Conversation

    engine = make_engine(database_url)
    now = datetime.now(UTC)
    blob = secrets.token_bytes(900)
    chunk = 10_000
    with engine.begin() as conn:
        # Ids far above the measured rows: the first run already used the low ones.
        for start in range(FILL_BASE, FILL_BASE + count, chunk):
            ids = range(start, min(start + chunk, FILL_BASE + count))
            conn.execute(
                insert(Conversation),
                [
                    dict(
                        id=i,
                        public_ref=f"fill{i:016d}",
                        external_id=f"fill-{i}",
                        owner_ref="",
                        model_id="m",
                        product="chat",
                        title="",
                        created_at=now,
                        updated_at=now,
                    )
                    for i in ids
                ],
            )
            conn.execute(
                insert(Case),
                [
                    dict(
                        id=i,
                        ref=f"VC-F{i:09d}",
                        conversation_id=i,
                        state="open",
                        queue="general",
                        category="scam_fraud",
                        severity=2,
                        trusted_flagger=False,
                        report_count=1,
                        distinct_reporters=1,
                        channels="api",
                        source_types="user_notice",
                        priority=220,
                        evidence_version=1,
                        first_reported_at=now,
                        last_reported_at=now,
                        sla_due_at=now,
                        created_at=now,
                    )
                    for i in ids
                ],
            )
            conn.execute(
                insert(EvidenceVersion),
                [
                    dict(
                        id=i,
                        case_id=i,
                        version=1,
                        content_hash="sha256:" + "0" * 64,
                        message_count=6,
                        sealed=blob,
                        created_at=now,
                    )
                    for i in ids
                ],
            )
            conn.execute(
                insert(Report),
                [
                    dict(
                        id=i,
                        ref=f"VR-F{i:09d}",
                        case_id=i,
                        conversation_id=i,
                        evidence_version_id=i,
                        channel="api",
                        source_type="user_notice",
                        category="scam_fraud",
                        message_ids="[]",
                        reporter_key=f"api:r{i}",
                        status="received",
                        good_faith=False,
                        created_at=now,
                    )
                    for i in ids
                ],
            )
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def measure_backend(url: str, tmp: str, seconds: float, existing: int) -> dict[str, float]:
    """Bare route and intake rates on one database, before and after filling it."""
    env = {"VIGIL_INSTANCE_PATH": tmp, "VIGIL_DATABASE_URL": url, **UNLIMITED}
    _flask(env, "db", "upgrade")
    token = _flask(env, "tokens", "create", "--name", "bench", "--scope", "reports:write")
    token = token.strip().splitlines()[-1]
    result = {}
    with gunicorn("bench.bench_server:app", env) as port:
        result["bare"] = measure(port, "/__bench/bare", seconds=seconds)
        result["empty"] = measure_reports(port, token, seconds=seconds)
    started = time.monotonic()
    fill_cases(url, existing)
    result["fill"] = time.monotonic() - started
    with gunicorn("bench.bench_server:app", env) as port:
        result["bare_again"] = measure(port, "/__bench/bare", seconds=seconds)
        result["full"] = measure_reports(port, token, seconds=seconds)
    return result


@contextmanager
def _postgres_database(admin_url: str):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"vigil_bench_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _rows(label: str, r: dict[str, float], existing: int) -> list[str]:
    return [
        f"| {label} | bare Flask route | {r['bare']:,.0f} | 1.00x |",
        f"| {label} | `POST /api/v1/reports`, empty database | {r['empty']:,.0f} | "
        f"{ratio(r['empty'], r['bare'])} |",
        f"| {label} | bare Flask route, second run | {r['bare_again']:,.0f} | 1.00x |",
        f"| {label} | `POST /api/v1/reports`, {existing:,} existing cases | {r['full']:,.0f} | "
        f"{ratio(r['full'], r['bare_again'])} |",
    ]


def run(seconds: float, existing: int, postgres: str | None) -> str:
    """Measure and return the markdown section."""
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = measure_backend(f"sqlite:///{Path(tmp)}/b.db", tmp, seconds, existing)
    if postgres:
        with tempfile.TemporaryDirectory() as tmp, _postgres_database(postgres) as url:
            results["PostgreSQL"] = measure_backend(url, tmp, seconds, existing)
    for label, r in results.items():
        figure(f"intake {label}", r["empty"] / r["bare"])
        figure(f"intake {label}, large", r["full"] / r["bare_again"])
    lines = [
        "## Report intake through the API vs bare route (issue 3)",
        "",
        "gunicorn, 2 sync workers; 4 concurrent client threads on the same cores;",
        f"{seconds:.0f} s per row. Each report is a new conversation of 6 messages: token,",
        "limits, validation, upsert, new case, wrapped data key, sealed evidence, report,",
        "case update and training exclusion in one transaction. Existing cases each have a",
        "conversation, a sealed evidence version and a report.",
        "",
        "| database | route | requests/s | vs bare route |",
        "|---|---|---:|---:|",
    ]
    for label, result in results.items():
        lines += _rows(label, result, existing)
    lines.append("")
    for label, r in results.items():
        lines.append(
            f"{label}: intake at {existing:,} cases runs at {ratio(r['full'], r['empty'])} of "
            f"the empty-database rate (filling took {r['fill']:.0f} s)."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--cases", type=int, default=EXISTING_CASES)
    parser.add_argument("--quick", action="store_true", help="2 s per row")
    parser.add_argument(
        "--postgres",
        default=PG_ADMIN,
        help="admin URL of a PostgreSQL server to measure as well ('' for none)",
    )
    args = parser.parse_args()
    section = run(2.0 if args.quick else args.seconds, args.cases, args.postgres)
    write_section("intake", section)
    print(section)


if __name__ == "__main__":
    main()
