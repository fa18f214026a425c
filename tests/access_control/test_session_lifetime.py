"""Sessions end SESSION_HOURS after sign-in, however active they are (issue 14)."""

from __future__ import annotations

import time


def test_a_busy_session_still_ends_after_its_hours(app, client, factory, monkeypatch):
    factory.login_as(client, "auditor")
    assert client.get("/audit/").status_code == 200
    signed_in_at = time.time()
    # Seven hours and 59 minutes of activity later: still signed in.
    monkeypatch.setattr("access_control.sessions.time.time", lambda: signed_in_at + 28_740)
    assert client.get("/audit/").status_code == 200
    # Past eight hours: the next request must sign in again, although the cookie slid.
    monkeypatch.setattr("access_control.sessions.time.time", lambda: signed_in_at + 28_860)
    response = client.get("/audit/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_session_without_a_start_time_is_not_trusted(app, client, factory):
    factory.login_as(client, "auditor")
    with client.session_transaction() as session:
        del session["started_at"]  # a cookie minted before the lifetime existed
    assert client.get("/audit/").status_code == 302
