"""Break-glass and the viewer cap: a second person approves, grants expire."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from core.db import session_scope
from core.timeutil import utcnow
from tests.factories import make_case
from tests.helpers import claim_next, log_count, post_form


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
            grant_id=str(_grant_id(app)),  # the entry names the grant it relied on
            queue="general",
        )
        == 1
    )


def test_a_refused_look_carries_the_justification_that_was_typed(app, client, factory):
    from audit.models import AccessEntry, AccessNote

    case_id = make_case(app)
    holder = app.test_client()
    factory.login_as(holder, "reviewer:general")
    claim_next(holder)
    outsider = factory.login_as(client, "reviewer:general")
    typed = {"reason": "ASSIGNED_REVIEW", "note": "the user wrote to support about it"}
    post_form(client, f"/review/cases/{case_id}/access", typed, token_from="/account")
    assert client.get(f"/review/cases/{case_id}").status_code == 403
    with Session(app.extensions["vigil.engine"]) as session:
        entry = session.exec(
            select(AccessEntry).where(
                AccessEntry.actor_id == outsider.id, AccessEntry.decision == "denied"
            )
        ).one()
        note = session.get(AccessNote, entry.seq)
        # Committed like an allowed look's note: salted hash on the entry, text erasable.
        assert note.text == "the user wrote to support about it"
        assert entry.note_commitment and entry.note_commitment not in note.text
        assert (entry.reason_code, entry.queue) == ("ASSIGNED_REVIEW", "general")


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


def test_break_glass_is_offered_only_where_it_could_be_approved(app, client, factory):
    case_id = make_case(app, category="child_sexual_abuse")
    factory.login_as(client, "reviewer:general")
    page = client.get(f"/review/cases/{case_id}")
    assert page.status_code == 403
    text = page.get_data(as_text=True)
    assert "ask a specialist of the child_safety queue" in text
    assert "Request break-glass access" not in text


def test_the_requester_sees_the_state_and_cannot_ask_twice_and_a_refusal_says_why(
    app, client, factory
):
    case_id = make_case(app)
    holder = app.test_client()
    factory.login_as(holder, "reviewer:general")
    claim_next(holder)
    requester = factory.login_as(client, "reviewer:general")
    base = f"/review/cases/{case_id}"
    asked = post_form(
        client, f"{base}/break-glass", {"reason": "Threat to life."}, token_from="/account"
    )
    assert asked.status_code == 302
    again = post_form(client, f"{base}/break-glass", {"reason": "Again."}, token_from="/account")
    assert again.status_code == 302
    denied = client.get(base).get_data(as_text=True)
    assert "is waiting for a second person" in denied
    assert "Request break-glass access" not in denied
    approver = app.test_client()
    factory.login_as(approver, "specialist:child_safety")
    overview = approver.get("/review/").get_data(as_text=True)
    from moderation.intake.models import Case

    with Session(app.extensions["vigil.engine"]) as db:
        ref = db.get(Case, case_id).ref
    assert ref in overview and requester.display_name in overview
    refused = post_form(
        approver,
        f"/review/break-glass/{_grant_id(app)}/refuse",
        {"reason": "A claimer is on it."},
        token_from="/review/",
    )
    assert refused.status_code == 302
    after = client.get(base).get_data(as_text=True)
    assert "was refused: A claimer is on it." in after
    from access_control.journal import AdminEvent

    with Session(app.extensions["vigil.engine"]) as db:
        events = db.exec(select(AdminEvent).where(AdminEvent.event_type == "break_glass.refused"))
        assert [e.reason for e in events] == ["A claimer is on it."]
