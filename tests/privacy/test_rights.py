"""Data rights: the download holds everything listed; deletion is immediate and respects hold."""

from __future__ import annotations

import json

from sqlmodel import Session, select

from access_control.models import AccountStatus, User
from moderation.intake.models import EvidenceVersion, Report
from privacy.consent import Owner, privacy_of
from privacy.models import Conversation, Feedback, Message, ShareLink
from tests.factories import make_conversation, make_token, set_plan
from tests.helpers import Api, post_form


def _rate(client, conversation, message_id="m1", rating="up", comment="spot on"):
    page = f"/conversations/{conversation.id}"
    return post_form(
        client,
        f"{page}/messages/{message_id}/feedback",
        {"rating": rating, "comment": comment, "disclosed": "override"},
        token_from=page,
    )


def _report(client, conversation):
    page = f"/conversations/{conversation.id}/report"
    return post_form(
        client,
        page,
        {"category": "scam_fraud", "description": "a fake prize", "message_ids": ["m1"]},
        token_from=page,
    )


def test_the_download_contains_everything_listed(app, client, factory):
    user = factory.make_user(email="nia.download@example.test")
    set_plan(app, user, plan="free")
    conversation = make_conversation(app, user, title="Trip", texts=("where to go?", "Lisbon"))
    factory.login(client, user)
    post_form(client, "/privacy", {"opt_out": "y"}, token_from="/privacy")
    assert _rate(client, conversation).status_code == 302
    page = f"/conversations/{conversation.id}"
    assert post_form(client, f"{page}/share", {}, token_from=page).status_code == 200
    assert _report(client, conversation).status_code == 302

    response = client.get("/privacy/download")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    data = json.loads(response.get_data(as_text=True))

    assert data["account"]["email"] == "nia.download@example.test"
    assert data["privacy"]["plan"] == "free" and data["privacy"]["training_opt_out"] is True
    assert [c["source"] for c in data["consent_history"]] == ["admin", "web"]
    [exported] = data["conversations"]
    assert exported["title"] == "Trip"
    assert [m["text"] for m in exported["messages"]] == ["where to go?", "Lisbon"]
    assert data["share_links"][0]["state"] == "active"
    assert data["share_links"][0]["shows_name"] is False
    assert data["feedback"] == [
        {
            "conversation": conversation.public_ref,
            "message": "m1",
            "rating": "up",
            "comment": "spot on",
            "given_at": data["feedback"][0]["given_at"],
        }
    ]
    [report] = data["reports"]
    assert report["status"] == "received, waiting for review"
    assert report["conversation"] == conversation.public_ref and report["message_ids"] == ["m1"]


def test_deleting_a_conversation_erases_it_but_keeps_reported_evidence_and_says_why(
    app, client, factory
):
    user = factory.make_user()
    reported = make_conversation(app, user, texts=("bad thing", "reply"))
    plain = make_conversation(app, user, texts=("nice thing", "reply"))
    factory.login(client, user)
    assert _report(client, reported).status_code == 302
    assert _rate(client, reported).status_code == 302

    for conversation in (plain, reported):
        page = f"/conversations/{conversation.id}/delete"
        refused = post_form(client, page, {}, token_from=page)  # not confirmed
        assert refused.status_code == 200 and "Tick to confirm" in refused.get_data(as_text=True)
        done = post_form(client, page, {"confirm": "y"}, token_from=page)
        assert done.status_code == 200
        html = done.get_data(as_text=True)
        if conversation is reported:
            assert "Kept under legal hold" in html and "evidence" in html
        else:
            assert "legal hold" not in html
        assert client.get(f"/conversations/{conversation.id}").status_code == 404

    with Session(app.extensions["vigil.engine"]) as db:
        for conversation in (plain, reported):
            assert (
                db.exec(select(Message).where(Message.conversation_id == conversation.id)).all()
                == []
            )
            row = db.get(Conversation, conversation.id)
            assert row.deleted_at is not None and row.title == ""
        assert db.exec(select(Feedback)).all() == []
        # The sealed evidence of the report, and the report itself, stay.
        report = db.exec(select(Report).where(Report.conversation_id == reported.id)).one()
        assert db.get(EvidenceVersion, report.evidence_version_id) is not None
    assert "bad thing" not in client.get("/conversations").get_data(as_text=True)


