"""The export runs under a PostgreSQL role that may read the user-side tables and nothing else."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from core.db import make_engine
from tests.conftest import pg_execute
from tests.factories import make_conversation, set_plan
from tests.helpers import run_training_export

# Database roles are a PostgreSQL matter: these tests run on PostgreSQL only.
pytestmark = pytest.mark.parametrize(
    "database_url",
    [pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres)],
    indirect=True,
)


@pytest.fixture
def training_role(app, database_url, pg_admin_url):
    """A login role with exactly the grants `flask --app app training grants` prints."""
    role = f"vigil_training_{uuid.uuid4().hex[:8]}"
    database = make_url(database_url).database
    pg_execute(pg_admin_url, f"CREATE ROLE {role} LOGIN NOSUPERUSER")
    printed = app.test_cli_runner().invoke(args=["training", "grants", "--role", role])
    assert printed.exit_code == 0, printed.output
    owner = app.extensions["vigil.engine"]
    with owner.begin() as conn:
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO {role}'))
        for statement in printed.output.strip().splitlines():
            conn.execute(text(statement))
    url = make_url(database_url).set(username=role).render_as_string(False)
    yield url
    with owner.begin() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
    pg_execute(pg_admin_url, f"DROP ROLE {role}")


def test_the_export_runs_under_its_own_role(app, factory, tmp_path, training_role):
    user = factory.make_user(email="ren.ito@example.test")
    set_plan(app, user, plan="free")
    make_conversation(app, user, texts=("hello from Ren Ito", "hello"))
    app.config["VIGIL"]["TRAINING_DATABASE_URL"] = training_role

    manifest, records = run_training_export(app, tmp_path / "out")

    assert manifest["included"]["conversations"] == 1
    assert "Ren" not in records[0]["messages"][0]["text"]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM moderation_case",
        "SELECT count(*) FROM report",
        "SELECT count(*) FROM evidence_version",
        "SELECT count(*) FROM case_decision",
        "SELECT count(*) FROM access_entry",
        "SELECT count(*) FROM access_note",
        "SELECT count(*) FROM admin_event",
        'SELECT password_hash FROM "user"',
        'SELECT totp_secret FROM "user"',
        "INSERT INTO training_exclusion (conversation_id, reason) VALUES (1, 'reported')",
        "DELETE FROM training_exclusion",
        "UPDATE owner_privacy SET training_opt_out = false",
    ],
)
def test_the_training_role_reaches_no_moderation_audit_or_secret_data(training_role, sql):
    engine = make_engine(training_role)
    try:
        with engine.connect() as conn, pytest.raises(ProgrammingError, match="permission denied"):
            conn.execute(text(sql))
    finally:
        engine.dispose()
