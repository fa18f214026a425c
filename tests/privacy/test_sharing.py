"""Share links: a frozen copy, no name unless asked, unguessable, revocable, 410 when gone."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import text
from sqlmodel import Session, select

from core.timeutil import utcnow
from moderation.intake.evidence import open_evidence
from moderation.intake.models import EvidenceVersion, Report
from privacy.models import Message, ShareLink
from tests.factories import make_conversation
from tests.helpers import post_form

LINK_RE = re.compile(r'value="(http://localhost/s/[^"]+)"')


def _share(client, conversation_id: int, **fields) -> str:
    page = f"/conversations/{conversation_id}"
    response = post_form(client, f"{page}/share", fields, token_from=page)
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    return LINK_RE.search(response.get_data(as_text=True)).group(1).removeprefix("http://localhost")


def test_a_link_shows_a_snapshot_without_later_messages_or_the_owners_name(app, client, factory):
    owner = factory.make_user(email="zora.quill@example.test")
    conversation = make_conversation(app, owner, texts=("first question", "first answer"))
    factory.login(client, owner)
    link = _share(client, conversation.id)
    # A message added after the link was made never appears on it.
    with Session(app.extensions["vigil.engine"]) as db:
        db.add(
            Message(
                conversation_id=conversation.id,
                position=2,
                external_id="m2",
                role="user",
                text="a later secret",
            )
        )
        db.commit()

    visitor = app.test_client()
    page = visitor.get(link)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "first question" in html and "first answer" in html
    assert "a later secret" not in html
    assert "zora" not in html.lower() and "Shared anonymously" in html
    assert page.headers["X-Robots-Tag"].startswith("noindex")
    assert '<meta name="robots" content="noindex' in html
    # The notice flow is reachable from the shared page itself, and reports what it shows.
    assert f'href="{link}/notice"' in html
    notice_page = visitor.get(f"{link}/notice?message=m1")
    assert notice_page.status_code == 200
    form = notice_page.get_data(as_text=True)
    assert 'value="m2"' not in form  # the later message is not offered
    filed = post_form(
        visitor,
        f"{link}/notice",
        {
            "category": "scam_fraud",
            "explanation": "It asks for card details.",
            "message_ids": ["m1"],
            "name": "Sam",
            "email": "sam@example.test",
            "good_faith": "y",
        },
        token_from=f"{link}/notice",
    )
    assert filed.status_code == 302, filed.get_data(as_text=True)[:500]
    with Session(app.extensions["vigil.engine"]) as db:
        report = db.exec(select(Report)).one()
        evidence = db.get(EvidenceVersion, report.evidence_version_id)
        document = open_evidence(db, evidence=evidence, keys=app.extensions["vigil.intake"].keys)
    assert [m["text"] for m in document["messages"]] == ["first question", "first answer"]


def test_show_my_name_is_opt_in(app, client, factory):
    owner = factory.make_user(email="zora.quill@example.test")
    conversation = make_conversation(app, owner)
    factory.login(client, owner)
    link = _share(client, conversation.id, show_name="y")
    assert "Shared by zora.quill" in app.test_client().get(link).get_data(as_text=True)


def test_revoked_and_expired_links_answer_410_and_opens_are_counted(app, client, factory):
    owner = factory.make_user()
    conversation = make_conversation(app, owner)
    factory.login(client, owner)
    revoked, expired = _share(client, conversation.id), _share(client, conversation.id, expires="1")
    visitor = app.test_client()
    assert visitor.get(revoked).status_code == 200
    assert visitor.get(revoked).status_code == 200

    listing = client.get("/shares").get_data(as_text=True)
    assert '<td class="opens">2</td>' in listing
    with Session(app.extensions["vigil.engine"]) as db:
        first, second = db.exec(select(ShareLink).order_by(ShareLink.id)).all()
        second.expires_at = utcnow() - timedelta(seconds=1)
        db.add(second)
        db.commit()
        first_id = first.id
    assert (
        post_form(client, f"/shares/{first_id}/revoke", {}, token_from="/shares").status_code == 302
    )

    for gone in (revoked, expired):
        response = visitor.get(gone)
        assert response.status_code == 410
        assert "no longer available" in response.get_data(as_text=True)
        assert visitor.get(f"{gone}/notice").status_code == 410
    assert visitor.get("/s/" + "A" * 32).status_code == 404
    states = re.findall(
        r'<td class="state">(\w+)</td>', client.get("/shares").get_data(as_text=True)
    )
    assert sorted(states) == ["expired", "revoked"]


def test_only_the_owner_can_share_or_revoke(app, client, factory):
    owner, other = factory.make_user(), factory.make_user()
    conversation = make_conversation(app, owner)
    factory.login(client, owner)
    _share(client, conversation.id)
    intruder = app.test_client()
    factory.login(intruder, other)
    page = f"/conversations/{conversation.id}"
    assert post_form(intruder, f"{page}/share", {}, token_from="/privacy").status_code == 404
    with Session(app.extensions["vigil.engine"]) as db:
        link_id = db.exec(select(ShareLink.id)).one()
    assert (
        post_form(intruder, f"/shares/{link_id}/revoke", {}, token_from="/shares").status_code
        == 404
    )


def test_the_raw_token_is_not_in_the_database(app, client, factory):
    owner = factory.make_user()
    conversation = make_conversation(app, owner, texts=("hello there", "general kenobi"))
    factory.login(client, owner)
    token = _share(client, conversation.id).removeprefix("/s/")
    assert len(token) >= 32  # 192 random bits, URL-safe base64
    with app.extensions["vigil.engine"].connect() as conn:
        rows = conn.execute(text("SELECT * FROM share_link")).all()
    dump = repr(rows)
    assert token not in dump
    assert "general kenobi" not in dump  # the frozen copy is sealed like message text


def test_a_deleted_conversations_links_answer_410(app, client, factory):
    owner = factory.make_user()
    conversation = make_conversation(app, owner, texts=("to be deleted", "ok"))
    factory.login(client, owner)
    link = _share(client, conversation.id)
    page = f"/conversations/{conversation.id}/delete"
    assert post_form(client, page, {"confirm": "y"}, token_from=page).status_code == 200
    assert app.test_client().get(link).status_code == 410
    with Session(app.extensions["vigil.engine"]) as db:
        [row] = db.exec(select(ShareLink)).all()
        assert row.revoked_at is not None and "to be deleted" not in row.snapshot