def test_deleting_the_account_erases_it_and_signs_out(app, client, factory):
    user = factory.make_user(email="leaving@example.test")
    set_plan(app, user, plan="pro")
    conversation = make_conversation(app, user)
    factory.login(client, user)
    page = f"/conversations/{conversation.id}"
    post_form(client, f"{page}/share", {}, token_from=page)

    wrong = post_form(
        client,
        "/privacy/delete-account",
        {"password": "not it", "confirm": "y"},
        token_from="/privacy/delete-account",
    )
    assert "That is not your password" in wrong.get_data(as_text=True)
    done = post_form(
        client,
        "/privacy/delete-account",
        {"password": factory.password, "confirm": "y"},
        token_from="/privacy/delete-account",
    )
    assert done.status_code == 200 and "Account deleted" in done.get_data(as_text=True)
    assert client.get("/conversations").status_code in (302, 401)

    with Session(app.extensions["vigil.engine"]) as db:
        row = db.get(User, user.id)
        assert row.status == AccountStatus.DELETED
        assert "leaving" not in row.email and row.display_name == "Deleted account"
        assert all(link.revoked_at and link.snapshot == "" for link in db.exec(select(ShareLink)))
        assert db.exec(select(Message)).all() == []
    relogin = post_form(
        client, "/login", {"email": "leaving@example.test", "password": factory.password}
    )
    assert relogin.status_code == 200 and "/login" in relogin.request.path


def test_staff_accounts_are_closed_by_an_administrator_not_by_themselves(app, client, factory):
    factory.login_as(client, "reviewer:general")
    page = "/privacy/delete-account"
    refused = post_form(
        client, page, {"password": factory.password, "confirm": "y"}, token_from=page
    )
    assert "Ask an administrator" in refused.get_data(as_text=True)


def test_the_chat_backend_erases_an_owner(app, client):
    headers = Api(
        client, make_token(app, scopes=("conversations:write", "privacy:write", "reports:write"))
    ).headers()
    body = {
        "owner_id": "o-leaving",
        "model_id": "m",
        "product": "chat",
        "messages": [
            {"id": "m1", "role": "user", "text": "hi", "created_at": "2026-11-30T09:00:00Z"}
        ],
    }
    for cid in ("c-a", "c-b"):
        assert (
            client.put(f"/api/v1/conversations/{cid}", json=body, headers=headers).status_code
            == 201
        )
    client.put("/api/v1/owners/o-leaving/privacy", json={"plan": "free"}, headers=headers)
    from tests.helpers import report_body

    report = report_body(conversation_id="c-b")
    report["conversation"]["owner_id"] = "o-leaving"
    assert client.post("/api/v1/reports", json=report, headers=headers).status_code == 201

    response = client.delete("/api/v1/owners/o-leaving", headers=headers)
    assert response.status_code == 200
    data = response.get_json()
    assert data["conversations_erased"] == 2
    assert [held["conversation"] for held in data["kept_under_legal_hold"]] == ["c-b"]
    assert "evidence" in data["kept_under_legal_hold"][0]["reason"]
    with Session(app.extensions["vigil.engine"]) as db:
        assert db.exec(select(Message)).all() == []
        # Privacy settings went with it: the owner's plan is unknown again.
        assert privacy_of(db, Owner(owner_ref="o-leaving")) is None
    assert client.delete("/api/v1/conversations/c-a", headers=headers).status_code == 404
    needs_scope = Api(client, make_token(app, scopes=("reports:write",))).headers()
    assert client.delete("/api/v1/owners/o-leaving", headers=needs_scope).status_code == 403
