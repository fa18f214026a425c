"""PUT /api/v1/conversations/<id>: the chat backend stores a conversation and its messages."""

from __future__ import annotations

import json
import uuid
from datetime import datetime

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

import privacy.conversations
from app import create_app
from moderation.intake.models import EvidenceVersion, Report
from privacy.conversations import messages_of
from privacy.models import Conversation, Message
from tests.conftest import test_settings
from tests.factories import make_token
from tests.helpers import Api, post_form, report_body

BOTH = ("reports:write", "conversations:write")


def conversation_body(texts: tuple[str, ...] = ("hello", "[simulated scam message]"), **fields):
    """A valid PUT body (a report body's conversation without its id); keyword arguments
    replace top-level fields."""
    body = report_body(texts=texts)["conversation"]
    del body["id"]
    return body | {"language": "de"} | fields


def _put(client, conversation_id: str, body, token: str | None, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.put(
        f"/api/v1/conversations/{conversation_id}", json=body, headers=headers, **kwargs
    )


def _new_id() -> str:
    return f"conv-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def writer(app) -> str:
    """A token with conversations:write only."""
    return make_token(app, scopes=("conversations:write",))


def _stored(db, external_id: str) -> tuple[Conversation | None, list[Message]]:
    db.expire_all()
    query = select(Conversation).where(Conversation.external_id == external_id)
    conversation = db.exec(query).first()
    if conversation is None:
        return None, []
    return conversation, messages_of(db, conversation_id=conversation.id)


def test_a_new_conversation_is_created_with_its_messages_in_order(client, db, writer):
    marker = f"SECRETMSG{uuid.uuid4().hex}"
    body = conversation_body(texts=("first", f"second {marker}", "third"), title="Tax help")
    body["messages"][1]["attachment"] = {
        "name": "scan.png",
        "media_type": "image/png",
        "size": 1234,
        "sha256": "ab" * 32,
    }
    conversation_id = _new_id()
    response = _put(client, conversation_id, body, writer)
    assert response.status_code == 201, response.get_json()
    answer = response.get_json()
    assert set(answer) == {"id", "reference", "message_count", "updated_at"}
    assert answer["id"] == conversation_id and answer["message_count"] == 3
    assert datetime.fromisoformat(answer["updated_at"]).tzinfo is not None

    conversation, messages = _stored(db, conversation_id)
    assert conversation.public_ref == answer["reference"]
    assert (conversation.owner_ref, conversation.model_id, conversation.language) == (
        "owner-1",
        "vigil-demo-1",
        "de",
    )
    assert conversation.owner_id is None
    assert conversation.title == ""  # content-derived: never stored in the clear
    assert [(m.external_id, m.role, m.text) for m in messages] == [
        ("m0", "user", "first"),
        ("m1", "assistant", f"second {marker}"),
        ("m2", "user", "third"),
    ]
    assert messages[1].attachment_name == "scan.png" and messages[1].attachment_size == 1234
    assert messages[0].attachment_name is None
    # At rest the column holds only sealed text (read raw, past the SealedText type).
    with db.get_bind().connect() as conn:
        raw = conn.execute(text("SELECT text FROM message ORDER BY position")).scalars().all()
    assert len(raw) == 3 and all(value.startswith("v2:") for value in raw)
    assert not any(marker in value for value in raw)


def test_a_second_put_replaces_metadata_and_messages(client, db, writer):
    conversation_id = _new_id()
    first = _put(client, conversation_id, conversation_body(texts=("a", "b", "c")), writer)
    assert first.status_code == 201
    body = conversation_body(texts=("x", "y"), model_id="vigil-demo-2", product="api")
    body["messages"] = [dict(body["messages"][1], id="m9"), body["messages"][0]]
    second = _put(client, conversation_id, body, writer)
    assert second.status_code == 200, second.get_json()
    assert second.get_json()["reference"] == first.get_json()["reference"]
    assert second.get_json()["message_count"] == 2

    conversation, messages = _stored(db, conversation_id)
    assert (conversation.model_id, conversation.product) == ("vigil-demo-2", "api")
    assert [(m.external_id, m.text, m.position) for m in messages] == [
        ("m9", "y", 0),
        ("m0", "x", 1),
    ]
    assert len(db.exec(select(Conversation)).all()) == 1
    assert len(db.exec(select(Message)).all()) == 2


def test_tokens_need_the_conversations_scope(app, client, db, writer):
    conversation_id, body = _new_id(), conversation_body()
    missing = _put(client, conversation_id, body, None)
    assert missing.status_code == 401
    assert missing.mimetype == "application/problem+json"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert _put(client, conversation_id, body, "vgl_not-a-token").status_code == 401
    reports_only = _put(client, conversation_id, body, make_token(app))
    assert reports_only.status_code == 403
    assert "conversations:write" in reports_only.get_json()["detail"]
    assert _stored(db, conversation_id)[0] is None
    # The other way round, and a token that holds both.
    assert Api(client, writer).post(report_body()).status_code == 403
    both = make_token(app, scopes=BOTH)
    assert _put(client, conversation_id, body, both).status_code == 201
    assert Api(client, both).post(report_body()).status_code == 201


def _pointers(response) -> list[str]:
    assert response.status_code == 422, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    return [error["pointer"] for error in response.get_json()["errors"]]


def _duplicated_ids():
    body = conversation_body(texts=("a", "b", "c"))
    body["messages"][2]["id"] = "m0"
    return body


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        pytest.param([1, 2], ["#"], id="not-an-object"),
        pytest.param(conversation_body(texts=("hi",) * 501), ["#/messages"], id="501-messages"),
        pytest.param(conversation_body(texts=()), ["#/messages"], id="no-messages"),
        pytest.param(
            conversation_body(texts=("ok", "é" * 32_001)), ["#/messages/1/text"], id="long-text"
        ),
        pytest.param(_duplicated_ids(), ["#/messages/0/id", "#/messages/2/id"], id="dup-ids"),
        pytest.param(conversation_body(id="conv-x"), ["#/id"], id="id-in-body"),
        pytest.param(conversation_body(product="fax"), ["#/product"], id="product"),
        pytest.param(conversation_body(model_id=""), ["#/model_id"], id="empty-model"),
        pytest.param(conversation_body(model_id="a\x00b"), ["#/model_id"], id="nul"),
        pytest.param(conversation_body(owner_id="o" * 129), ["#/owner_id"], id="long-owner"),
        pytest.param(conversation_body(title="t" * 201), ["#/title"], id="long-title"),
        pytest.param(conversation_body(language="not a tag"), ["#/language"], id="language"),
    ],
)
def test_invalid_bodies_are_422_with_pointers_and_store_nothing(client, db, writer, body, pointers):
    conversation_id = _new_id()
    assert _pointers(_put(client, conversation_id, body, writer)) == pointers
    assert db.exec(select(Conversation)).all() == []


