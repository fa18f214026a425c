"""The public DSA Art. 16 notice form, reached with a conversation reference."""

from __future__ import annotations

import json
import re

from sqlmodel import select

from moderation.intake.evidence import case_data_key, open_statement
from moderation.intake.models import Case, Report
from privacy.models import TrainingExclusion
from tests.factories import make_conversation
from tests.helpers import csrf_token, post_form

FULL = {
    "category": "illegal_hate_speech",
    "explanation": "Message 2 incites hatred against a group.",
    "name": "Nora Notifier",
    "email": "nora@example.test",
    "good_faith": "y",
}


def _notice_url(app, factory) -> tuple[str, object]:
    conversation = make_conversation(app, factory.make_user())
    return f"/notice/{conversation.public_ref}", conversation


def test_anyone_with_the_reference_files_a_notice_and_gets_a_receipt(app, client, factory, db):
    url, conversation = _notice_url(app, factory)
    page = client.get(url + "?message=m1").get_data(as_text=True)
    assert "good faith" in page
    # The form names messages by position and time; it does not show their text.
    assert "[simulated scam message]" not in page
    response = post_form(client, url, FULL | {"message_ids": ["m1"]}, token_from=url)
    assert response.status_code == 302 and response.headers["Location"].endswith("/notice/sent")
    receipt = client.get("/notice/sent").get_data(as_text=True)
    report = db.exec(select(Report)).one()
    assert report.ref in receipt and "Received" in receipt
    assert (report.channel, report.source_type, report.good_faith) == (
        "notice",
        "user_notice",
        True,
    )
    assert json.loads(report.message_ids) == ["m1"]
    assert report.reporter_user_id is None and report.reporter_key.startswith("notice:")
    assert "nora" not in report.reporter_key
    assert db.exec(select(TrainingExclusion)).one().conversation_id == conversation.id

    # Explanation and contact details are stored only sealed, under the case key.
    case = db.get(Case, report.case_id)
    key = case_data_key(db, case=case, keys=app.extensions["vigil.intake"].keys)
    statement = open_statement(
        key, case_id=case.id, report_ref=report.ref, blob=report.statement_sealed
    )
    assert statement == {
        "explanation": FULL["explanation"],
        "name": "Nora Notifier",
        "email": "nora@example.test",
    }


def test_name_and_email_are_required_except_for_child_sexual_abuse(app, client, factory, db):
    url, _ = _notice_url(app, factory)
    anonymous = FULL | {"name": "", "email": ""}
    response = post_form(client, url, anonymous, token_from=url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("Required for this kind of notice.") == 2
    assert FULL["explanation"] in html  # the user's input is kept
    assert db.exec(select(Report)).all() == []

    csam = anonymous | {"category": "child_sexual_abuse"}
    assert post_form(client, url, csam, token_from=url).status_code == 302
    report = db.exec(select(Report)).one()
    assert report.reporter_key.startswith("notice:anonymous:")
    assert db.get(Case, report.case_id).queue == "child_safety"


def test_explanation_and_good_faith_are_required(app, client, factory, db):
    url, _ = _notice_url(app, factory)
    html = post_form(
        client, url, FULL | {"explanation": "", "good_faith": ""}, token_from=url
    ).get_data(as_text=True)
    assert "Explain why you consider the content illegal." in html
    assert "Please confirm this statement." in html
    too_long = post_form(client, url, FULL | {"explanation": "x" * 2001}, token_from=url)
    assert too_long.status_code == 200
    bad_email = post_form(client, url, FULL | {"email": "not-an-email"}, token_from=url)
    assert "Enter an email address." in bad_email.get_data(as_text=True)
    assert db.exec(select(Report)).all() == []


def test_the_same_email_counts_as_one_notifier(app, client, factory, db):
    url, _ = _notice_url(app, factory)
    for email in ("nora@example.test", "NORA@example.test "):
        assert post_form(client, url, FULL | {"email": email}, token_from=url).status_code == 302
    case = db.exec(select(Case)).one()
    assert (case.report_count, case.distinct_reporters) == (2, 1)


def test_a_signed_in_notifier_sees_the_notice_under_their_reports(app, client, factory, db):
    url, _ = _notice_url(app, factory)
    me = factory.make_user()
    factory.login(client, me)
    assert post_form(client, url, FULL, token_from=url).status_code == 302
    report = db.exec(select(Report)).one()
    assert (report.reporter_user_id, report.reporter_key) == (me.id, me.subject)
    assert report.ref in client.get("/reports").get_data(as_text=True)


def test_csrf_is_required_and_unknown_references_are_404(app, client, factory, db):
    url, _ = _notice_url(app, factory)
    assert client.post(url, data=FULL).status_code == 400
    assert client.get("/notice/does-not-exist").status_code == 404
    token = csrf_token(client, url)
    assert client.post("/notice/nope", data=FULL | {"csrf_token": token}).status_code == 404
    assert db.exec(select(Report)).all() == []


def test_the_receipt_page_without_a_notice_goes_home(client):
    response = client.get("/notice/sent")
    assert response.status_code == 302


def test_notice_page_never_shows_other_reports(app, client, factory):
    url, _ = _notice_url(app, factory)
    post_form(client, url, FULL, token_from=url)
    page = app.test_client().get(url).get_data(as_text=True)
    assert not re.search(r"VR-[0-9A-Z]{10}", page)


def test_a_conversation_known_only_from_an_api_report_takes_no_notice(app, client, db):
    # Vigil keeps no text of it (only sealed evidence), so there is nothing a notifier could
    # point at, and a notice must never freeze an empty snapshot over the real evidence.
    from privacy.models import Conversation
    from tests.factories import make_case

    case_id = make_case(app)
    case = db.get(Case, case_id)
    conversation = db.get(Conversation, case.conversation_id)
    url = f"/notice/{conversation.public_ref}"
    assert client.get(url).status_code == 404
    token = csrf_token(client, "/login")
    response = client.post(url, data=FULL | {"csrf_token": token, "message_ids": "m1"})
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Case, case_id).evidence_version == 1
    assert len(db.exec(select(Report)).all()) == 1


def _email_key(pepper: str, email: str) -> str:
    import hashlib
    import hmac

    return "notice:" + hmac.new(pepper.encode(), email.encode(), hashlib.sha256).hexdigest()[:32]


def test_notifier_hashes_use_the_pepper_setting_and_default_to_the_secret_key(
    app, client, factory, db
):
    url, _ = _notice_url(app, factory)
    assert post_form(client, url, FULL, token_from=url).status_code == 302
    first = db.exec(select(Report)).one()
    # Unset: the SECRET_KEY, as before the setting existed, so old hashes still compare.
    assert first.reporter_key == _email_key(app.config["SECRET_KEY"], FULL["email"])
    app.config["VIGIL"]["NOTIFIER_PEPPER"] = "a-separate-pepper"
    assert post_form(client, url, FULL, token_from=url).status_code == 302
    db.rollback()
    second = db.exec(select(Report).where(Report.id != first.id)).one()
    assert second.reporter_key == _email_key("a-separate-pepper", FULL["email"])
