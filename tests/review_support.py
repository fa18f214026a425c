"""Helpers for reviewer-workspace tests: cases through the real API, claims, log counts."""

from __future__ import annotations

import re
import uuid

from sqlmodel import Session, col, func, select

from audit.models import AccessEntry
from core.db import read_only
from tests.intake_support import Api, make_token, report_body


def make_case(
    app,
    *,
    category: str = "scam_fraud",
    texts=("hello", "[simulated scam message]"),
    source_type: str = "user_notice",
    language: str = "",
) -> int:
    """File a report through the JSON API; return the case id."""
    from moderation.intake.models import Report

    api = Api(app.test_client(), make_token(app))
    body = report_body(
        texts=texts,
        category=category,
        source_type=source_type,
        reporter_id=f"r-{uuid.uuid4().hex[:6]}",
    )
    body["conversation"]["language"] = language
    response = api.post(body)
    assert response.status_code == 201, response.get_data(as_text=True)
    with Session(read_only(app.extensions["vigil.engine"])) as session:
        return session.exec(
            select(Report.case_id).where(Report.ref == response.json["reference"])
        ).one()


def log_count(app, **where) -> int:
    """How many access-log entries match the given column values."""
    with Session(read_only(app.extensions["vigil.engine"])) as session:
        query = select(func.count()).select_from(AccessEntry)
        for name, value in where.items():
            query = query.where(col(getattr(AccessEntry, name)) == value)
        return session.exec(query).one()


TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')


def claim_next(client, queue: str = "") -> tuple[int, str]:
    """Press "Next case" and return (case id, claim token) from the case page."""
    from tests.conftest import post_form

    response = post_form(client, "/review/next", {"queue": queue}, token_from="/account")
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    location = response.headers["Location"]
    case_id = int(location.rstrip("/").split("/")[-1])
    page = client.get(location)
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    match = TOKEN_RE.search(page.get_data(as_text=True))
    return case_id, match.group(1) if match else ""