def test_500_messages_are_accepted(client, db, writer):
    response = _put(client, _new_id(), conversation_body(texts=("hi",) * 500), writer)
    assert response.status_code == 201
    assert len(db.exec(select(Message)).all()) == 500


def test_transport_errors_store_nothing(client, db, writer):
    url, auth = f"/api/v1/conversations/{_new_id()}", {"Authorization": f"Bearer {writer}"}
    body = json.dumps(conversation_body())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = auth | ({"Content-Type": content_type} if content_type else {})
        response = client.put(url, data=body, headers=headers)
        assert response.status_code == 415, content_type
        assert response.mimetype == "application/problem+json"
    huge = json.dumps(conversation_body(texts=("x" * 30_000,) * 40)).encode()
    assert len(huge) > 1024 * 1024
    response = client.put(url, data=huge, content_type="application/json", headers=auth)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    response = client.put(url, data=b"{nope", content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert db.exec(select(Conversation)).all() == []


@pytest.mark.parametrize("bad_id", ["-starts-with-dash", "a" * 129, "white space", "ümlaut"])
def test_ids_outside_the_pattern_are_404(client, db, writer, bad_id):
    response = _put(client, bad_id, conversation_body(), writer)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert db.exec(select(Conversation)).all() == []


class Injected(RuntimeError):
    """The failure the test injects."""


def test_a_failure_mid_store_leaves_the_previous_state(client, db, writer, monkeypatch):
    conversation_id = _new_id()
    first = _put(client, conversation_id, conversation_body(texts=("a", "b")), writer)
    assert first.status_code == 201
    before = _stored(db, conversation_id)
    add_messages = privacy.conversations._add_messages

    def add_then_fail(session, **kwargs):
        add_messages(session, **kwargs)  # old rows deleted, new rows flushed...
        assert len(session.exec(select(Message)).all()) == 3
        raise Injected("disk full")  # ...and then the transaction fails

    monkeypatch.setattr(privacy.conversations, "_add_messages", add_then_fail)
    body = conversation_body(texts=("x", "y", "z"), model_id="other-model")
    response = _put(client, conversation_id, body, writer)
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"

    conversation, messages = _stored(db, conversation_id)
    assert conversation.model_id == "vigil-demo-1"
    assert [(m.external_id, m.text) for m in messages] == [("m0", "a"), ("m1", "b")]
    assert conversation.updated_at == before[0].updated_at

    # A failing first PUT leaves not even the conversation row.
    fresh = _new_id()
    assert _put(client, fresh, conversation_body(), writer).status_code == 500
    assert _stored(db, fresh)[0] is None


def test_a_conversation_known_from_a_report_gets_its_messages(app, client, db):
    token = make_token(app, scopes=BOTH)
    body = report_body()
    conversation_id = body["conversation"]["id"]
    assert Api(client, token).post(body).status_code == 201
    evidence = db.exec(select(EvidenceVersion)).one()
    conversation, messages = _stored(db, conversation_id)
    assert messages == []
    assert client.get(f"/notice/{conversation.public_ref}").status_code == 404

    put = _put(client, conversation_id, conversation_body(texts=("one", "two", "three")), token)
    assert put.status_code == 200  # the row existed (metadata only); now it holds the text
    assert put.get_json()["reference"] == conversation.public_ref
    assert [m.text for m in _stored(db, conversation_id)[1]] == ["one", "two", "three"]
    # Frozen evidence stays as it was.
    db.expire_all()
    again = db.exec(select(EvidenceVersion)).one()
    assert (again.id, again.content_hash, again.message_count) == (
        evidence.id,
        evidence.content_hash,
        2,
    )


def test_after_a_put_the_notice_form_offers_the_messages_and_freezes_them(client, db, writer):
    conversation_id = _new_id()
    put = _put(client, conversation_id, conversation_body(texts=("a", "b", "c")), writer)
    url = f"/notice/{put.get_json()['reference']}"
    page = client.get(url)
    assert page.status_code == 200
    assert 'value="m2"' in page.get_data(as_text=True)
    data = {
        "category": "harassment",
        "explanation": "message 2",
        "name": "Nora Notifier",
        "email": "nora@example.test",
        "good_faith": "y",
    }
    response = post_form(client, url, data | {"message_ids": ["m1"]}, token_from=url)
    assert response.status_code == 302
    report = db.exec(select(Report)).one()
    assert json.loads(report.message_ids) == ["m1"]
    assert db.exec(select(EvidenceVersion)).one().message_count == 3


@pytest.fixture
def tight_app(database_url, tmp_path):
    application = create_app(
        test_settings(database_url, tmp_path) | {"REPORT_LIMIT_PER_ADDRESS": "4 per minute"}
    )
    yield application
    application.extensions["vigil.engine"].dispose()


def test_unauthenticated_floods_are_limited_per_address(tight_app):
    client, body = tight_app.test_client(), conversation_body()
    for _ in range(4):
        assert _put(client, _new_id(), body, None).status_code == 401
    response = _put(client, _new_id(), body, None)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.mimetype == "application/problem+json"
    # A valid token does not lift an address's spent budget; another address is unaffected.
    token = make_token(tight_app, scopes=BOTH)
    assert _put(client, _new_id(), body, token).status_code == 429
    other = _put(client, _new_id(), body, token, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert other.status_code == 201
    with Session(tight_app.extensions["vigil.engine"]) as session:
        assert len(session.exec(select(Conversation)).all()) == 1


def _with_message(time: str | None = None, size: int | None = None):
    body = conversation_body(texts=("a", "b"))
    if time is not None:
        body["messages"][1]["created_at"] = time
    if size is not None:
        body["messages"][1]["attachment"] = {
            "name": "a.png",
            "media_type": "image/png",
            "size": size,
            "sha256": "0" * 64,
        }
    return body


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        pytest.param(_with_message("0001-01-01T00:00:00+14:00"), "#/messages/1/created_at"),
        pytest.param(_with_message("9999-12-31T23:59:59-14:00"), "#/messages/1/created_at"),
        pytest.param(_with_message("1900-01-01T00:00:00Z"), "#/messages/1/created_at"),
        pytest.param(_with_message(size=3_000_000_000), "#/messages/1/attachment/size"),
    ],
)
def test_values_postgresql_cannot_hold_are_refused_at_the_door(client, db, writer, body, pointer):
    # Issue 14: these answered 201, then broke the notice page and key rotation.
    assert _pointers(_put(client, _new_id(), body, writer)) == [pointer]
    assert db.exec(select(Conversation)).all() == []


def test_a_message_time_keeps_its_instant_on_both_databases(client, db, writer):
    external_id = _new_id()
    body = _with_message("2026-05-01T10:00:00+02:00")
    assert _put(client, external_id, body, writer).status_code == 201
    _conversation, messages = _stored(db, external_id)
    from core.timeutil import as_utc

    assert as_utc(messages[1].created_at).isoformat() == "2026-05-01T08:00:00+00:00"
