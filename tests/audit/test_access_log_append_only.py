"""The database refuses to change the log: triggers on both backends, grants on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app import create_app
from audit.access_log import record_access
from audit.reasons import Decision, ReasonCode
from core.db import session_scope
from tests.audit.conftest import only_postgres, run_sql
from tests.conftest import test_settings

APPEND_ONLY_TABLES = (
    "access_entry",
    "audit_checkpoint",
    "audit_verification",
    "audit_verify_request",
)


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE access_entry SET reason_code = 'LEGAL_REQUEST' WHERE seq = 1",
        "UPDATE access_entry SET entry_hash = prev_hash WHERE seq = 2",
        "DELETE FROM access_entry WHERE seq = 2",
        "DELETE FROM access_entry",
    ],
)
def test_updates_and_deletes_are_rejected(access_log, sql):
    access_log.append(3)
    with pytest.raises(DBAPIError, match="append-only"):
        run_sql(access_log.engine, sql)


def test_checkpoints_and_verification_runs_are_append_only_too(access_log):
    access_log.append(2)
    access_log.checkpoint()
    access_log.verify()
    for table in ("audit_checkpoint", "audit_verification"):
        with pytest.raises(DBAPIError, match="append-only"):
            run_sql(access_log.engine, f"UPDATE {table} SET id = id + 100")
        with pytest.raises(DBAPIError, match="append-only"):
            run_sql(access_log.engine, f"DELETE FROM {table}")


def test_notes_can_be_erased_but_not_rewritten(access_log):
    (seq,) = access_log.append(note="original justification")
    with pytest.raises(DBAPIError, match="erased but not changed"):
        run_sql(access_log.engine, "UPDATE access_note SET text = 'x' WHERE entry_seq = :s", s=seq)
    run_sql(access_log.engine, "DELETE FROM access_note WHERE entry_seq = :s", s=seq)


@only_postgres
@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_truncate_is_rejected_on_postgresql(access_log, table):
    access_log.append(1)
    with pytest.raises(DBAPIError, match="append-only"):
        run_sql(access_log.engine, f"TRUNCATE {table} CASCADE")


@only_postgres
def test_replica_mode_does_not_switch_the_triggers_off(access_log):
    access_log.append(2)
    for sql in (
        "UPDATE access_entry SET actor_label = 'nobody' WHERE seq = 0",
        "DELETE FROM access_entry WHERE seq = 1",
        "TRUNCATE access_entry CASCADE",
    ):
        with access_log.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
            conn.execute(text("SET session_replication_role = replica"))
            conn.execute(text(sql))


@only_postgres
def test_the_app_role_can_append_but_never_change_the_log(access_log, app_role):
    access_log.append(2)
    with session_scope(app_role) as session:  # appending works with INSERT + SELECT alone
        record_access(
            session,
            actor=None,
            action="open",
            decision=Decision.ALLOWED,
            reason_code=ReasonCode.LEGAL_REQUEST,
            case_id="9",
            conversation_id="c",
            evidence_version=1,
            mac_key=access_log.app.extensions["vigil.keys"].entry_mac,
        )
    for sql in (
        "UPDATE access_entry SET actor_label = 'nobody' WHERE seq = 0",
        "DELETE FROM access_entry WHERE seq = 1",
        "TRUNCATE access_entry CASCADE",
        "ALTER TABLE access_entry DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
    ):
        with pytest.raises(DBAPIError, match=r"permission denied|must be owner"):
            run_sql(app_role, sql)
    assert access_log.verify()[0] == 0


@only_postgres
def test_the_app_role_can_checkpoint_verify_and_erase(access_log, app_role, tmp_path):
    access_log.append(3, note="a justification")
    as_app = create_app(test_settings(app_role.vigil_url, tmp_path))
    try:
        runner = as_app.test_cli_runner()
        erase = ["audit", "erase-note", "--seq", "0", "--reason", "GDPR request 7"]
        for args in (["audit", "checkpoint"], erase, ["audit", "verify"]):
            result = runner.invoke(args=args)
            assert result.exit_code == 0 and "warning" not in result.output, result.output
        assert "redacted notes (erasure recorded, chain intact): 1 entries" in result.output
    finally:
        as_app.extensions["vigil.engine"].dispose()


@only_postgres
def test_the_app_role_does_not_own_the_log(app_role):
    with app_role.connect() as conn:
        owner = conn.execute(
            text("SELECT tableowner FROM pg_tables WHERE tablename = 'access_entry'")
        ).scalar()
        me = conn.execute(text("SELECT current_user")).scalar()
    assert owner != me  # the owner could disable triggers; the app must never be it
