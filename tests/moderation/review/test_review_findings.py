"""What a strict review found, kept fixed: no way around a quarantine, no stuck four-eyes
case, no lone reversal of a severe finding, no notes surviving a purge."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from core.timeutil import utcnow
from tests.factories import make_case, make_token
from tests.helpers import Api, claim_next, decision_form, post_form, report_body
from tests.moderation.review.test_consequences import (
    CSAM_FORM,
    _case,
    _confirm,
    _decide,
    _decisions,
    _shared_api_case,
)


def _engine(app):
    return app.extensions["vigil.engine"]


def test_no_new_link_while_a_takedown_stands_and_old_links_stay_gone(app, client, factory):
    owner, conversation_id, link = _shared_api_case(app, factory)
    factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(client)
    assert _decide(client, case_id, token, outcome="no_action").status_code == 302
    sharer = app.test_client()
    factory.login(sharer, owner)
    page = f"/conversations/{conversation_id}"
    again = post_form(sharer, f"{page}/share", {}, token_from=page)
    assert again.status_code == 422 and "cannot be shared" in again.text
    assert app.test_client().get(f"/s/{link}").status_code == 410


def test_an_overturn_restores_only_the_links_its_own_decision_took_down(app, factory):
    from privacy.models import ShareLink
    from privacy.sharing import restore_links_of, revoke_links_of

    _owner, conversation_id, _link = _shared_api_case(app, factory)
    with Session(_engine(app)) as db:
        revoke_links_of(db, conversation_id=conversation_id, ref="VC-OTHERCASE")
        restore_links_of(db, conversation_id=conversation_id, ref="VC-THISCASE")
        db.commit()
        assert all(link.revoked_at is not None for link in db.exec(select(ShareLink)))


def test_a_severe_escalated_case_can_be_confirmed_by_a_second_specialist(app, factory):
    case_id = make_case(app)
    first = app.test_client()
    factory.login_as(first, "reviewer:general")
    _, token = claim_next(first)
    page = f"/review/cases/{case_id}"
    escalate = {"token": token, "target": "specialist", "note": "Looks like abuse."}
    assert post_form(first, f"{page}/escalate", escalate, token_from=page).status_code == 302
    specialist = app.test_client()
    factory.login_as(specialist, "specialist:child_safety")
    _, token = claim_next(specialist, "escalations")
    assert _decide(specialist, case_id, token, **CSAM_FORM).status_code == 302
    assert _case(app, case_id).stage == "second_review"
    second = app.test_client()
    factory.login_as(second, "specialist:child_safety")
    claimed, token = claim_next(second, "escalations")
    assert claimed == case_id
    assert _confirm(second, case_id, token).status_code == 302
    assert _case(app, case_id).state == "closed"


def test_an_appeal_cannot_alone_reverse_a_severe_finding(app, factory):
    from moderation.intake.models import Case
    from moderation.review.appeals import file_appeal
    from moderation.review.models import Appellant
    from moderation.review.rules import ReviewRules

    case_id = make_case(app, category="child_sexual_abuse")
    first = app.test_client()
    factory.login_as(first, "specialist:child_safety")
    _, token = claim_next(first)
    assert _decide(first, case_id, token, **CSAM_FORM).status_code == 302
    second = app.test_client()
    factory.login_as(second, "specialist:child_safety")
    _, token = claim_next(second)
    assert _confirm(second, case_id, token).status_code == 302
    with app.app_context(), Session(_engine(app)) as db:
        file_appeal(
            db,
            case=db.get(Case, case_id),
            appellant=Appellant.AFFECTED,
            appellant_key="owner:owner-1",
            statement="It was a news report.",
            channel="api",
            now=utcnow(),
            rules=ReviewRules(),
        )
        db.commit()
    case = _case(app, case_id)
    assert (case.queue, case.stage) == ("child_safety", "appeal")  # stays with specialists
    third = app.test_client()
    factory.login_as(third, "specialist:child_safety")
    _, token = claim_next(third)
    page = f"/review/cases/{case_id}"
    form = decision_form(
        token,
        appeal_outcome="overturned",
        ground="no_violation",
        outcome="no_action",
        labels=[],
        legal_ground="",
        explanation="",
        facts="The text reports a court case; it shows no abuse.",
    )
    assert post_form(third, f"{page}/appeal-decision", form, token_from=page).status_code == 302
    case = _case(app, case_id)
    assert (case.state, case.stage) == ("open", "second_review")
    assert case.quarantined_at is not None  # nothing reversed by one person
    fourth = app.test_client()
    factory.login_as(fourth, "specialist:child_safety")
    _, token = claim_next(fourth)
    assert _confirm(fourth, case_id, token).status_code == 302
    case = _case(app, case_id)
    assert case.state == "closed" and case.quarantined_at is None
    from moderation.review.appeals import appeals_of

    with Session(_engine(app)) as db:
        assert [a.outcome for a in appeals_of(db, case_id=case_id)] == ["overturned"]
    assert [d.kind for d in _decisions(app, case_id)][-2:] == ["appeal", "second_review"]


def test_legal_cannot_lift_a_quarantine_hold(app, factory):
    case_id = make_case(app)
    reviewer = app.test_client()
    factory.login_as(reviewer, "reviewer:general")
    _, token = claim_next(reviewer)
    assert _decide(reviewer, case_id, token).status_code == 302
    legal = app.test_client()
    factory.login_as(legal, "specialist:legal")
    page = f"/review/cases/{case_id}/holds"
    assert 'name="lift"' not in legal.get(page).text
    from moderation.review.models import LegalHold

    with Session(_engine(app)) as db:
        hold = db.exec(select(LegalHold)).one()
    lifted = post_form(legal, page, {"lift": hold.id, "reason": "done"}, token_from=page)
    assert lifted.status_code == 422 and "quarantine hold" in lifted.text
    big = post_form(legal, page, {"lift": "99999999999", "reason": "x"}, token_from=page)
    assert big.status_code == 422


def test_a_report_during_an_appeal_opens_a_case_of_its_own(app, factory):
    from moderation.intake.models import Case

    api = Api(app.test_client(), make_token(app, scopes=("reports:write", "conversations:write")))
    ref = api.post(report_body(conversation_id="conv-during")).json["reference"]
    reviewer = app.test_client()
    factory.login_as(reviewer, "reviewer:general")
    case_id, token = claim_next(reviewer)
    assert _decide(reviewer, case_id, token).status_code == 302
    appeal = api.client.post(
        f"/api/v1/reports/{ref}/appeal", json={"statement": "Again."}, headers=api.headers()
    )
    assert appeal.status_code == 201
    body = report_body(conversation_id="conv-during", category="child_sexual_abuse")
    body["reporter_id"] = "someone-else"
    assert api.post(body).status_code == 201
    with Session(_engine(app)) as db:
        cases = db.exec(select(Case).order_by(Case.id)).all()
    assert [(c.queue, c.stage) for c in cases] == [
        ("appeals", "appeal"),
        ("child_safety", "review"),
    ]
    assert cases[1].previous_case_id == cases[0].id


def test_the_data_download_works_after_a_decision(app, factory):
    from tests.moderation.review.test_consequences import _reporter_case

    _user, reporter, _case_id, _decider = _reporter_case(app, factory)
    download = reporter.get("/privacy/download")
    assert download.status_code == 200
    assert "decided: action taken" in download.get_data(as_text=True)


def test_a_decision_notice_without_a_final_decision_is_404(app, factory):
    _owner, _cid, _link = _shared_api_case(app, factory)
    owner_client = app.test_client()
    factory.login(owner_client, _owner)
    case = _case(app, 1)
    assert owner_client.get(f"/decisions/{case.ref}").status_code == 404


def test_typed_timeline_text_is_withheld_from_auditors_and_purged(app, factory):
    from moderation.review.models import CaseEvent
    from moderation.review.retention import purge_expired
    from moderation.review.rules import ReviewRules

    case_id = make_case(app)
    reviewer = app.test_client()
    factory.login_as(reviewer, "reviewer:general")
    _, token = claim_next(reviewer)
    page = f"/review/cases/{case_id}"
    note = {"token": token, "text": "The second message quotes the scam text verbatim."}
    assert post_form(reviewer, f"{page}/notes", note, token_from=page).status_code == 302
    form = decision_form(token, ground="no_violation", outcome="no_action", labels=[])
    form.update(legal_ground="", explanation="")
    assert post_form(reviewer, f"{page}/decision", form, token_from=page).status_code == 302
    auditor = app.test_client()
    factory.login_as(auditor, "auditor")
    events = auditor.get(f"{page}/events").text
    assert "quotes the scam" not in events and "characters, not shown" in events
    with Session(_engine(app)) as db:
        later = utcnow() + timedelta(days=200)
        assert len(purge_expired(db, now=later, rules=ReviewRules())) == 1
        db.commit()
        notes = db.exec(select(CaseEvent.detail).where(CaseEvent.kind == "note")).all()
    assert notes == [""]


def test_ids_beyond_what_postgresql_holds_are_404_not_500(app, client, factory):
    factory.login_as(client, "reviewer:general")
    for url in ("/review/cases/99999999999", "/review/cases/99999999999/events"):
        assert client.get(url).status_code in (403, 404)
    nothing = post_form(client, "/review/next", {"skip": "99999999999"}, token_from="/account")
    assert nothing.status_code == 302


def test_an_appellant_cannot_appeal_the_same_decision_twice(app, factory):
    api = Api(app.test_client(), make_token(app))
    ref = api.post(report_body(conversation_id="conv-twice")).json["reference"]
    reviewer = app.test_client()
    factory.login_as(reviewer, "reviewer:general")
    case_id, token = claim_next(reviewer)
    assert _decide(reviewer, case_id, token).status_code == 302

    def appeal():
        return api.client.post(
            f"/api/v1/reports/{ref}/appeal", json={"statement": "No."}, headers=api.headers()
        )

    assert appeal().status_code == 201
    judge = app.test_client()
    factory.login_as(judge, "reviewer:appeals")
    _, token = claim_next(judge, "appeals")
    page = f"/review/cases/{case_id}"
    upheld = {"token": token, "appeal_outcome": "upheld", "note": "The card request is real."}
    assert post_form(judge, f"{page}/appeal-decision", upheld, token_from=page).status_code == 302
    again = appeal()
    assert again.status_code == 409 and "already decided" in again.get_json()["detail"]
