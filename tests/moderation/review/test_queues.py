"""Queue pages: filters, age buckets, keyset pages; priorities that age."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import Session

from core.db import session_scope
from core.timeutil import utcnow
from tests.factories import make_case
from tests.helpers import claim_next, post_form


def _queue_refs(html: str) -> list[str]:
    return re.findall(r'<td><code class="ref">(VC-[0-9A-Z]+)</code></td>', html)


def test_queue_page_filters_buckets_and_pages(app, client, factory, monkeypatch):
    from moderation.intake.models import Case
    from moderation.review import queues as queue_module

    old = make_case(app, category="harassment")
    with session_scope(app.extensions["vigil.engine"]) as session:
        case = session.get(Case, old)
        case.first_reported_at = utcnow() - timedelta(hours=30)
        case.sla_due_at = utcnow() - timedelta(hours=6)
        session.add(case)
        old_ref = case.ref
    for _ in range(4):
        make_case(app)
    factory.login_as(client, "reviewer:general")
    page = client.get("/review/queues/general").get_data(as_text=True)
    assert "5 open" in page and "4 under 1 h" in page and "1 older" in page
    assert "1 overdue" in page
    assert 'class="overdue"' in page
    only = client.get("/review/queues/general?category=harassment").get_data(as_text=True)
    assert _queue_refs(only) == [old_ref]
    none = client.get("/review/queues/general?min_reports=2").get_data(as_text=True)
    assert _queue_refs(none) == []
    monkeypatch.setattr(queue_module, "PAGE_SIZE", 2)  # walk every page: each case once
    seen, url = [], "/review/queues/general"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += _queue_refs(html)
        url = None
        if "Next page</a>" in html:
            url = html.split("Next page</a>")[0].rsplit('<a href="', 1)[1].split('"')[0]
            url = url.replace("&amp;", "&")
    assert len(seen) == 5 and len(set(seen)) == 5


def test_refresh_priorities_command_ages_open_cases(app):
    from moderation.intake.models import Case

    case_id = make_case(app)
    with session_scope(app.extensions["vigil.engine"]) as session:
        case = session.get(Case, case_id)
        before = case.priority
        case.first_reported_at = utcnow() - timedelta(hours=10)
        session.add(case)
    result = app.test_cli_runner().invoke(args=["moderation", "refresh-priorities"])
    assert result.exit_code == 0, result.output
    assert "1 open cases re-prioritised" in result.output
    with Session(app.extensions["vigil.engine"]) as session:
        assert session.get(Case, case_id).priority == before + 10


def test_bad_filters_say_so_and_next_case_keeps_the_current_claim(app, client, factory):
    case_id = make_case(app)
    factory.login_as(client, "reviewer:general")
    bad = client.get("/review/queues/general?min_reports=abc").get_data(as_text=True)
    assert "Give the minimum as a whole number." in bad
    claimed, _token = claim_next(client)
    assert claimed == case_id
    again = post_form(client, "/review/next", {"skip": str(case_id)}, token_from="/account")
    assert again.headers["Location"].endswith("/review/")
    overview = client.get("/review/").get_data(as_text=True)
    assert "Your current claim, if any, is kept." in overview
    assert "My claims" in overview and "lease until" in overview  # the claim is still mine


def test_a_queue_row_opens_and_claims_a_free_case(app, client, factory):
    case_id = make_case(app)
    factory.login_as(client, "reviewer:general")
    opened = post_form(
        client, f"/review/cases/{case_id}/open", {}, token_from="/review/queues/general"
    )
    assert opened.headers["Location"].endswith(f"/review/cases/{case_id}")
    other = app.test_client()
    factory.login_as(other, "reviewer:general")
    taken = post_form(other, f"/review/cases/{case_id}/open", {}, token_from="/account")
    assert taken.headers["Location"].endswith("/review/queues/general")


def test_reviewers_read_times_in_their_chosen_zone_without_microseconds(app, client, factory):
    make_case(app)
    factory.login_as(client, "reviewer:general")
    bad = post_form(
        client, "/review/preferences", {"time_zone": "Mars/Olympus"}, token_from="/review/"
    )
    assert "Choose a time zone" in client.get(bad.headers["Location"]).get_data(as_text=True)
    post_form(client, "/review/preferences", {"time_zone": "Asia/Tokyo"}, token_from="/review/")
    case_id, _ = claim_next(client)
    page = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "JST" in page
    assert not re.search(r"\d\d:\d\d:\d\d\.\d{6}", page)  # no microseconds anywhere
    queue = client.get("/review/queues/general").get_data(as_text=True)
    assert "JST" in queue
