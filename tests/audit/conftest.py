"""Helpers for access-log tests: append entries, tamper as an attacker would, run the CLI."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from sqlalchemy import text

from audit.access_log import record_access
from audit.reasons import AccessAction, Decision, ReasonCode
from core.db import is_postgres, session_scope

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
