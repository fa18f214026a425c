"""Helpers for access-log tests: append entries, tamper as an attacker would, run the CLI."""

from __future__ import annotations

import re
import uuid
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from audit.access_log import record_access
from audit.reasons import AccessAction, Decision, ReasonCode
from core.db import is_postgres, make_engine, session_scope
from tests.conftest import pg_execute

# Run a test on PostgreSQL only (overrides the database_url parametrization).
only_postgres = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
PROBLEM_RE = re.compile(r"^PROBLEM (\w+): (.*)$", re.MULTILINE)


class Log:
    """One app's access log, driven the way production code and attackers would."""

    def __init__(self, app) -> None:
        self.app = app
        self.engine = app.extensions["vigil.engine"]

    def append(
        self,
        count: int = 1,
        *,
        actor=None,
        case_id: str = "case-1",
        conversation_id: str = "conv-1",
        decision: Decision = Decision.ALLOWED,
        reason: ReasonCode | None = ReasonCode.ASSIGNED_REVIEW,
        action: AccessAction = AccessAction.OPEN,
        note: str | None = None,
    ) -> list[int]:
        """Append `count` entries, each in its own committed transaction; returns their seqs."""
        seqs = []
        for _ in range(count):
            with session_scope(self.engine) as session:
                entry = record_access(
                    session,
                    actor=actor,
                    action=action,
                    decision=decision,
                    reason_code=reason,
                    case_id=case_id,
                    conversation_id=conversation_id,
                    evidence_version=1,
                    note=note,
                    mac_key=self.app.extensions["vigil.keys"].entry_mac,
                )
                seqs.append(entry.seq)
        return seqs

    def tamper(self, *statements: str, table: str = "access_entry", **params) -> None:
        """Run SQL with the append-only triggers out of the way, as a database owner could."""
        if not is_postgres(self.engine):
            self._tamper_sqlite(statements, table, params)
            return
        with self.engine.connect() as conn:
            # A superuser: DISABLE TRIGGER ALL also switches off foreign-key checks.
            conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER ALL"))
            for statement in statements:
                conn.execute(text(statement), params)
            conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER ALL"))
            for name in conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
                    "AND tgrelid = CAST(:t AS regclass)"
                ),
                {"t": table},
            ).scalars():
                conn.execute(text(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {name}"))
            conn.commit()

    def _tamper_sqlite(self, statements, table: str, params: dict) -> None:
        # Someone with the database file: plain sqlite3, foreign keys off, triggers dropped.
        raw = self.engine.raw_connection()
        try:
            cursor = raw.driver_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=OFF")
            cursor.execute("BEGIN IMMEDIATE")
            names = cursor.execute(
                "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name=?", (table,)
            ).fetchall()
            for (name,) in names:
                cursor.execute(f"DROP TRIGGER {name}")
            for statement in statements:
                cursor.execute(statement, params)
            cursor.execute("COMMIT")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            raw.close()

    def cli(self, *args: str):
        """Invoke `flask --app app <args>` in-process."""
        return self.app.test_cli_runner().invoke(args=list(args), catch_exceptions=False)

    def checkpoint(self):
        result = self.cli("audit", "checkpoint")
        assert result.exit_code == 0, result.output
        return result

    def verify(self, *args: str) -> tuple[int, Counter, str]:
        """Run `audit verify`; (exit code, Counter of problem codes, output)."""
        result = self.cli("audit", "verify", *args)
        codes = Counter(code for code, _ in PROBLEM_RE.findall(result.output))
        return result.exit_code, codes, result.output


@pytest.fixture
def access_log(app) -> Log:
    return Log(app)


def run_sql(engine, sql: str, **params) -> None:
    """Run one statement in its own committed transaction."""
    with engine.connect() as conn:
        conn.execute(text(sql), params)
        conn.commit()


def readme_grants(role: str) -> list[str]:
    """The REVOKE and GRANT lines of the README's access-log block, for `role`."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("-- as the owner (the role that runs", 1)[1].split("```", 1)[0]
    lines = [line.split("--", 1)[0].strip().rstrip(";") for line in block.splitlines()]
    verbs = ("REVOKE", "GRANT")
    grants = [line.replace("vigil_app", role) for line in lines if line.startswith(verbs)]
    assert len(grants) == 4, block
    return grants


@pytest.fixture
def app_role(app, database_url, pg_admin_url):
    """A login role with the grants production gives Vigil: SELECT and INSERT only on the log."""
    role = f"vigil_app_{uuid.uuid4().hex[:8]}"
    database = make_url(database_url).database
    pg_execute(pg_admin_url, f"CREATE ROLE {role} LOGIN NOSUPERUSER")
    owner = app.extensions["vigil.engine"]
    for sql in (
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        # Every other table: the usual DML; then the log tables exactly as README.md ("The
        # access log") tells production, verbatim.
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        *readme_grants(role),
    ):
        run_sql(owner, sql)
    url = make_url(database_url).set(username=role).render_as_string(False)
    engine = make_engine(url)
    engine.vigil_url = url  # for tests that start a whole app as this role
    yield engine
    engine.dispose()
    run_sql(owner, f"DROP OWNED BY {role}")
    pg_execute(pg_admin_url, f"DROP ROLE {role}")
