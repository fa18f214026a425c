"""Concurrency drills (issue 14, item 4), on gunicorn with real parallel requests.

Twenty submissions of one report with one Idempotency-Key at once store one report; each
answer is the first 201, its replay, or the documented 409 "still running". Several tabs
submitting a decision on one claimed case at once: one decision, the rest 409."""

from __future__ import annotations

import threading
import uuid

from sqlalchemy import text

from tests import figures
from tests.drills.conftest import Browser, csrf, post_json, server_env, twin
from tests.factories import make_case, make_token
from tests.helpers import claim_next, decision_form, report_body

SUBMITTERS = 20
TABS = 4


def _at_once(count: int, work) -> list:
    """Run work(i) in `count` threads released together; their results in order."""
    start, results = threading.Barrier(count), [None] * count

    def run(i: int) -> None:
        start.wait()
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a client hung"
    return results


def test_twenty_concurrent_submissions_with_one_key_store_one_report(
    app, database_url, tmp_path, start_server, db
):
    # The API takes no policy decision: threads (20 requests in flight at once) are safe here.
    server = start_server(server_env(app, database_url, tmp_path), workers=2, threads=10)
    token, key = make_token(app), f"drill-{uuid.uuid4().hex}"
    body = report_body()
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}

    answers = _at_once(SUBMITTERS, lambda _i: post_json(server, "/api/v1/reports", body, headers))
    statuses = sorted(status for status, _h, _b in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = [(h, b) for status, h, b in answers if status == 201]
    assert created, statuses
    assert len({b["reference"] for _h, b in created}) == 1, "two different reports were answered"
    assert sum(h.get("Idempotent-Replayed") != "true" for h, _b in created) == 1, statuses
    for status, h, b in answers:
        if status == 409:  # the documented answer while the first request runs
            assert h["Content-Type"] == "application/problem+json", h
            assert b["status"] == 409 and "still running" in b["detail"], b

    stored = db.execute(text("SELECT ref FROM report")).scalars().all()
    figures.add("data lost", len({b["reference"] for _h, b in created} - set(stored)))
    assert stored == [created[0][1]["reference"]], stored
    # After the dust settles, a retry gets the replay of that one report.
    status, h, b = post_json(server, "/api/v1/reports", body, headers)
    assert (status, h.get("Idempotent-Replayed"), b["reference"]) == (201, "true", stored[0])
    assert "Traceback" not in server.output(), server.tail()
    print(f"{SUBMITTERS} submissions: {statuses.count(201)} x 201, {statuses.count(409)} x 409")


def test_concurrent_decisions_on_one_case_one_wins_the_rest_409(
    app, database_url, tmp_path, start_server, factory, db
):
    # Sync workers, as production runs them (pycasbin and threads do not mix, README).
    server = start_server(server_env(app, database_url, tmp_path), workers=2)
    case_id = make_case(app)
    reviewer = factory.make_user(roles=("reviewer:general",))
    browser = Browser(server.url)
    factory.login(browser, reviewer)
    claimed, token = claim_next(browser)
    assert claimed == case_id and token
    page = f"/review/cases/{case_id}"
    tabs = [twin(browser) for _ in range(TABS)]
    forms = [{**decision_form(token), "csrf_token": csrf(tab, page)} for tab in tabs]

    answers = _at_once(TABS, lambda i: tabs[i].post(f"{page}/decision", forms[i]).status_code)
    assert sorted(answers) == [302] + [409] * (TABS - 1), answers
    decisions = db.execute(
        text("SELECT count(*) FROM case_decision WHERE case_id = :c"), {"c": case_id}
    ).scalar_one()
    decided = db.execute(
        text("SELECT count(*) FROM case_event WHERE case_id = :c AND kind = 'decided'"),
        {"c": case_id},
    ).scalar_one()
    assert (decisions, decided) == (1, 1)
    state = db.execute(
        text("SELECT state FROM moderation_case WHERE id = :c"), {"c": case_id}
    ).scalar_one()
    assert state == "closed"
    assert "Traceback" not in server.output(), server.tail()
