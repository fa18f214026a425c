"""Need-to-know: who may open a case or a queue, refusals logged, the log before content."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from core.db import session_scope
from tests.factories import make_case
from tests.helpers import claim_next, csrf_token, log_count, post_form


def _csrf(client, case_id: int) -> str:
    html = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    return html.split('name="csrf-token" content="')[1].split('"')[0]


def test_cannot_open_unclaimed_or_someone_elses_case(app, client, factory):
    unclaimed = make_case(app)
    factory.login_as(client, "reviewer:general")
    before = log_count(app, decision="denied")
    response = client.get(f"/review/cases/{unclaimed}")
    assert response.status_code == 403
    assert b"[simulated scam message]" not in response.data
    assert log_count(app, decision="denied") == before + 1
    other = app.test_client()
    factory.login_as(other, "reviewer:general")
    case_id, _ = claim_next(other)
    assert case_id == unclaimed
    response = client.get(f"/review/cases/{case_id}")
    assert response.status_code == 403
    assert log_count(app, decision="denied", case_id=str(case_id)) == 2  # one per attempt


def test_queue_without_a_role_is_denied_and_logged(app, client, factory):
    factory.login_as(client, "reviewer:general")
    before = log_count(app, decision="denied")
    assert client.get("/review/queues/child_safety").status_code == 403
    assert log_count(app, decision="denied") == before + 1
    assert client.get("/review/queues/general").status_code == 200


def test_general_reviewer_never_gets_child_safety(app, client, factory):
    case_id = make_case(
        app, category="child_sexual_abuse", texts=("a", "[simulated CSAM placeholder]")
    )
    factory.login_as(client, "reviewer:general")
    response = post_form(client, "/review/next", {}, token_from="/account")
    assert response.headers["Location"].endswith("/review/")  # nothing in their queues
    assert client.get(f"/review/cases/{case_id}").status_code == 403
    specialist = app.test_client()
    factory.login_as(specialist, "specialist:child_safety")
    got, _ = claim_next(specialist)
    assert got == case_id


def test_every_content_response_follows_a_committed_allowed_entry(app, client, factory):
    reviewer_case = make_case(app, texts=("one", "two", "three"))
    reviewer = factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    assert case_id == reviewer_case
    assert (
        log_count(
            app, case_id=str(case_id), action="open", decision="allowed", actor_id=reviewer.id
        )
        == 1
    )
    response = client.post(
        f"/review/cases/{case_id}/reveal/1", headers={"X-CSRFToken": _csrf(client, case_id)}
    )
    assert response.status_code == 200
    assert log_count(app, case_id=str(case_id), action="reveal", decision="allowed") == 1
    # Index 1 is what the case page calls "Message 2": the entry says so, too.
    assert "Message 2" in client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert log_count(app, case_id=str(case_id), action="reveal", message=2, queue="general") == 1


REVIEW_PAGES = [
    "/review/",
    "/review/queues/general",
    "/review/queues/child_safety",
    "/review/queues/escalations",
]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("reviewer:general", [200, 200, 403, 403]),
        ("specialist:child_safety", [200, 200, 200, 200]),
        ("auditor", [403, 403, 403, 403]),
        ("admin", [200, 403, 403, 403]),  # admins see break-glass approvals, no queues
        (None, [403, 403, 403, 403]),
    ],
)
def test_review_pages_by_role(client, factory, role, expected):
    factory.login_as(client, *([role] if role else []))
    assert [client.get(url).status_code for url in REVIEW_PAGES] == expected


@pytest.mark.parametrize("role", ["auditor", "admin", None])
def test_non_reviewers_never_open_a_case(app, client, factory, role):
    case_id = make_case(app)
    user = factory.login_as(client, *([role] if role else []))
    assert client.get(f"/review/cases/{case_id}").status_code == 403
    token = csrf_token(client, "/account")  # a valid token: the refusal is the policy's
    assert (
        client.post(f"/review/cases/{case_id}/reveal/0", headers={"X-CSRFToken": token}).status_code
        == 403
    )
    for action in ("open", "reveal"):  # each refusal left its DENIED entry
        assert (
            log_count(app, case_id=str(case_id), actor_id=user.id, action=action, decision="denied")
            == 1
        ), action
    assert log_count(app, case_id=str(case_id), decision="allowed") == 0


def _table_setup(app, factory):
    case_id = make_case(app)
    holder = app.test_client()
    factory.login_as(holder, "reviewer:general")
    claim_next(holder)
    requester = factory.make_user(roles=("reviewer:general",))
    with session_scope(app.extensions["vigil.engine"]) as session:
        from moderation.intake.models import Case
        from moderation.review.break_glass import request_break_glass

        grant = request_break_glass(
            session, user=requester, case=session.get(Case, case_id), reason="table test"
        )
    return case_id, grant.id, requester.id


# role → expected status for each reviewer endpoint, called by someone not holding the claim.
ENDPOINT_TABLE = {
    "reviewer:general": {
        "open": 403,
        "reveal": 403,
        "decide": 409,
        "escalate": 409,
        "note": 409,
        "release": 409,
        "break_glass": 302,
        "approve": 403,
        "reassign": 403,
    },
    "specialist:child_safety": {
        "open": 403,
        "reveal": 403,
        "decide": 409,
        "escalate": 409,
        "note": 409,
        "release": 409,
        "break_glass": 302,
        "approve": 302,
        "reassign": 403,
    },
    "auditor": {
        "open": 403,
        "reveal": 403,
        "decide": 403,
        "escalate": 403,
        "note": 403,
        "release": 403,
        "break_glass": 403,
        "approve": 403,
        "reassign": 403,
    },
    "admin": {
        "open": 403,
        "reveal": 403,
        "decide": 403,
        "escalate": 403,
        "note": 403,
        "release": 403,
        "break_glass": 403,
        "approve": 302,
        "reassign": 302,
    },
    None: {
        "open": 403,
        "reveal": 403,
        "decide": 403,
        "escalate": 403,
        "note": 403,
        "release": 403,
        "break_glass": 403,
        "approve": 403,
        "reassign": 403,
    },
}


@pytest.mark.parametrize("role", list(ENDPOINT_TABLE), ids=lambda r: r or "end-user")
def test_reviewer_endpoints_by_role(app, client, factory, role):
    case_id, grant_id, requester_id = _table_setup(app, factory)
    factory.login_as(client, *([role] if role else []))
    csrf = {"X-CSRFToken": _csrf_any(client)}
    base = f"/review/cases/{case_id}"
    calls = {
        "open": lambda: client.get(base),
        "reveal": lambda: client.post(f"{base}/reveal/0", headers=csrf),
        "decide": lambda: client.post(
            f"{base}/decision", headers=csrf, data={"token": "stale", "outcome": "remove"}
        ),
        "escalate": lambda: client.post(
            f"{base}/escalate",
            headers=csrf,
            data={"token": "stale", "target": "legal", "note": "x"},
        ),
        "note": lambda: client.post(
            f"{base}/notes", headers=csrf, data={"token": "stale", "text": "x"}
        ),
        "release": lambda: client.post(f"{base}/release", headers=csrf, data={"token": "stale"}),
        "break_glass": lambda: client.post(
            f"{base}/break-glass", headers=csrf, data={"reason": "need it"}
        ),
        "approve": lambda: client.post(f"/review/break-glass/{grant_id}/approve", headers=csrf),
        "reassign": lambda: client.post(
            f"{base}/reassign", headers=csrf, data={"user_id": requester_id, "reason": "cover"}
        ),
    }
    got = {name: call().status_code for name, call in calls.items()}
    assert got == ENDPOINT_TABLE[role]


def _csrf_any(client) -> str:
    html = client.get("/account").get_data(as_text=True)
    return html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]


def test_reporter_sees_access_counts_without_names(app, client, factory):
    from tests.factories import make_conversation

    reporter = factory.make_user()
    conversation = make_conversation(app, reporter)
    factory.login(client, reporter)
    response = post_form(
        client,
        f"/conversations/{conversation.id}/report",
        {"category": "scam_fraud", "message_ids": ["m1"], "description": ""},
        token_from=f"/conversations/{conversation.id}/report?message_ids=m1",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    assert b"not yet viewed" in client.get("/reports").data
    reviewer_client = app.test_client()
    reviewer = factory.login_as(reviewer_client, "reviewer:general")
    case_id, _ = claim_next(reviewer_client)
    reviewer_client.get(f"/review/cases/{case_id}")  # a second page load: still one person
    page = client.get("/reports").get_data(as_text=True)
    assert "1 staff member: Review by the assigned moderator" in page
    assert reviewer.email not in page and reviewer.display_name not in page


def test_a_notifier_about_someone_elses_conversation_sees_no_access_counts(app, client, factory):
    from tests.factories import make_conversation

    conversation = make_conversation(app, factory.make_user(), title="Marta's tax questions")
    notifier = factory.make_user()
    factory.login(client, notifier)
    response = post_form(
        client,
        f"/notice/{conversation.public_ref}",
        {
            "category": "scam_fraud",
            "message_ids": ["m1"],
            "explanation": "A scam.",
            "name": "N",
            "email": "n@example.test",
            "good_faith": "y",
        },
        token_from=f"/notice/{conversation.public_ref}",
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    reviewer_client = app.test_client()
    factory.login_as(reviewer_client, "reviewer:general")
    claim_next(reviewer_client)
    page = client.get("/reports").get_data(as_text=True)
    assert "shown to the conversation's owner only" in page
    assert "Review by the assigned moderator" not in page and "not yet viewed" not in page
    # Nor its title (issue 14): only that it is someone else's conversation.
    assert "tax questions" not in page and "someone else's conversation" in page


def test_case_page_and_reveal_fail_closed_when_the_log_cannot_be_written(app, client, factory):
    from tests.audit.test_access_log_fail_closed import _break_appends

    make_case(app, texts=("hello", "[simulated scam message]"))
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    post_form(
        client, "/review/preferences", {"display": "yes"}, token_from="/account"
    )  # blur off: text inline
    csrf = {"X-CSRFToken": _csrf(client, case_id)}
    assert b"[simulated scam message]" in client.get(f"/review/cases/{case_id}").data
    _break_appends(app.extensions["vigil.engine"])
    page = client.get(f"/review/cases/{case_id}")
    assert page.status_code == 503
    assert b"simulated scam" not in page.data
    reveal = client.post(f"/review/cases/{case_id}/reveal/1", headers=csrf)
    assert reveal.status_code == 503
    assert b"simulated scam" not in reveal.data


def test_evidence_is_decrypted_only_after_its_entry_committed(app, client, factory, monkeypatch):
    import moderation.intake.evidence as evidence_store
    from audit.models import AccessEntry
    from core.db import read_only

    make_case(app)
    factory.login_as(client, "reviewer:general")
    seen: list[tuple[str, bool]] = []
    last_seq = [-1]
    real_open = evidence_store.open_evidence

    def watched_open(db, **kwargs):
        # Another connection must already see a NEW allowed entry, made for this very call:
        # it committed before the decryption.
        with Session(read_only(app.extensions["vigil.engine"])) as other:
            newest = other.exec(select(AccessEntry).order_by(AccessEntry.seq.desc())).first()
        fresh = newest is not None and newest.seq > last_seq[0] and newest.decision == "allowed"
        last_seq[0] = newest.seq if newest is not None else last_seq[0]
        seen.append((newest.action if newest else "", fresh))
        return real_open(db, **kwargs)

    monkeypatch.setattr(evidence_store, "open_evidence", watched_open)
    case_id, _ = claim_next(client)
    client.post(
        f"/review/cases/{case_id}/reveal/0", headers={"X-CSRFToken": _csrf(client, case_id)}
    )
    # open (claim), open (csrf fetch), reveal: each decrypted after its own committed entry
    assert seen == [("open", True), ("open", True), ("reveal", True)]


@pytest.mark.parametrize("role", ["auditor", None])
def test_outside_the_workspace_a_missing_case_looks_like_any_other(app, client, factory, role):
    # 403 for a real case and for a made-up id alike: nobody outside learns which ids exist.
    case_id = make_case(app)
    factory.login_as(client, role) if role else factory.login(client, factory.make_user())
    for url in (f"/review/cases/{case_id}", "/review/cases/999999"):
        assert client.get(url).status_code == 403, url
    token = csrf_token(client, "/account")
    for path in ("renew", "release", "reassign", "break-glass"):
        response = client.post(f"/review/cases/999999/{path}", data={"csrf_token": token})
        assert response.status_code == 403, path


def test_a_refused_reason_says_what_is_wrong_with_it(app, client, factory):
    make_case(app)
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    token = csrf_token(client, "/account")
    client.post(
        f"/review/cases/{case_id}/access",
        data={"csrf_token": token, "reason": "LEGAL_REQUEST", "note": ""},
    )
    page = client.get(f"/review/cases/{case_id}")
    # A claimer's look is an assigned review: a legal request needs a registered request.
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "The reason LEGAL_REQUEST does not fit this look; yours is ASSIGNED_REVIEW." in text
