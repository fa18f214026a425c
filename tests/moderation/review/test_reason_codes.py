"""Every reason code a reviewer can pick has a real flow behind it: the role it is meant for
opens the case with it (logged under that code), and roles it is not meant for cannot."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from audit.reasons import ReasonCode
from tests.factories import make_case
from tests.helpers import claim_next, csrf_token, decision_form, post_form


def _logged(app, case_id, user) -> set[str]:
    from audit.models import AccessEntry

    with Session(app.extensions["vigil.engine"]) as db:
        rows = db.exec(
            select(AccessEntry.reason_code).where(
                AccessEntry.case_id == str(case_id),
                AccessEntry.actor_id == user.id,
                AccessEntry.decision == "allowed",
            )
        ).all()
    return set(rows)


def _choose(client, case_id, reason, note=""):
    token = csrf_token(client, "/account")
    client.post(
        f"/review/cases/{case_id}/access",
        data={"csrf_token": token, "reason": reason, "note": note},
    )


def _decided(app, factory, category="scam_fraud"):
    case_id = make_case(app, category=category)
    client = app.test_client()
    decider = factory.login_as(client, "reviewer:general")
    _, token = claim_next(client)
    page = f"/review/cases/{case_id}"
    assert (
        post_form(client, f"{page}/decision", decision_form(token), token_from=page).status_code
        == 302
    )
    return case_id, decider


def _ref(app, case_id):
    from moderation.intake.models import Case

    with Session(app.extensions["vigil.engine"]) as db:
        return db.get(Case, case_id).ref


def assigned_review(app, factory):
    case_id = make_case(app)
    client = app.test_client()
    user = factory.login_as(client, "reviewer:general")
    claim_next(client)
    return client, user, case_id


def second_review(app, factory):
    case_id = make_case(app, category="child_sexual_abuse")
    first = app.test_client()
    factory.login_as(first, "specialist:child_safety")
    _, token = claim_next(first)
    page = f"/review/cases/{case_id}"
    form = decision_form(token, labels=["child_sexual_abuse"])
    assert post_form(first, f"{page}/decision", form, token_from=page).status_code == 302
    client = app.test_client()
    user = factory.login_as(client, "specialist:child_safety")
    assert claim_next(client)[0] == case_id
    return client, user, case_id


def appeal_review(app, factory):
    from core.timeutil import utcnow
    from moderation.intake.models import Case
    from moderation.review.appeals import file_appeal
    from moderation.review.models import Appellant
    from moderation.review.rules import ReviewRules

    case_id, _ = _decided(app, factory)
    with Session(app.extensions["vigil.engine"]) as db, app.app_context():
        file_appeal(
            db,
            case=db.get(Case, case_id),
            appellant=Appellant.AFFECTED,
            appellant_key="owner:owner-1",
            statement="Wrong.",
            channel="api",
            now=utcnow(),
            rules=ReviewRules(),
        )
        db.commit()
    client = app.test_client()
    user = factory.login_as(client, "reviewer:appeals")
    assert claim_next(client, "appeals")[0] == case_id
    return client, user, case_id


def specialist_escalation(app, factory):
    case_id = make_case(app)
    first = app.test_client()
    factory.login_as(first, "reviewer:general")
    _, token = claim_next(first)
    page = f"/review/cases/{case_id}"
    form = {"token": token, "target": "specialist", "note": "Needs a specialist."}
    assert post_form(first, f"{page}/escalate", form, token_from=page).status_code == 302
    client = app.test_client()
    user = factory.login_as(client, "specialist:child_safety")
    assert claim_next(client, "escalations")[0] == case_id
    return client, user, case_id


def break_glass(app, factory):
    case_id = make_case(app)
    holder = app.test_client()
    factory.login_as(holder, "reviewer:general")
    claim_next(holder)
    client = app.test_client()
    user = factory.login_as(client, "reviewer:general")
    page = f"/review/cases/{case_id}"
    asked = post_form(
        client,
        f"{page}/break-glass",
        {"reason": "Urgent: a threat to life."},
        token_from="/account",
    )
    assert asked.status_code == 302
    from moderation.review.models import BreakGlassGrant

    with Session(app.extensions["vigil.engine"]) as db:
        grant = db.exec(select(BreakGlassGrant)).one()
    approver = app.test_client()
    factory.login_as(approver, "specialist:child_safety")
    approved = post_form(
        approver, f"/review/break-glass/{grant.id}/approve", {}, token_from="/account"
    )
    assert approved.status_code == 302
    return client, user, case_id


def legal_request(app, factory):
    case_id, _ = _decided(app, factory)
    client = app.test_client()
    user = factory.login_as(client, "specialist:legal")
    form = {"case_ref": _ref(app, case_id), "reference": "Court order 4 O 77/26"}
    sent = post_form(client, "/review/legal-requests", form, token_from="/review/legal-requests")
    assert sent.status_code == 302
    return client, user, case_id


def qa_sample(app, factory):
    case_id, _ = _decided(app, factory)
    client = app.test_client()
    user = factory.login_as(client, "qa")
    assert post_form(client, "/review/qa", {}, token_from="/review/qa").status_code == 302
    assert _ref(app, case_id) in client.get("/review/qa").text
    return client, user, case_id


FLOWS = {
    ReasonCode.ASSIGNED_REVIEW: assigned_review,
    ReasonCode.SECOND_REVIEW: second_review,
    ReasonCode.APPEAL_REVIEW: appeal_review,
    ReasonCode.SPECIALIST_ESCALATION: specialist_escalation,
    ReasonCode.BREAK_GLASS: break_glass,
    ReasonCode.LEGAL_REQUEST: legal_request,
    ReasonCode.QA_SAMPLE: qa_sample,
}


def test_every_reason_code_has_a_flow():
    assert set(FLOWS) == set(ReasonCode)


@pytest.mark.parametrize("reason", list(FLOWS), ids=str)
def test_each_reason_code_works_for_its_role(app, factory, reason):
    client, user, case_id = FLOWS[reason](app, factory)
    _choose(client, case_id, reason.value)
    page = client.get(f"/review/cases/{case_id}")
    assert page.status_code == 200, page.text[:800]
    assert f"({reason.value})" in page.text
    assert reason.value in _logged(app, case_id, user)
    if reason in (ReasonCode.QA_SAMPLE, ReasonCode.LEGAL_REQUEST):
        assert 'id="decision-form"' not in page.text  # read-only: no claim, no decision


@pytest.mark.parametrize(
    "role, url",
    [
        ("reviewer:general", "/review/qa"),
        ("admin", "/review/qa"),
        ("reviewer:general", "/review/legal-requests"),
        ("qa", "/review/legal-requests"),
        ("auditor", "/review/legal-requests"),
    ],
)
def test_the_oversight_doors_are_for_their_roles_only(app, client, factory, role, url):
    factory.login_as(client, role)
    assert client.get(url).status_code == 403


def test_qa_cannot_open_a_case_it_did_not_draw(app, client, factory):
    case_id, _ = _decided(app, factory)
    factory.login_as(client, "qa")
    _choose(client, case_id, "QA_SAMPLE")
    assert client.get(f"/review/cases/{case_id}").status_code == 403


def test_a_reason_that_does_not_fit_is_refused_and_logged(app, factory):
    client, _user, case_id = assigned_review(app, factory)
    _choose(client, case_id, "QA_SAMPLE")
    page = client.get(f"/review/cases/{case_id}")
    assert page.status_code == 403
    assert "does not fit this look" in page.text
