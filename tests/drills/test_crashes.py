"""Crash drills (issue 14, item 5): kill -9 in the middle of the work, then look.

A gunicorn worker killed while a decision's transaction is open (held there by the
VIGIL_PAUSE_AT hook) leaves none of it behind, and the next request, the same decision,
goes through whole. An access-log writer killed at 50 random moments never leaves a broken
database, a broken chain or a lost acknowledged entry."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import is_postgres, read_only
from tests import figures
from tests.audit.conftest import Log
from tests.drills.conftest import (
    ROOT,
    Browser,
    changed,
    csrf,
    row_counts,
    server_env,
    wait_for,
    wait_paused,
)
from tests.factories import make_case
from tests.helpers import claim_next, decision_form

KILLS = 50


def test_a_worker_killed_mid_decision_leaves_nothing_and_the_retry_succeeds(
    app, database_url, tmp_path, start_server, factory
):
    hold = tmp_path / "hold-decision"
    env = server_env(app, database_url, tmp_path, VIGIL_PAUSE_AT=f"decision:{hold}")
    server = start_server(env, workers=1)
    engine = app.extensions["vigil.engine"]
    case_id = make_case(app)
    reviewer = factory.make_user(roles=("reviewer:general",))
    browser = Browser(server.url)
    factory.login(browser, reviewer)
    claimed, token = claim_next(browser)
    assert claimed == case_id and token
    page = f"/review/cases/{case_id}"
    form = {**decision_form(token), "csrf_token": csrf(browser, page)}
    before = row_counts(engine)

    hold.touch()
    answers: list = []

    def decide() -> None:
        try:
            answers.append(browser.post(f"{page}/decision", form).status_code)
        except OSError as exc:  # the worker died under the request
            answers.append(type(exc).__name__)

    request = threading.Thread(target=decide)
    request.start()
    worker = wait_paused(server, "decision")
    assert holds_open_transaction(engine), "the pause is not inside the decision's transaction"
    assert changed(before, row_counts(engine)) == {}, "the decision is visible before commit"
    os.kill(worker, signal.SIGKILL)
    figures.add("failures injected")
    request.join(timeout=30)
    assert answers and answers[0] != 302, answers

    left_behind = changed(before, row_counts(engine))
    assert left_behind == {}, f"a killed decision left rows behind: {left_behind}"

    hold.unlink()  # later requests pass the pause point
    wait_for(lambda: server.workers() - {worker} and server.up(), 60, "a new worker")
    retried = browser.post(f"{page}/decision", form)
    assert retried.status_code == 302, retried.get_data(as_text=True)[:500]
    written = changed(before, row_counts(engine))
    figures.add("data lost", 0 if written.get("case_decision") == 1 else 1)  # acknowledged
    assert written["case_decision"] == 1, written
    assert written["case_event"] >= 2 and written["outbox_event"] >= 1, written
    with read_only(engine).connect() as conn:
        state = conn.execute(
            text("SELECT state FROM moderation_case WHERE id = :c"), {"c": case_id}
        ).scalar_one()
    assert state == "closed"
    code, codes, output = Log(app).verify()
    assert (code, codes) == (0, {}), output


def holds_open_transaction(engine) -> bool:
    """Whether some other connection sits inside an uncommitted write transaction."""
    with read_only(engine).connect() as conn:
        if is_postgres(engine):
            return bool(
                conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND state = 'idle in transaction' AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            )
    raw = engine.raw_connection()  # SQLite: the writer holds the write lock
    try:
        cursor = raw.driver_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=0")
        try:
            cursor.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:  # database is locked
            return "locked" in str(exc)
        cursor.execute("ROLLBACK")
        return False
    finally:
        cursor.execute("PRAGMA busy_timeout=30000")  # back to what core.db sets, for the pool
        raw.close()


# --- an access-log writer killed at random moments ---------------------------------------


def integrity_problems(engine) -> list[str]:
    """SQLite's integrity_check; on PostgreSQL amcheck on the log's heap and indexes."""
    with read_only(engine).connect() as conn:
        if not is_postgres(engine):
            rows = conn.execute(text("PRAGMA integrity_check")).scalars().all()
            return [] if rows == ["ok"] else rows
        problems = [
            f"heap block {row.blkno}: {row.msg}"
            for row in conn.execute(text("SELECT * FROM verify_heapam('access_entry')"))
        ]
        indexes = conn.execute(
            text(
                "SELECT indexrelid::regclass::text FROM pg_index "
                "WHERE indrelid = 'access_entry'::regclass"
            )
        ).scalars()
        for index in indexes:  # raises on corruption
            conn.execute(text("SELECT bt_index_check(CAST(:i AS regclass), true)"), {"i": index})
        return problems


def test_an_access_log_writer_killed_fifty_times_never_breaks_the_log(app, database_url, tmp_path):
    engine = app.extensions["vigil.engine"]
    amcheck = is_postgres(engine) and _install_amcheck(engine)
    log, rng = Log(app), random.Random()
    env = {**os.environ, "VIGIL_DRILL_MAC_KEY": app.extensions["vigil.keys"].entry_mac.hex()}
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.drills.log_writer", database_url, str(tmp_path)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "ready"
        acknowledged: set[int] = set()
        mid_stream = 0
        for kill in range(KILLS):
            writer.stdin.write("go\n")
            writer.stdin.flush()
            child = int(writer.stdout.readline())
            threading.Event().wait(rng.uniform(0.01, 0.15))  # a random moment of its work
            os.kill(child, signal.SIGKILL)
            writer.stdin.write(f"reap {child}\n")
            writer.stdin.flush()
            assert writer.stdout.readline().strip() == "killed"
            figures.add("failures injected")
            written = _seqs(tmp_path / f"{child}.seqs")
            acknowledged |= written
            mid_stream += bool(written)  # killed between appends or inside one

            if amcheck or not is_postgres(engine):  # else the chain checks below stand alone
                assert integrity_problems(engine) == [], f"after kill {kill + 1}"
            with read_only(engine).connect() as conn:
                stored = set(conn.execute(text("SELECT seq FROM access_entry")).scalars())
            lost = acknowledged - stored
            figures.add("data lost", len(lost))
            assert not lost, f"after kill {kill + 1}, acknowledged entries are gone: {lost}"
            if kill % 10 == 9:
                log.checkpoint()  # as the sidecar would, so nothing stays unanchored
            code, codes, output = log.verify()
            assert (code, codes) == (0, {}), f"after kill {kill + 1}:\n{output}"
        # Most kills must land once appends are under way, or they proved little.
        assert mid_stream >= KILLS // 2, f"only {mid_stream} kills hit a writer at work"
        print(f"{KILLS} kills ({mid_stream} mid-stream), {len(acknowledged)} acknowledged entries")
    finally:
        writer.kill()
        writer.wait(timeout=10)


def _install_amcheck(engine) -> bool:
    """amcheck in the test database, if the server ships it (Debian's does)."""
    with engine.connect() as conn:
        available = conn.execute(
            text("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'")
        ).scalar_one()
        if available:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS amcheck"))
            conn.commit()
    return bool(available)


def _seqs(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {int(line) for line in path.read_text().split("\n") if line.strip().isdigit()}


def test_production_refuses_to_start_with_the_pause_hook():
    from core.config import SECRET_SETTINGS, ConfigError, check_production, read_settings

    env = {
        "VIGIL_ENV": "production",
        "VIGIL_DATABASE_URL": "postgresql://x/y",
        "VIGIL_RATELIMIT_STORAGE_URI": "redis://r:6379",
        **{f"VIGIL_{name}": "x" for name in SECRET_SETTINGS},
    }
    check_production(read_settings(env, None))
    with pytest.raises(ConfigError, match="VIGIL_PAUSE_AT"):
        check_production(read_settings({**env, "VIGIL_PAUSE_AT": "decision:/tmp/x"}, None))
