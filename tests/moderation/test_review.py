"""Reviewer workspace: claims, need-to-know, break-glass, every look logged first."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from access_control.models import User
from core.db import session_scope
from core.timeutil import utcnow
from moderation.review import claims
from moderation.review.models import CaseClaim
from tests.conftest import csrf_token, post_form
from tests.review_support import claim_next, log_count, make_case


def _expire_claim(app, case_id: int) -> None:
    # The test's clock: move the lease into the past instead of sleeping ten minutes.
    with session_scope(app.extensions["vigil.engine"]) as session:
        claim = session.get(CaseClaim, case_id)
        claim.lease_until = utcnow() - timedelta(seconds=1)
        session.add(claim)


def test_sixteen_concurrent_claimers_one_winner(app, factory):
    case_id = make_case(app)
    reviewers = [factory.make_user(roles=("reviewer:general",)) for _ in range(16)]
    engine = app.extensions["vigil.engine"]
    barrier = threading.Barrier(len(reviewers))
    won: list[int] = []
    errors: list[BaseException] = []

    def attempt(reviewer: User) -> None:
        try:
            barrier.wait()
            with session_scope(engine) as session:
                claim = claims.claim_next(
                    session,
                    reviewer=reviewer,
                    queues=["general"],
                    lease=timedelta(minutes=10),
                    now=utcnow(),
                )
                if claim is not None:
                    won.append(claim.reviewer_id)
        except BaseException as exc:  # a crash is a failure, not a lost race
            errors.append(exc)

    threads = [threading.Thread(target=attempt, args=(r,)) for r in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(won) == 1
    with Session(engine) as session:
        assert session.get(CaseClaim, case_id).reviewer_id == won[0]


def test_expired_lease_is_reclaimed_and_old_token_gets_409(app, client, factory):
    make_case(app)
    factory.login_as(client, "reviewer:general")
    case_id, old_token = claim_next(client)
    _expire_claim(app, case_id)
    other = app.test_client()
    factory.login_as(other, "reviewer:general")
    again, new_token = claim_next(other)
    assert again == case_id and new_token != old_token
    late = post_form(
        client,
        f"/review/cases/{case_id}/decision",
        {"token": old_token, "outcome": "remove"},
        token_from="/account",
    )
    assert late.status_code == 409
    fresh = post_form(
        other,
        f"/review/cases/{case_id}/decision",
        {"token": new_token, "outcome": "remove", "labels": "scam_fraud"},
        token_from="/account",
    )
    assert fresh.status_code == 302


def test_a_reassignment_racing_a_decision_waits_and_then_finds_the_case_closed(
    app, factory, monkeypatch
):
    import time

    from moderation.intake.models import Case
    from moderation.review import claims as claims_module
    from moderation.review import decisions as review_service
    from moderation.review.models import CaseDecision, Outcome

    engine = app.extensions["vigil.engine"]
    case_id = make_case(app)
    deciding, covering = (factory.make_user(roles=("reviewer:general",)) for _ in range(2))
    admin = factory.make_user(roles=("admin",))
    with session_scope(engine) as session:
        token = claims.claim_next(
            session,
            reviewer=deciding,
            queues=["general"],
            lease=timedelta(minutes=10),
            now=utcnow(),
        ).token
    checked = threading.Event()
    real = claims_module.require_claim

    def slow_after_check(session, **kwargs):
        claim = real(session, **kwargs)
        checked.set()  # the decision has checked its token; now the admin moves the case
        time.sleep(1.5)
        return claim

    monkeypatch.setattr(claims_module, "require_claim", slow_after_check)
    errors: list[BaseException] = []

    def decide() -> None:
        try:
            with session_scope(engine) as session:
                review_service.decide_case(
                    session,
                    case=session.get(Case, case_id),
                    reviewer=deciding,
                    token=token,
                    outcome=sorted(Outcome)[0],
                    labels=[],
                    now=utcnow(),
                )
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=decide)
    worker.start()
    assert checked.wait(timeout=30)
    with pytest.raises(claims.ClaimConflict), session_scope(engine) as session:
        claims.reassign(
            session,
            actor=admin,
            case=session.get(Case, case_id),
            to=covering,
            lease=timedelta(minutes=10),
            now=utcnow(),
            reason="cover",
        )
    worker.join(timeout=60)
    assert errors == []
    with Session(engine) as session:
        assert session.get(Case, case_id).state == "closed"
        assert session.get(CaseClaim, case_id) is None  # nobody holds a closed case
        decisions = session.exec(select(CaseDecision)).all()
        assert [d.reviewer_id for d in decisions] == [deciding.id]


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


def _csrf(client, case_id: int) -> str:
    html = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    return html.split('name="csrf-token" content="')[1].split('"')[0]


def _grant_id(app) -> int:
    from moderation.review.models import BreakGlassGrant

    with Session(app.extensions["vigil.engine"]) as session:
        return session.exec(select(BreakGlassGrant.id)).one()


def test_viewer_cap_requires_break_glass(app, client, factory):
    app.config["VIGIL"]["VIEWER_CAP"] = 2
    case_id = make_case(app)
    for _ in range(2):  # two reviewers see it in turn, each releasing it after
        other = app.test_client()
        factory.login_as(other, "reviewer:general")
        got, token = claim_next(other)
        assert got == case_id
        post_form(
            other, f"/review/cases/{case_id}/release", {"token": token}, token_from="/account"
        )
    third = factory.login_as(client, "reviewer:general")
    post_form(client, "/review/next", {}, token_from="/account")  # claims it, cap still holds
    refused = client.get(f"/review/cases/{case_id}")
    assert refused.status_code == 403
    assert b"break-glass" in refused.data
    post_form(
        client,
        f"/review/cases/{case_id}/break-glass",
        {"reason": "third opinion"},
        token_from="/account",
    )
    admin = app.test_client()
    factory.login_as(admin, "admin")
    post_form(admin, f"/review/break-glass/{_grant_id(app)}/approve", {}, token_from="/account")
    assert client.get(f"/review/cases/{case_id}").status_code == 200
    assert (
        log_count(
            app,
            case_id=str(case_id),
            actor_id=third.id,
            decision="allowed",
            reason_code="BREAK_GLASS",
        )
        == 1
    )


def test_break_glass_needs_a_second_person_and_expires(app, client, factory):
    from moderation.review.models import BreakGlassGrant

    case_id = make_case(app)
    holder = app.test_client()
    factory.login_as(holder, "reviewer:general")
    claim_next(holder)
    outsider = factory.login_as(client, "reviewer:general")
    assert client.get(f"/review/cases/{case_id}").status_code == 403
    post_form(
        client,
        f"/review/cases/{case_id}/break-glass",
        {"reason": "user at risk"},
        token_from="/account",
    )
    grant_id = _grant_id(app)
    self_approve = post_form(
        client, f"/review/break-glass/{grant_id}/approve", {}, token_from="/account"
    )
    assert self_approve.status_code == 403
    assert client.get(f"/review/cases/{case_id}").status_code == 403
    approver = app.test_client()
    factory.login_as(approver, "specialist:child_safety")
    assert (
        post_form(
            approver, f"/review/break-glass/{grant_id}/approve", {}, token_from="/account"
        ).status_code
        == 302
    )
    assert client.get(f"/review/cases/{case_id}").status_code == 200
    assert (
        log_count(
            app,
            case_id=str(case_id),
            actor_id=outsider.id,
            decision="allowed",
            reason_code="BREAK_GLASS",
        )
        == 1
    )
    auditor = app.test_client()
    factory.login_as(auditor, "auditor")
    flagged = auditor.get(f"/audit/cases/{case_id}").get_data(as_text=True)
    assert "\u26a0 BREAK_GLASS" in flagged and 'class="decision-allowed break-glass"' in flagged
    with session_scope(app.extensions["vigil.engine"]) as session:
        row = session.get(BreakGlassGrant, grant_id)
        row.expires_at = utcnow() - timedelta(seconds=1)
        session.add(row)
    assert client.get(f"/review/cases/{case_id}").status_code == 403


def test_an_approver_cannot_approve_their_own_break_glass_request(app, client, factory):
    # The requester holds the approve permission (a specialist), so only the self-approval
    # rule can refuse here.
    case_id = make_case(app, category="child_sexual_abuse")
    holder = app.test_client()
    factory.login_as(holder, "specialist:child_safety")
    claim_next(holder)
    factory.login_as(client, "specialist:child_safety")
    post_form(
        client,
        f"/review/cases/{case_id}/break-glass",
        {"reason": "second look"},
        token_from="/account",
    )
    grant_id = _grant_id(app)
    own = post_form(client, f"/review/break-glass/{grant_id}/approve", {}, token_from="/account")
    assert own.status_code == 403
    assert client.get(f"/review/cases/{case_id}").status_code == 403
    colleague = app.test_client()
    factory.login_as(colleague, "specialist:child_safety")
    approved = post_form(
        colleague, f"/review/break-glass/{grant_id}/approve", {}, token_from="/account"
    )
    assert approved.status_code == 302
    assert client.get(f"/review/cases/{case_id}").status_code == 200


HOSTILE = (
    '<script>alert("x")</script>',
    '"><img src=x onerror=alert(1)>',
    "[click me](javascript:alert(1)) https://evil.example",
    "invoice\u202egpj.exe and pay\u200bpal\u200d",
)


def _assert_safe(html: str) -> None:
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;" in html and "&#34;&gt;&lt;img" in html
    assert 'href="javascript:' not in html and 'href="https://evil' not in html
    assert "[RLO]" in html and "[ZWSP]" in html and "[ZWJ]" in html
    assert "\u202e" not in html


def test_hostile_text_is_escaped_when_revealed_and_unblurred(app, client, factory):
    make_case(app, texts=HOSTILE)
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    blurred = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "alert" not in blurred and "evil.example" not in blurred  # not sent until revealed
    csrf = {"X-CSRFToken": _csrf(client, case_id)}
    revealed = "".join(
        client.post(f"/review/cases/{case_id}/reveal/{i}", headers=csrf).json["html"]
        for i in range(len(HOSTILE))
    )
    _assert_safe(revealed)
    assert client.post(f"/review/cases/{case_id}/reveal/99", headers=csrf).status_code == 404
    post_form(client, "/review/preferences", {}, token_from="/account")  # blur off
    _assert_safe(client.get(f"/review/cases/{case_id}").get_data(as_text=True))


def test_hostile_attachment_name_is_escaped_and_its_hidden_characters_shown(app, client, factory):
    from tests.intake_support import Api, make_token, report_body

    body = report_body(reporter_id="att")
    body["conversation"]["messages"][1]["attachment"] = {
        "name": '"><b>x</b>invoice\u202egpj.exe\u200b',
        "media_type": "application/octet-stream",
        "size": 10,
        "sha256": "ab" * 32,
    }
    assert Api(app.test_client(), make_token(app)).post(body).status_code == 201
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    html = client.get(f"/review/cases/{case_id}").get_data(as_text=True)
    assert "[RLO]" in html and "[ZWSP]" in html  # shown even while the text is blurred
    assert "\u202e" not in html and "\u200b" not in html and "<b>x</b>" not in html


def test_escalation_moves_case_and_ends_claim(app, client, factory, db):
    from moderation.intake.models import Case

    make_case(app)
    factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(client)
    response = post_form(
        client,
        f"/review/cases/{case_id}/escalate",
        {"token": token, "target": "legal", "note": "possible legal order"},
        token_from="/account",
    )
    assert response.status_code == 302
    assert db.get(Case, case_id).queue == "legal"
    assert db.get(CaseClaim, case_id) is None
    assert client.get(f"/review/cases/{case_id}").status_code == 403
    legal = app.test_client()
    factory.login_as(legal, "specialist:legal")
    assert claim_next(legal)[0] == case_id


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
    from tests.intake_support import make_conversation

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
    claim_next(reviewer_client)
    page = client.get("/reports").get_data(as_text=True)
    assert "1 \u00d7 Review by the assigned moderator" in page
    assert reviewer.email not in page and reviewer.display_name not in page


def test_a_notifier_about_someone_elses_conversation_sees_no_access_counts(app, client, factory):
    from tests.intake_support import make_conversation

    conversation = make_conversation(app, factory.make_user())
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


def test_case_page_and_reveal_fail_closed_when_the_log_cannot_be_written(app, client, factory):
    from tests.audit.test_access_log_fail_closed import _break_appends

    make_case(app, texts=("hello", "[simulated scam message]"))
    factory.login_as(client, "reviewer:general")
    case_id, _ = claim_next(client)
    post_form(client, "/review/preferences", {}, token_from="/account")  # blur off: text inline
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


def _queue_refs(html: str) -> list[str]:
    return [
        line.split("<td>")[1].split("</td>")[0]
        for line in html.splitlines()
        if line.strip().startswith("<td>VC-")
    ]


def test_queue_page_filters_buckets_and_pages(app, client, factory, monkeypatch):
    from moderation.intake.models import Case
    from moderation.review import queues as queue_module

    old = make_case(app, category="harassment")
    with session_scope(app.extensions["vigil.engine"]) as session:
        case = session.get(Case, old)
        case.first_reported_at = utcnow() - timedelta(hours=30)
        case.sla_due_at = utcnow() - timedelta(hours=6)
        session.add(case)
        old_ref = case.ref
    for _ in range(4):
        make_case(app)
    factory.login_as(client, "reviewer:general")
    page = client.get("/review/queues/general").get_data(as_text=True)
    assert "5 open" in page and "4 under 1 h" in page and "1 older" in page
    assert "1 overdue" in page
    assert 'class="overdue"' in page
    only = client.get("/review/queues/general?category=harassment").get_data(as_text=True)
    assert _queue_refs(only) == [old_ref]
    none = client.get("/review/queues/general?min_reports=2").get_data(as_text=True)
    assert _queue_refs(none) == []
    monkeypatch.setattr(queue_module, "PAGE_SIZE", 2)  # walk every page: each case once
    seen, url = [], "/review/queues/general"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += _queue_refs(html)
        url = None
        if "Next page</a>" in html:
            url = html.split("Next page</a>")[0].rsplit('<a href="', 1)[1].split('"')[0]
            url = url.replace("&amp;", "&")
    assert len(seen) == 5 and len(set(seen)) == 5


def test_refresh_priorities_command_ages_open_cases(app):
    from moderation.intake.models import Case

    case_id = make_case(app)
    with session_scope(app.extensions["vigil.engine"]) as session:
        case = session.get(Case, case_id)
        before = case.priority
        case.first_reported_at = utcnow() - timedelta(hours=10)
        session.add(case)
    result = app.test_cli_runner().invoke(args=["moderation", "refresh-priorities"])
    assert result.exit_code == 0, result.output
    assert "1 open cases re-prioritised" in result.output
    with Session(app.extensions["vigil.engine"]) as session:
        assert session.get(Case, case_id).priority == before + 10


def test_bad_input_on_a_claimed_case_is_422_and_changes_nothing(app, client, factory, db):
    from moderation.intake.models import Case

    make_case(app)
    factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(client)
    base = f"/review/cases/{case_id}"
    for url, data in (
        (f"{base}/decision", {"token": token, "outcome": "vaporise"}),
        (f"{base}/decision", {"token": token, "outcome": "remove", "labels": "not_a_label"}),
        (f"{base}/escalate", {"token": token, "target": "legal", "note": ""}),
        (f"{base}/escalate", {"token": token, "target": "legal", "note": "x" * 1001}),
        (f"{base}/notes", {"token": token, "text": "x" * 4001}),
    ):
        assert post_form(client, url, data, token_from="/account").status_code == 422, url
    case = db.get(Case, case_id)
    assert (case.state, case.queue) == ("open", "general")
    assert db.get(CaseClaim, case_id).token == token  # the claim survives bad input
