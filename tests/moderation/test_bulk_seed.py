"""`seed-bulk`: scale data that is real: cases open, the log verifies, reporters see theirs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select, text

from access_control.models import PolicyRule, PolicyState, User
from audit.models import AccessEntry
from moderation.bulk import PASSWORD
from moderation.intake.models import Case, Report
from privacy.models import TrainingExclusion
from tests.helpers import claim_next

# Run a test on PostgreSQL only (overrides the database_url parametrization).
only_postgres = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
LOG_INDEXES = text(
    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'access_entry' ORDER BY 1"
)
LOG_CONSTRAINTS = text(
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conrelid = 'access_entry'::regclass ORDER BY 1"
)
SEED = ["seed-bulk", "--users", "40", "--cases", "60", "--entries", "300"]


def _count(db, model, *where) -> int:
    return db.execute(select(func.count()).select_from(model).where(*where)).scalar()


def test_seeded_data_is_consistent_and_verifies(app, client, factory, db):
    reviewer = factory.login_as(client, "reviewer:general")  # one live entry comes first
    version = db.get(PolicyState, 1).version
    result = app.test_cli_runner().invoke(args=SEED)
    assert result.exit_code == 0, result.output
    assert "seeded 40 accounts (2 with a staff role), 60 reported cases and 300" in result.output

    db.expire_all()
    assert _count(db, User) == 41
    assert _count(db, PolicyRule, PolicyRule.ptype == "g") == 3  # the reviewer + 2 seeded
    assert db.get(PolicyState, 1).version > version  # every process reloads the policy
    assert _count(db, Case) == _count(db, Report) == 60
    # Every reported conversation is out of training, as intake would have made it.
    reported = select(Case.conversation_id)
    assert _count(db, TrainingExclusion, TrainingExclusion.conversation_id.in_(reported)) == 60
    assert _count(db, AccessEntry) == 300

    # The chain continues and verifies once a checkpoint signs it.
    runner = app.test_cli_runner()
    signed = runner.invoke(args=["audit", "checkpoint"])
    assert signed.exit_code == 0, signed.output
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output

    # A seeded case opens: its own data key unwraps, its sealed evidence decrypts.
    case_id, _ref = claim_next(client, "general")
    page = client.get(f"/review/cases/{case_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    # The evidence opened: six messages, the reported one (m3) marked, as it was sealed.
    assert "Message 6" in html and 'class="message blurred reported" id="m-3"' in html
    assert reviewer is not None

    # A seeded account signs in and sees the reports it filed.
    staff = set(db.scalars(select(PolicyRule.v0).where(PolicyRule.ptype == "g")))
    reporters = db.scalars(select(User).join(Report, Report.reporter_user_id == User.id))
    reporter = next(u for u in reporters if u.subject not in staff)  # staff would enrol MFA
    own = _count(db, Report, Report.reporter_user_id == reporter.id)
    other = app.test_client()
    factory.login(other, SimpleNamespace(email=reporter.email), password=PASSWORD)
    html = other.get("/reports").get_data(as_text=True)
    refs = db.scalars(select(Report.ref).where(Report.reporter_user_id == reporter.id)).all()
    assert own >= 1 and all(ref in html for ref in refs)


def test_an_interrupted_seed_adds_nothing(app, db, monkeypatch):
    import moderation.bulk

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(moderation.bulk, "entry_mac", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        app.test_cli_runner().invoke(args=SEED, catch_exceptions=False)
    assert _count(db, User) == _count(db, Case) == _count(db, AccessEntry) == 0


def test_production_refuses(app, monkeypatch):
    monkeypatch.setitem(app.config["VIGIL"], "ENV", "production")
    result = app.test_cli_runner().invoke(args=SEED)
    assert result.exit_code != 0
    assert "never seeded in production" in result.output


@only_postgres
def test_a_large_seed_builds_the_log_indexes_it_set_aside_again(app, db, monkeypatch):
    """Past one chunk of entries the log's secondary indexes and unique constraints are
    dropped for the COPY and built again: the same ones stand afterwards, and they hold."""
    import moderation.bulk

    monkeypatch.setattr(moderation.bulk, "CHUNK", 100)  # 300 entries: a large write
    indexes, constraints = db.execute(LOG_INDEXES).all(), db.execute(LOG_CONSTRAINTS).all()
    assert len(indexes) >= 7 and any("UNIQUE" in c[1] for c in constraints)
    runner = app.test_cli_runner()
    result = runner.invoke(args=SEED)
    assert result.exit_code == 0, result.output
    db.rollback()
    assert db.execute(LOG_INDEXES).all() == indexes
    assert db.execute(LOG_CONSTRAINTS).all() == constraints
    assert _count(db, AccessEntry) == 300
    # The chain continues and verifies.
    assert runner.invoke(args=["audit", "checkpoint"]).exit_code == 0
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
    # The rebuilt unique constraint refuses a second entry with a seeded entry's hash.
    entry = db.scalars(select(AccessEntry).order_by(AccessEntry.seq.desc()).limit(1)).one()
    names = [column.name for column in AccessEntry.__table__.columns]
    changed = {"seq": "seq + 1000", "prev_hash": "sha256(prev_hash)"}  # only the hash repeats
    values = ", ".join(changed.get(name, name) for name in names)
    copy = text(
        f"INSERT INTO access_entry ({', '.join(names)}) "
        f"SELECT {values} FROM access_entry WHERE seq = :seq"
    )
    with pytest.raises(Exception, match="entry_hash"):
        db.execute(copy, {"seq": entry.seq})
    db.rollback()


@only_postgres
def test_an_interrupted_large_seed_keeps_the_log_indexes(app, db, monkeypatch):
    import moderation.bulk

    monkeypatch.setattr(moderation.bulk, "CHUNK", 100)
    indexes = db.execute(LOG_INDEXES).all()
    monkeypatch.setattr(moderation.bulk, "entry_mac", _broken)
    with pytest.raises(RuntimeError, match="disk full"):
        app.test_cli_runner().invoke(args=SEED, catch_exceptions=False)
    db.rollback()
    assert db.execute(LOG_INDEXES).all() == indexes
    assert _count(db, AccessEntry) == 0


def _broken(*args):
    raise RuntimeError("disk full")
