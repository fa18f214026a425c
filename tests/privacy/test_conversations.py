"""The user's own conversations: listing, reading, escaping; the training exclusion list."""

from __future__ import annotations

from sqlmodel import select

from core.db import session_scope
from privacy.conversations import (
    MessageDraft,
    create_conversation,
    exclude_from_training,
    is_excluded,
    upsert_external,
)
from privacy.models import Conversation, TrainingExclusion
from tests.factories import make_conversation


def test_conversations_need_sign_in(app, client, factory):
    conversation = make_conversation(app, factory.make_user())
    for url in ("/conversations", f"/conversations/{conversation.id}"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_users_see_only_their_own_conversations(app, client, factory):
    me, other = factory.make_user(), factory.make_user()
    make_conversation(app, me, title="My chat")
    theirs = make_conversation(app, other, title="Their chat")
    factory.login(client, me)
    listing = client.get("/conversations").get_data(as_text=True)
    assert "My chat" in listing and "Their chat" not in listing
    assert client.get(f"/conversations/{theirs.id}").status_code == 404
    assert client.get("/conversations/999999").status_code == 404


def test_staff_roles_do_not_open_other_peoples_conversations(app, client, factory):
    conversation = make_conversation(app, factory.make_user())
    for role in ("admin", "auditor", "reviewer:general"):
        staff_client = app.test_client()
        factory.login_as(staff_client, role)
        assert staff_client.get(f"/conversations/{conversation.id}").status_code == 404, role


def test_message_text_is_escaped_keeps_line_breaks_and_is_never_linked(app, client, factory):
    user = factory.make_user()
    text = '<script>alert("x")</script>\nline two\nsee https://phish.example/login'
    with session_scope(app.extensions["vigil.engine"]) as session:
        conversation = create_conversation(
            session,
            owner=user,
            model_id="m",
            title="<b>bold title</b>",
            messages=[
                MessageDraft(
                    role="user",
                    text=text,
                    attachment_name="scan.png",
                    attachment_media_type="image/png",
                    attachment_size=2048,
                    attachment_sha256="ab" * 32,
                )
            ],
        )
    factory.login(client, user)
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert "<b>bold title</b>" not in html and "&lt;b&gt;bold title&lt;/b&gt;" in html
    assert 'href="https://phish.example' not in html and "https://phish.example/login" in html
    # Line breaks survive in the markup; the message-text class renders them (pre-wrap).
    assert (
        '<div class="message-text">&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;\nline two'
        in html
    )
    assert "scan.png (image/png, 2048 bytes)" in html
    css = client.get("/static/css/intake.css").get_data(as_text=True)
    assert ".message-text { white-space: pre-wrap" in css


def test_conversation_page_offers_reporting_chosen_messages(app, client, factory):
    user = factory.make_user()
    conversation = make_conversation(app, user)
    factory.login(client, user)
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert f'action="/conversations/{conversation.id}/report"' in html
    assert html.count('name="message"') == 3


def test_exclusion_is_idempotent_and_carries_only_id_and_reason(app, factory, db):
    conversation = make_conversation(app, factory.make_user())
    with session_scope(app.extensions["vigil.engine"]) as session:
        assert not is_excluded(session, conversation_id=conversation.id)
        exclude_from_training(session, conversation_id=conversation.id)
        exclude_from_training(session, conversation_id=conversation.id)
    rows = db.exec(select(TrainingExclusion)).all()
    assert [(r.conversation_id, r.reason) for r in rows] == [(conversation.id, "reported")]


def test_upsert_external_finds_the_same_row_and_updates_metadata(app, db):
    with session_scope(app.extensions["vigil.engine"]) as session:
        first, created = upsert_external(session, external_id="ext-1", model_id="a", product="chat")
        assert created
    with session_scope(app.extensions["vigil.engine"]) as session:
        second, created = upsert_external(
            session, external_id="ext-1", model_id="b", product="api", owner_ref="o-1"
        )
        assert not created
    assert first.id == second.id
    row = db.exec(select(Conversation)).one()
    assert (row.model_id, row.product, row.owner_ref, row.title) == ("b", "api", "o-1", "")


HOSTILE = (
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "[click me](javascript:alert(1)) https://evil.example",
    "invoice\u202egpj.exe and pay\u200bpal\u200d",
)


def test_hostile_text_is_escaped_on_every_user_page(app, client, factory):
    from tests.factories import make_conversation

    owner = factory.make_user()
    conversation = make_conversation(app, owner, texts=HOSTILE, title="<b>t\u202eitle</b>")
    factory.login(client, owner)
    from tests.helpers import post_form

    page = f"/conversations/{conversation.id}"
    created = post_form(client, f"{page}/share", {}, token_from=page).get_data(as_text=True)
    shared = created.split('value="http://localhost', 1)[1].split('"', 1)[0]
    for url in (
        "/conversations",
        f"/conversations/{conversation.id}",
        f"/conversations/{conversation.id}/report",
        "/shares",
        shared,  # the shared copy, as a stranger sees it
    ):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html, url
        assert "<b>t" not in html and "\u202e" not in html, url
        assert 'href="javascript:' not in html and 'href="https://evil' not in html, url
        assert "[RLO]" in html, url
