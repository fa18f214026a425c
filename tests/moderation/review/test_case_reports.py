"""The reviewer reads every report's own words, reporters as stable pseudonyms, and the
subject's history; notifiers' names only for legal."""

from __future__ import annotations

from tests.factories import make_token
from tests.helpers import Api, claim_next, decision_form, post_form, report_body

CONVERSATION = "conv-subject"


def _report(api, conversation_id, reporter, description, **extra):
    body = report_body(conversation_id=conversation_id, reporter_id=reporter, **extra)
    body["description"] = description
    response = api.post(body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["reference"]


def _decide(client, case_id, token, outcome="no_action"):
    response = post_form(
        client,
        f"/review/cases/{case_id}/decision",
        decision_form(token, ground="no_violation", outcome=outcome, confirm=""),
        token_from=f"/review/cases/{case_id}",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def test_the_case_page_shows_reports_words_pseudonyms_and_history(app, client, factory):
    api = Api(app.test_client(), make_token(app, scopes=("reports:write", "conversations:write")))
    reviewer = factory.login_as(client, "reviewer:general")
    # An earlier case about another conversation of the same owner, decided.
    _report(api, "conv-earlier", "r-old", "an older complaint")
    earlier_id, token = claim_next(client)
    _decide(client, earlier_id, token)

    _report(api, CONVERSATION, "r-one", "It asks for my card number.")
    _report(
        api, CONVERSATION, "r-two", "Phishing kit, see message 2.", source_type="trusted_flagger"
    )
    _report(api, CONVERSATION, "r-one", "Same person again, still a scam.")
    case_id, _ = claim_next(client)
    html = client.get(f"/review/cases/{case_id}").get_data(as_text=True)

    for words in ("It asks for my card number.", "Phishing kit, see message 2.", "still a scam"):
        assert words in html
    # r-one is Reporter A both times, r-two is Reporter B: no loop counter.
    assert html.count('<strong class="reporter">Reporter A</strong>') == 2
    assert html.count('<strong class="reporter">Reporter B</strong>') == 1
    assert "trusted flagger" in html and "message <code>m1</code>" in html
    assert "r-one" not in html and "r-two" not in html  # pseudonyms, not ids
    history = html.split("History of this subject", 1)[1]
    assert "same owner" in history and "no_action" in history
    assert reviewer is not None


def test_notifier_contact_is_hidden_from_reviewers_and_shown_to_legal(app, client, factory):
    api = Api(app.test_client(), make_token(app, scopes=("reports:write", "conversations:write")))
    body = report_body(conversation_id=CONVERSATION)["conversation"]
    body.pop("id")
    stored = app.test_client().put(
        f"/api/v1/conversations/{CONVERSATION}", json=body, headers=api.headers()
    )
    ref = stored.get_json()["reference"]
    visitor = app.test_client()
    filed = post_form(
        visitor,
        f"/notice/{ref}",
        {
            "category": "scam_fraud",
            "explanation": "It impersonates my bank.",
            "name": "Nora Notifier",
            "email": "nora@example.test",
            "good_faith": "y",
        },
        token_from=f"/notice/{ref}",
    )
    assert filed.status_code == 302

    factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(client)
    html = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "It impersonates my bank." in html and "good faith stated" in html
    assert "Nora" not in html and "nora@example.test" not in html
    assert "given (hidden)" in html
    escalated = post_form(
        client,
        f"/review/cases/{case_id}/escalate",
        {"token": token, "target": "legal", "note": "needs legal"},
        token_from=f"/review/cases/{case_id}",
    )
    assert escalated.status_code == 302

    legal = app.test_client()
    factory.login_as(legal, "specialist:legal")
    legal_case, _ = claim_next(legal, queue="legal")
    assert legal_case == case_id
    legal_html = legal.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "Nora Notifier &lt;nora@example.test&gt;" in legal_html


def test_two_owners_without_a_reference_share_no_history(app, client, factory):
    """Conversations stored without an owner reference ("") are not one subject."""
    from tests.factories import make_conversation

    for _ in range(2):
        owner = factory.make_user()
        browser = app.test_client()
        factory.login(browser, owner)
        url = f"/conversations/{make_conversation(app, owner).id}/report"
        filed = post_form(browser, url, {"category": "scam_fraud"}, token_from=url)
        assert filed.status_code == 302
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    history = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "same owner" not in history.split("History of this subject", 1)[1]
