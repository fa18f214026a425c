"""A signed-in user reports their own conversation; /reports shows their receipts only."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from moderation.intake.models import Case, Report
from privacy.models import TrainingExclusion
from tests.factories import make_conversation
from tests.helpers import post_form

REF = re.compile(r"VR-[0-9A-HJKMNP-TV-Z]{10}")


def test_user_reports_two_messages_and_sees_reference_and_status(app, client, factory, db):
    user = factory.make_user()
    conversation = make_conversation(app, user)
    factory.login(client, user)
    # Ticking messages on the conversation page preselects them on the report form.
    form_url = f"/conversations/{conversation.id}/report"
    page = client.get(f"{form_url}?message=m0&message=m2&message=bogus").get_data(as_text=True)
    assert re.search(r'checked[^>]*value="m0"|value="m0"[^>]*checked', page)
    assert re.search(r'checked[^>]*value="m2"|value="m2"[^>]*checked', page)
    assert "bogus" not in page

    response = post_form(
        client,
        form_url,
        {"message_ids": ["m0", "m2"], "category": "harassment", "description": "rude"},
        token_from=form_url,
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/reports")
    report = db.exec(select(Report)).one()
    assert json.loads(report.message_ids) == ["m0", "m2"]
    assert (report.channel, report.reporter_user_id, report.reporter_key) == (
        "web",
        user.id,
        user.subject,
    )
    assert db.exec(select(TrainingExclusion)).one().conversation_id == conversation.id

    listing = client.get("/reports").get_data(as_text=True)
    assert report.ref in listing
    assert "Received, waiting for review" in listing
    assert "2 messages" in listing and "Harassment or stalking" in listing


def test_no_messages_ticked_reports_the_whole_conversation(app, client, factory, db):
    user = factory.make_user()
    conversation = make_conversation(app, user)
    factory.login(client, user)
    url = f"/conversations/{conversation.id}/report"
    assert post_form(client, url, {"category": "scam_fraud"}, token_from=url).status_code == 302
    assert json.loads(db.exec(select(Report)).one().message_ids) == []
    assert "whole conversation" in client.get("/reports").get_data(as_text=True)


def test_form_errors_are_inline_and_keep_the_input(app, client, factory, db):
    user = factory.make_user()
    conversation = make_conversation(app, user)
    factory.login(client, user)
    url = f"/conversations/{conversation.id}/report"
    response = post_form(
        client,
        url,
        {"message_ids": ["m1"], "category": "", "description": "keep me"},
        token_from=url,
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Choose a category." in html and "keep me" in html
    assert re.search(r'checked[^>]*value="m1"|value="m1"[^>]*checked', html)
    too_long = post_form(
        client, url, {"category": "scam_fraud", "description": "x" * 2001}, token_from=url
    )
    assert "at most 2000" in too_long.get_data(as_text=True) or "2000" in too_long.get_data(
        as_text=True
    )
    unknown = post_form(
        client, url, {"category": "scam_fraud", "message_ids": ["m99"]}, token_from=url
    )
    assert unknown.status_code == 200
    assert db.exec(select(Report)).all() == [] and db.exec(select(Case)).all() == []


def test_nobody_reports_or_reads_someone_elses_conversation_here(app, client, factory, db):
    owner = factory.make_user()
    conversation = make_conversation(app, owner)
    factory.login(client, factory.make_user())
    url = f"/conversations/{conversation.id}/report"
    assert client.get(url).status_code == 404
    assert client.get(f"/conversations/{conversation.id}").status_code == 404
    response = post_form(client, url, {"category": "scam_fraud"}, token_from="/reports")
    assert response.status_code == 404
    assert db.exec(select(Report)).all() == []


def test_report_form_needs_csrf_and_sign_in(app, client, factory):
    user = factory.make_user()
    conversation = make_conversation(app, user)
    url = f"/conversations/{conversation.id}/report"
    assert client.get(url).headers["Location"].startswith("/login")
    factory.login(client, user)
    assert client.post(url, data={"category": "scam_fraud"}).status_code == 400


def test_reports_page_lists_only_my_reports(app, client, factory, api):
    me, other = factory.make_user(), factory.make_user()
    mine = make_conversation(app, me, title="Mine")
    theirs = make_conversation(app, other, title="Theirs")
    other_client = app.test_client()
    factory.login(other_client, other)
    url = f"/conversations/{theirs.id}/report"
    post_form(other_client, url, {"category": "scam_fraud"}, token_from=url)
    factory.login(client, me)
    url = f"/conversations/{mine.id}/report"
    post_form(client, url, {"category": "scam_fraud"}, token_from=url)
    page = client.get("/reports").get_data(as_text=True)
    assert "Mine" in page and "Theirs" not in page
    assert len(set(REF.findall(page))) == 1  # (the flash message repeats it)
    # Nothing about the case, reviewers or other reporters is shown.
    assert "VC-" not in page and other.email not in page
