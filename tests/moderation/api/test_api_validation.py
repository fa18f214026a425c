"""Every API input limit: 413, 415, 400 and 422 with the failing field paths."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from moderation.intake.models import Report
from privacy.models import Conversation
from tests.helpers import report_body


def _pointers(response) -> list[str]:
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["status"] == 422 and problem["title"] and problem["detail"]
    return [error["pointer"] for error in problem["errors"]]


def _nothing_stored(db) -> None:
    assert db.exec(select(Report)).all() == []
    assert db.exec(select(Conversation)).all() == []


def test_wrong_content_type_is_415(api, db):
    body = json.dumps(report_body())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = api.headers() | ({"Content-Type": content_type} if content_type else {})
        response = api.client.post("/api/v1/reports", data=body, headers=headers)
        assert response.status_code == 415, content_type
        assert response.mimetype == "application/problem+json"
    _nothing_stored(db)


def test_more_than_one_mebibyte_is_413(api, db):
    body = report_body(texts=("x" * 30_000,) * 40)  # ~1.2 MB, every message within its limit
    raw = json.dumps(body).encode()
    assert len(raw) > 1024 * 1024
    response = api.client.post(
        "/api/v1/reports", data=raw, content_type="application/json", headers=api.headers()
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    _nothing_stored(db)


def test_body_that_is_not_json_is_400(api):
    response = api.client.post(
        "/api/v1/reports", data=b"{nope", content_type="application/json", headers=api.headers()
    )
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"


def test_absurdly_deep_nesting_is_400_not_500(api):
    response = api.client.post(
        "/api/v1/reports",
        data=b"[" * 200_000 + b"]" * 200_000,
        content_type="application/json",
        headers=api.headers(),
    )
    assert response.status_code == 400


def test_top_level_must_be_an_object(api):
    assert _pointers(api.post([1, 2])) == ["#"]


def test_501_messages_are_refused_and_500_accepted(api, db):
    too_many = report_body(texts=("hi",) * 501)
    assert _pointers(api.post(too_many)) == ["#/conversation/messages"]
    _nothing_stored(db)
    assert api.post(report_body(texts=("hi",) * 500)).status_code == 201


def test_a_message_over_32000_characters_is_refused_at_its_path(api, db):
    body = report_body(texts=("ok", "ok", "é" * 32_001))  # characters, not bytes
    assert _pointers(api.post(body)) == ["#/conversation/messages/2/text"]
    _nothing_stored(db)
    assert api.post(report_body(texts=("ok", "é" * 32_000))).status_code == 201


def test_a_description_over_2000_characters_is_refused(api, db):
    assert _pointers(api.post(report_body(description="d" * 2001))) == ["#/description"]
    _nothing_stored(db)
    assert api.post(report_body(description="d" * 2000)).status_code == 201


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda b: b.update(extra=1), "#/extra"),
        (lambda b: b["conversation"].update(secret="x"), "#/conversation/secret"),
        (
            lambda b: b["conversation"]["messages"][0].update(html="<b>"),
            "#/conversation/messages/0/html",
        ),
        (lambda b: b.pop("category"), "#/category"),
        (lambda b: b.update(category="spam"), "#/category"),
        (lambda b: b.update(source_type="rumour"), "#/source_type"),
        (lambda b: b.update(reporter_id=""), "#/reporter_id"),
        (lambda b: b.update(reporter_id="a b"), "#/reporter_id"),
        (lambda b: b.update(message_ids=["m1", "nope"]), "#/message_ids/1"),
        (lambda b: b["conversation"].update(product="fax"), "#/conversation/product"),
        (lambda b: b["conversation"].update(messages=[]), "#/conversation/messages"),
        (
            lambda b: b["conversation"]["messages"][1].update(role="robot"),
            "#/conversation/messages/1/role",
        ),
        (
            lambda b: b["conversation"]["messages"][1].update(id="m0"),
            "#/conversation/messages/1/id",
        ),
        (
            lambda b: b["conversation"]["messages"][0].update(created_at="2026-01-05T09:00:00"),
            "#/conversation/messages/0/created_at",
        ),
        (
            lambda b: b["conversation"]["messages"][0].update(
                attachment={
                    "name": "a.png",
                    "media_type": "image/png",
                    "size": "12",
                    "sha256": "0" * 64,
                }
            ),
            "#/conversation/messages/0/attachment/size",
        ),
    ],
)
def test_invalid_fields_are_named_by_json_pointer(api, db, mutate, pointer):
    body = report_body()
    mutate(body)
    assert pointer in _pointers(api.post(body))
    _nothing_stored(db)


def test_several_errors_are_reported_together(api):
    body = report_body(description="d" * 2001, source_type="rumour")
    body["conversation"]["messages"][0]["text"] = "x" * 32_001
    assert set(_pointers(api.post(body))) == {
        "#/description",
        "#/source_type",
        "#/conversation/messages/0/text",
    }


def test_an_attachment_with_valid_metadata_is_accepted(api):
    body = report_body()
    body["conversation"]["messages"][0]["attachment"] = {
        "name": "receipt.pdf",
        "media_type": "application/pdf",
        "size": 1234,
        "sha256": "ab" * 32,
    }
    assert api.post(body).status_code == 201


@pytest.mark.parametrize(
    ("where", "pointer"),
    [
        (("conversation", "model_id"), "#/conversation/model_id"),
        (("conversation", "owner_id"), "#/conversation/owner_id"),
        (("conversation", "title"), "#/conversation/title"),
        (("description",), "#/description"),
    ],
)
def test_a_nul_character_in_a_stored_field_is_422_not_500(api, db, where, pointer):
    body = report_body()
    target = body
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = "vigil\x00demo"
    assert _pointers(api.post(body)) == [pointer]
    _nothing_stored(db)


def test_a_message_listed_twice_is_refused_at_its_second_place(api, db):
    body = report_body(texts=("a", "b", "c"))
    body["message_ids"] = ["m1", "m2", "m1"]
    assert _pointers(api.post(body)) == ["#/message_ids/2"]
    _nothing_stored(db)
