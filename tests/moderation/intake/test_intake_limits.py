"""Rate limits on every way in: 429 with Retry-After, per reporter and per address."""

from __future__ import annotations

import pytest
from sqlmodel import select

from app import create_app
from moderation.intake.models import Report
from tests.conftest import test_settings
from tests.factories import make_conversation, make_token
from tests.helpers import Api, post_form, report_body

TIGHT = {
    "REPORT_LIMIT_PER_REPORTER": "2 per hour",
    "REPORT_LIMIT_PER_ADDRESS": "4 per minute",
    "NOTICE_LIMIT_PER_ADDRESS": "2 per hour",
}


@pytest.fixture
def tight_app(database_url, tmp_path):
    application = create_app(test_settings(database_url, tmp_path) | TIGHT)
    yield application
    application.extensions["vigil.engine"].dispose()


def _assert_429(response) -> None:
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1


def test_api_limits_each_reporter(tight_app):
    api = Api(tight_app.test_client(), make_token(tight_app))
    for _ in range(2):
        assert api.post(report_body(reporter_id="loud")).status_code == 201
    response = api.post(report_body(reporter_id="loud"))
    _assert_429(response)
    assert response.mimetype == "application/problem+json"
    # Another reporter through the same backend is not affected.
    assert api.post(report_body(reporter_id="quiet")).status_code == 201


def test_api_limits_each_address(tight_app):
    api = Api(tight_app.test_client(), make_token(tight_app))
    for i in range(4):
        assert api.post(report_body(reporter_id=f"r{i}")).status_code == 201
    _assert_429(api.post(report_body(reporter_id="r9")))
    other = tight_app.test_client()
    response = other.post(
        "/api/v1/reports",
        json=report_body(reporter_id="r10"),
        headers=api.headers(),
        environ_base={"REMOTE_ADDR": "10.9.9.9"},
    )
    assert response.status_code == 201


def test_the_address_limit_counts_before_the_token_check(tight_app):
    client = tight_app.test_client()
    for _ in range(2):
        assert client.post("/api/v1/reports", json=report_body()).status_code == 401
        assert client.get("/api/v1/reports/VR-0000000000").status_code == 401
    # Unauthenticated floods are throttled, and a valid token does not lift the limit.
    _assert_429(client.post("/api/v1/reports", json=report_body()))
    _assert_429(client.get("/api/v1/reports/VR-0000000000"))
    _assert_429(Api(client, make_token(tight_app)).get("VR-0000000000"))


def test_a_rate_limited_request_stores_nothing_and_frees_its_idempotency_key(tight_app):
    api = Api(tight_app.test_client(), make_token(tight_app))
    for _ in range(2):
        assert api.post(report_body(reporter_id="loud")).status_code == 201
    _assert_429(api.post(report_body(reporter_id="loud"), **{"Idempotency-Key": "later"}))
    from sqlmodel import Session

    with Session(tight_app.extensions["vigil.engine"]) as session:
        assert len(session.exec(select(Report)).all()) == 2


def test_web_reports_are_limited_per_account(tight_app):
    from tests.factories import Factory

    factory, client = Factory(tight_app), tight_app.test_client()
    user = factory.make_user()
    factory.login(client, user)
    conversation = make_conversation(tight_app, user)
    url = f"/conversations/{conversation.id}/report"
    for _ in range(2):
        response = post_form(client, url, {"category": "harassment"}, token_from=url)
        assert response.status_code == 302
    _assert_429(post_form(client, url, {"category": "harassment"}, token_from=url))


def test_public_notices_are_limited_per_address(tight_app):
    from tests.factories import Factory

    owner = Factory(tight_app).make_user()
    conversation = make_conversation(tight_app, owner)
    client, url = tight_app.test_client(), f"/notice/{conversation.public_ref}"
    data = {"category": "child_sexual_abuse", "explanation": "see message 2", "good_faith": "y"}
    for _ in range(2):
        assert post_form(client, url, data, token_from=url).status_code == 302
    _assert_429(post_form(client, url, data, token_from=url))
