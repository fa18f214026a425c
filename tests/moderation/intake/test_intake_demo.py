"""Demo data: harmless placeholders, reports through each way in, idempotent."""

from __future__ import annotations

from sqlmodel import select

from moderation.intake.models import Case, Report
from privacy.models import Conversation, Message


def test_seed_demo_adds_conversations_and_reports_once(app, db):
    runner = app.test_cli_runner()
    for _ in range(2):
        with app.app_context():  # `flask` pushes one for plain click commands
            result = runner.invoke(args=["seed-demo"])
        assert result.exit_code == 0, result.output
    conversations = db.exec(select(Conversation)).all()
    # Five to work on, six already decided (their statements of reasons export).
    assert len(conversations) == 5 + 6
    assert {r.channel for r in db.exec(select(Report))} == {"web", "notice", "api"}
    assert len(db.exec(select(Report)).all()) == 5 + 6
    # The five demo reports make four open cases (two reports join one case); one decided
    # demo case is under appeal, so it is open again (in the appeals queue).
    open_cases = [c for c in db.exec(select(Case)) if c.state == "open"]
    assert sorted(c.queue == "appeals" for c in open_cases) == [False] * 4 + [True]
    assert {c.language for c in conversations} == {"en", "de"}
    assert {c.language for c in db.exec(select(Case))} == {"en", "de"}
    queues = {c.queue for c in db.exec(select(Case))}
    assert queues == {"general", "child_safety", "appeals"}
    texts = " ".join(m.text for m in db.exec(select(Message)))
    assert "[simulated grooming message]" in texts and "[simulated scam message]" in texts
