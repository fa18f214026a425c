"""Every timestamp column stores the instant: an offset is converted to UTC before it is
written, so SQLite (which keeps only the wall-clock digits) and PostgreSQL agree."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import Session

from core.db import session_scope
from core.timeutil import as_utc
from privacy.models import Conversation


def test_an_offset_time_reads_back_as_the_same_instant(app):
    engine = app.extensions["vigil.engine"]
    plus_two = datetime(2026, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=2)))
    with session_scope(engine) as session:
        row = Conversation(model_id="m", product="chat", created_at=plus_two)
        session.add(row)
        session.flush()
        row_id = row.id
    with Session(engine) as session:
        stored = session.get(Conversation, row_id).created_at
    assert as_utc(stored).isoformat() == "2026-05-01T08:00:00+00:00"
