"""Feedback: told first, then stored; only assistant messages; statistics only in aggregate."""

from __future__ import annotations

from sqlmodel import Session, select

from privacy.feedback import DISCLOSURE, DISCLOSURE_OPT_OUT_WINS
from privacy.models import Feedback
from tests.factories import make_conversation, make_token
from tests.helpers import Api, post_form


def test_the_user_is_told_before_the_first_rating_and_not_after(app, client, factory):
    user = factory.make_user()
    conversation = make_conversation(app, user, texts=("question", "answer"))
    factory.login(client, user)
    page = f"/conversations/{conversation.id}"
    html = client.get(page).get_data(as_text=True)
    assert DISCLOSURE in html
    # A rating that does not come from the page with the disclosure is refused.
    refused = post_form(client, f"{page}/messages/m1/feedback", {"rating": "up"}, token_from=page)
    assert refused.status_code == 422
    assert "Read how ratings are used" in refused.get_data(as_text=True)
    stored = post_form(
        client,
        f"{page}/messages/m1/feedback",
        {"rating": "down", "comment": "wrong year", "disclosed": "override"},
        token_from=page,
    )
    assert stored.status_code == 302
    after = client.get(page).get_data(as_text=True)
    assert DISCLOSURE not in after and "you rated it" in after
    with Session(app.extensions["vigil.engine"]) as db:
        [row] = db.exec(select(Feedback)).all()
        assert (row.rating, row.comment, row.source) == ("down", "wrong year", "web")


def test_with_the_setting_off_the_disclosure_says_the_opt_out_wins(app, client, factory):
    app.config["VIGIL"]["FEEDBACK_OVERRIDES_OPT_OUT"] = False
    user = factory.make_user()
    conversation = make_conversation(app, user, texts=("question", "answer"))
    factory.login(client, user)
    html = client.get(f"/conversations/{conversation.id}").get_data(as_text=True)
    assert DISCLOSURE_OPT_OUT_WINS in html and DISCLOSURE not in html


def test_only_assistant_messages_can_be_rated_and_bad_input_is_refused(app, client, factory):
    user = factory.make_user()
    conversation = make_conversation(app, user, texts=("question", "answer"))
    factory.login(client, user)
    page = f"/conversations/{conversation.id}"
    for message_id, data in (
        ("m0", {"rating": "up"}),  # a user message
        ("m1", {"rating": "sideways"}),
        ("m1", {"rating": "up", "comment": "x" * 2001}),
        ("nope", {"rating": "up"}),
    ):
        response = post_form(
            client,
            f"{page}/messages/{message_id}/feedback",
            {**data, "disclosed": "override"},
            token_from=page,
        )
        assert response.status_code == 422, (message_id, data)
    with Session(app.extensions["vigil.engine"]) as db:
        assert db.exec(select(Feedback)).all() == []


def test_feedback_from_the_api_needs_the_disclosure_and_replaces_the_last_rating(app, client):
    headers = Api(client, make_token(app, scopes=("conversations:write",))).headers()
    body = {
        "owner_id": "o-1",
        "model_id": "m",
        "product": "chat",
        "messages": [
            {"id": "q", "role": "user", "text": "hi", "created_at": "2026-11-30T09:00:00Z"},
            {"id": "a", "role": "assistant", "text": "yo", "created_at": "2026-11-30T09:00:01Z"},
        ],
    }
    assert client.put("/api/v1/conversations/c1", json=body, headers=headers).status_code == 201
    url = "/api/v1/conversations/c1/messages/a/feedback"
    missing = client.put(url, json={"rating": "up"}, headers=headers)
    assert missing.status_code == 422
    assert missing.get_json()["errors"][0]["pointer"] == "#/disclosure_shown"
    for rating in ("up", "down"):
        ok = client.put(url, json={"rating": rating, "disclosure_shown": True}, headers=headers)
        assert ok.status_code == 200 and ok.get_json()["rating"] == rating
    user_message = client.put(
        "/api/v1/conversations/c1/messages/q/feedback",
        json={"rating": "up", "disclosure_shown": True},
        headers=headers,
    )
    assert user_message.status_code == 422
    unknown = client.put(
        "/api/v1/conversations/c-none/messages/a/feedback",
        json={"rating": "up", "disclosure_shown": True},
        headers=headers,
    )
    assert unknown.status_code == 404
    with Session(app.extensions["vigil.engine"]) as db:
        [row] = db.exec(select(Feedback)).all()
        assert row.rating == "down" and row.source == "api"


def test_feedback_statistics_are_aggregated_with_small_cells_suppressed(app, client):
    import json

    headers = Api(client, make_token(app, scopes=("conversations:write",))).headers()
    plan = {"model-a": {"up": 12, "down": 3}, "model-b": {"up": 10}}
    n = 0
    for model, ratings in plan.items():
        for rating, count in ratings.items():
            for _ in range(count):
                n += 1
                body = {
                    "owner_id": f"o-{n}",
                    "model_id": model,
                    "product": "chat",
                    "messages": [
                        {
                            "id": "a",
                            "role": "assistant",
                            "text": "t",
                            "created_at": "2026-11-30T09:00:01Z",
                        }
                    ],
                }
                client.put(f"/api/v1/conversations/c{n}", json=body, headers=headers)
                client.put(
                    f"/api/v1/conversations/c{n}/messages/a/feedback",
                    json={
                        "rating": rating,
                        "comment": f"secret comment {n}",
                        "disclosure_shown": True,
                    },
                    headers=headers,
                )
    result = app.test_cli_runner().invoke(args=["training", "feedback-stats"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["suppressed_below"] == 10
    assert data["cells"] == [
        {"model_id": "model-a", "rating": "down", "count": None},
        {"model_id": "model-a", "rating": "up", "count": 12},
        {"model_id": "model-b", "rating": "up", "count": 10},
    ]
    assert "secret comment" not in result.output
