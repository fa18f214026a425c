"""Conversation language: taken from the API, copied onto the case, filtered and claimed by."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from moderation.intake.models import Case
from privacy.models import Conversation
from tests.factories import make_case, make_token
from tests.helpers import Api, claim_next, post_form, report_body


def _queue_refs(html: str) -> list[str]:
    return re.findall(r'<td><code class="ref">(VC-[0-9A-Z]+)</code></td>', html)


def test_language_tag_is_kept_on_the_conversation_and_its_primary_subtag_on_the_case(app, db):
    case_id = make_case(app, language="pt-BR")
    case = db.get(Case, case_id)
    assert case.language == "pt"
    assert db.get(Conversation, case.conversation_id).language == "pt-BR"


def test_a_later_report_without_language_keeps_the_known_one(app, db):
    api = Api(app.test_client(), make_token(app))
    first = report_body(conversation_id="conv-lang-1", reporter_id="a")
    first["conversation"]["language"] = "de-AT"
    assert api.post(first).status_code == 201
    assert api.post(report_body(conversation_id="conv-lang-1", reporter_id="b")).status_code == 201
    (case,) = db.exec(select(Case)).all()
    assert case.language == "de" and case.report_count == 2


@pytest.mark.parametrize("tag", ["english", "e", "de_DE", "de-", "<b>", "x" * 36])
def test_a_malformed_language_tag_is_refused_with_its_field_path(app, db, tag):
    api = Api(app.test_client(), make_token(app))
    body = report_body()
    body["conversation"]["language"] = tag
    response = api.post(body)
    assert response.status_code == 422
    pointers = [error["pointer"] for error in response.json["errors"]]
    assert pointers == ["#/conversation/language"]
    assert db.exec(select(Case)).all() == []


def test_queue_filters_by_language_and_keeps_it_across_pages(app, client, factory):
    german = {make_case(app, language="de") for _ in range(2)}
    make_case(app, language="en")
    make_case(app)  # unknown language
    factory.login_as(client, "reviewer:general")
    with app.app_context():
        from core.db import get_session

        refs = {get_session().get(Case, case_id).ref for case_id in german}
    everything = client.get("/review/queues/general").get_data(as_text=True)
    assert len(_queue_refs(everything)) == 4
    only = client.get("/review/queues/general?language=DE").get_data(as_text=True)
    assert set(_queue_refs(only)) == refs
    assert 'name="language" value="de"' in only  # "Next case" inherits the filter


def test_a_bad_language_filter_is_an_inline_error_not_a_silent_empty_queue(app, client, factory):
    make_case(app, language="de")
    factory.login_as(client, "reviewer:general")
    response = client.get("/review/queues/general?language=deutsch<x>")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Use a language code such as de, fil or pt-BR." in html
    assert 'aria-invalid="true"' in html
    assert "<x>" not in html
    assert len(_queue_refs(html)) == 1  # the filter is dropped, the queue still shows


def test_next_case_in_a_language_claims_only_that_language(app, client, factory, db):
    make_case(app, language="en", category="terrorist_content")  # higher priority
    german = make_case(app, language="de")
    factory.login_as(client, "reviewer:general")
    response = post_form(
        client, "/review/next", {"queue": "general", "language": "de"}, token_from="/account"
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/review/cases/{german}")
    # With the German case taken, a German-only reviewer finds nothing more.
    other = app.test_client()
    factory.login_as(other, "reviewer:general")
    response = post_form(
        other, "/review/next", {"queue": "general", "language": "de"}, token_from="/account"
    )
    assert response.headers["Location"].endswith("/review/")
    # Without a language, the highest-priority case comes first.
    case_id, _token = claim_next(other, "general")
    assert db.get(Case, case_id).language == "en"


def test_a_full_language_tag_filters_on_its_primary_subtag(app, client, factory):
    make_case(app, language="pt-BR")
    make_case(app, language="de")
    factory.login_as(client, "reviewer:general")
    page = client.get("/review/queues/general?language=pt-BR").get_data(as_text=True)
    assert len(_queue_refs(page)) == 1 and 'value="pt"' in page
