"""Decisions with consequences, through the HTTP surface: four-eyes on the severest
categories, quarantine (training, links, holds), appeals, retention, and a flow behind every
reason code a reviewer can pick."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

from tests.factories import make_case, make_token
from tests.helpers import Api, claim_next, decision_form, post_form, report_body

CSAM_FORM = {
    "labels": ["child_sexual_abuse"],
    "legal_ground": "Directive 2011/93/EU, Art. 5 (child sexual abuse material)",
    "explanation": "The message describes the sexual abuse of a child.",
    "facts": "Message m1 contains a simulated description; two reporters flagged it.",
}


def _engine(app):
    return app.extensions["vigil.engine"]


def _decide(client, case_id, token, **overrides):
    return post_form(
        client,
        f"/review/cases/{case_id}/decision",
        decision_form(token, **overrides),
        token_from=f"/review/cases/{case_id}",
    )


def _confirm(client, case_id, token, note=""):
    return post_form(
        client,
        f"/review/cases/{case_id}/confirm",
        {"token": token, "note": note},
        token_from=f"/review/cases/{case_id}",
    )


def _case(app, case_id):
    from moderation.intake.models import Case

    with Session(_engine(app)) as db:
        return db.get(Case, case_id)


def _decisions(app, case_id):
    from moderation.review.models import CaseDecision

    with Session(_engine(app)) as db:
        query = select(CaseDecision).where(CaseDecision.case_id == case_id)
        return db.exec(query.order_by(col(CaseDecision.id))).all()


def _reasons(app, case_id, actor_id):
    from audit.models import AccessEntry

    with Session(_engine(app)) as db:
        rows = db.exec(
            select(AccessEntry.reason_code).where(
                AccessEntry.case_id == str(case_id),
                AccessEntry.actor_id == actor_id,
                AccessEntry.decision == "allowed",
            )
        ).all()
    return set(rows)


def _statements(app):
    from datetime import date

    from moderation.review.statements import statements_since

    with app.app_context(), Session(_engine(app)) as db:
        return list(statements_since(db, date(2000, 1, 1)))


def _provisional_csam(app, factory):
    """A child-safety case decided (provisionally) by a first specialist: (case id, first)."""
    case_id = make_case(app, category="child_sexual_abuse")
    first = factory.make_user(roles=("specialist:child_safety",))
    client = app.test_client()
    factory.login(client, first)
    claimed, token = claim_next(client)
    assert claimed == case_id
    assert _decide(client, case_id, token, **CSAM_FORM).status_code == 302
    return case_id, first


def test_a_severe_decision_is_provisional_until_a_different_specialist_confirms(app, factory):
    case_id, first = _provisional_csam(app, factory)
    case = _case(app, case_id)
    assert (case.state, case.stage) == ("open", "second_review")
    assert [d.final for d in _decisions(app, case_id)] == [False]
    assert _statements(app) == []  # nothing is published, nobody is told yet

    # The first decider cannot take the case for confirmation, nor confirm it directly.
    again = app.test_client()
    factory.login(again, first)
    response = post_form(again, "/review/next", {}, token_from="/account")
    assert response.headers["Location"].endswith("/review/")
    assert _confirm(again, case_id, "any").status_code == 403

    second_user = factory.make_user(roles=("specialist:child_safety",))
    second = app.test_client()
    factory.login(second, second_user)
    claimed, token = claim_next(second)
    assert claimed == case_id
    assert "Confirm the provisional decision" in second.get(f"/review/cases/{case_id}").text
    assert _reasons(app, case_id, second_user.id) == {"SECOND_REVIEW"}
    assert _confirm(second, case_id, token, note="Agreed.").status_code == 302

    decisions = _decisions(app, case_id)
    assert [(d.kind, d.final) for d in decisions] == [
        ("first", False),
        ("second_review", True),
    ]
    assert decisions[1].reviewer_id == second_user.id
    assert decisions[1].supersedes_id == decisions[0].id
    assert _case(app, case_id).state == "closed"
    assert len(_statements(app)) == 1


def test_the_first_decider_cannot_confirm_even_while_holding_the_claim(app, factory, db):
    from core.timeutil import utcnow
    from moderation.intake.models import Case
    from moderation.review import claims
    from moderation.review.decisions import confirm_decision
    from moderation.review.rules import ReviewRules

    case_id, first = _provisional_csam(app, factory)
    now = utcnow()
    # Say a reassignment handed the first decider the claim: the service still refuses.
    claim = claims.claim_case(
        db, case_id=case_id, reviewer=first, lease=timedelta(minutes=5), now=now
    )
    with app.test_request_context(), pytest.raises(claims.ClaimConflict, match="second specialist"):
        confirm_decision(
            db,
            case=db.get(Case, case_id),
            reviewer=first,
            token=claim.token,
            note="",
            now=now,
            rules=ReviewRules(),
        )


def test_the_second_specialist_may_overturn_and_history_keeps_both(app, factory):
    case_id, _first = _provisional_csam(app, factory)
    second = app.test_client()
    factory.login_as(second, "specialist:child_safety")
    _, token = claim_next(second)
    response = _decide(
        second,
        case_id,
        token,
        ground="no_violation",
        outcome="no_action",
        labels=[],
        legal_ground="",
        explanation="",
        facts="The text is a news summary about a court case, not abuse material.",
    )
    assert response.status_code == 302
    decisions = _decisions(app, case_id)
    assert [(d.ground, d.kind, d.final) for d in decisions] == [
        ("illegal", "first", False),
        ("no_violation", "second_review", True),
    ]
    assert _case(app, case_id).quarantined_at is None
    auditor = app.test_client()
    factory.login_as(auditor, "auditor")
    events = auditor.get(f"/review/cases/{case_id}/events").text
    for kind in ("claimed", "labelled", "decided", "overturned"):
        assert f"<td>{kind}</td>" in events


def _shared_api_case(app, factory, *, category="scam_fraud"):
    """An API conversation owned by a Vigil account, with a live share link, reported."""
    from privacy.models import Conversation, Message, Plan
    from privacy.sharing import create_link
    from tests.factories import set_plan

    owner = factory.make_user()
    api = Api(app.test_client(), make_token(app))
    body = report_body(conversation_id="conv-q", category=category)
    assert api.post(body).status_code == 201
    with Session(_engine(app)) as db:
        conversation = db.exec(select(Conversation)).one()
        conversation.owner_id = owner.id
        db.add(
            Message(
                conversation_id=conversation.id,
                position=0,
                external_id="m0",
                role="user",
                text="hi",
            )
        )
        db.flush()
        _link, token = create_link(
            db, conversation=conversation, owner=owner, show_name=False, expires_in_days=None
        )
        conversation_id = conversation.id
        db.commit()
    set_plan(app, owner, plan=Plan.FREE.value)
    return owner, conversation_id, token


def test_a_final_illegal_decision_quarantines_links_training_and_evidence(
    app, client, factory, tmp_path
):
    from core.timeutil import utcnow
    from moderation.review.holds import active_holds
    from privacy.models import TrainingExclusion
    from tests.helpers import run_training_export

    _owner, conversation_id, link_token = _shared_api_case(app, factory)
    assert client.get(f"/s/{link_token}").status_code == 200
    factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(client)
    # "No action" as the action: the illegal finding alone takes the links down.
    assert _decide(client, case_id, token, outcome="refer_to_law_enforcement").status_code == 302

    gone = app.test_client().get(f"/s/{link_token}")
    assert gone.status_code == 410
    assert "taken down after a moderation decision" in gone.text
    with Session(_engine(app)) as db:
        reasons = set(
            db.exec(
                select(TrainingExclusion.reason).where(
                    TrainingExclusion.conversation_id == conversation_id
                )
            )
        )
        holds = active_holds(db, case_id=case_id, now=utcnow())
    assert reasons == {"reported"}  # the training side never learns of the finding
    assert [h.source for h in holds] == ["quarantine"]
    assert _case(app, case_id).quarantined_at is not None
    _manifest, records = run_training_export(app, tmp_path / "export")
    assert all(r.get("conversation_id") != conversation_id for r in records)
    assert not any(conversation_id == r.get("id") for r in records)
    (statement,) = _statements(app)
    assert statement["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]


def test_child_abuse_evidence_is_held_at_least_a_year(app, factory):
    from core.timeutil import utcnow
    from moderation.review.holds import active_holds

    case_id, _first = _provisional_csam(app, factory)
    second = app.test_client()
    factory.login_as(second, "specialist:child_safety")
    _, token = claim_next(second)
    assert _confirm(second, case_id, token).status_code == 302
    with Session(_engine(app)) as db:
        (hold,) = active_holds(db, case_id=case_id, now=utcnow())
        assert hold.until.replace(tzinfo=None) >= (utcnow() + timedelta(days=364)).replace(
            tzinfo=None
        )
        assert not active_holds(db, case_id=case_id, now=utcnow() + timedelta(days=366))


def _decided_case(app, factory, **overrides):
    """A general case decided for good by a reviewer: (case id, reviewer)."""
    case_id = make_case(app)
    reviewer = factory.make_user(roles=("reviewer:general",))
    client = app.test_client()
    factory.login(client, reviewer)
    _, token = claim_next(client)
    assert _decide(client, case_id, token, **overrides).status_code == 302
    return case_id, reviewer


def test_a_purge_leaves_no_decryptable_evidence_and_a_verifiable_log(app, factory):
    from core.timeutil import utcnow
    from moderation.intake.evidence import open_evidence
    from moderation.intake.models import Case, CaseKey
    from moderation.intake.sealing import SealError
    from moderation.intake.settings import current_intake
    from moderation.review.case_view import current_evidence
    from moderation.review.retention import purge_expired
    from moderation.review.rules import ReviewRules

    quiet, _ = _decided_case(app, factory, ground="no_violation", outcome="no_action", labels=[])
    held, _ = _decided_case(app, factory)  # illegal: quarantine hold of 183 days
    rules = ReviewRules()
    with Session(_engine(app)) as db:
        # Within the appeal window nothing goes, whatever the retention says.
        assert purge_expired(db, now=utcnow() + timedelta(days=100), rules=rules) == []
        later = utcnow() + timedelta(days=184)
        assert purge_expired(db, now=later, rules=rules) == [db.get(Case, quiet).ref]
        db.commit()
        assert db.get(CaseKey, quiet) is None and db.get(CaseKey, held) is not None
        case = db.get(Case, quiet)
        with app.app_context(), pytest.raises(SealError):
            open_evidence(db, evidence=current_evidence(db, case), keys=current_intake().keys)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    page_client = app.test_client()
    factory.login_as(page_client, "auditor")
    assert "purged" in page_client.get(f"/review/cases/{quiet}/events").text
    dry = app.test_cli_runner().invoke(args=["moderation", "purge-expired", "--dry-run"])
    assert dry.exit_code == 0 and "0 case(s) would be purged" in dry.output


def test_legal_holds_are_placed_and_lifted_by_legal_only_and_stop_a_purge(app, factory):
    from core.timeutil import utcnow
    from moderation.review.retention import purge_expired
    from moderation.review.rules import ReviewRules

    case_id, _ = _decided_case(app, factory, ground="no_violation", outcome="no_action", labels=[])
    for role in ("reviewer:general", "admin", "auditor"):
        outsider = app.test_client()
        factory.login_as(outsider, role)
        assert outsider.get(f"/review/cases/{case_id}/holds").status_code == 403
    legal = app.test_client()
    factory.login_as(legal, "specialist:legal")
    page = f"/review/cases/{case_id}/holds"
    missing = post_form(legal, page, {"reason": ""}, token_from=page)
    assert missing.status_code == 422 and "Say why" in missing.text
    placed = post_form(legal, page, {"reason": "Preservation order 2026/17"}, token_from=page)
    assert placed.status_code == 302
    with Session(_engine(app)) as db:
        assert purge_expired(db, now=utcnow() + timedelta(days=400), rules=ReviewRules()) == []
        db.rollback()
    listing = legal.get(page).text
    hold_id = int(listing.split('name="lift" value="')[1].split('"')[0])
    lifted = post_form(legal, page, {"lift": hold_id, "reason": "order expired"}, token_from=page)
    assert lifted.status_code == 302
    with Session(_engine(app)) as db:
        assert len(purge_expired(db, now=utcnow() + timedelta(days=400), rules=ReviewRules())) == 1
    events = app.test_client()
    factory.login_as(events, "auditor")
    text = events.get("/admin/events").text
    assert "legal_hold.placed" in text and "legal_hold.lifted" in text


def _reporter_case(app, factory):
    """A signed-in user reports their own conversation; a reviewer decides it."""
    from tests.factories import make_conversation

    user = factory.make_user()
    conversation = make_conversation(app, user)
    reporter = app.test_client()
    factory.login(reporter, user)
    page = f"/conversations/{conversation.id}/report"
    sent = post_form(
        reporter,
        page,
        {"category": "scam_fraud", "description": "It asked for my card number."},
        token_from=page,
    )
    assert sent.status_code in (200, 302), sent.text[:300]
    case_id, decider = _decided_case_existing(app, factory)
    return user, reporter, case_id, decider


def _decided_case_existing(app, factory):
    """Decide the waiting case: illegal, share links disabled (what Vigil itself can do for
    a conversation it holds)."""
    reviewer = factory.make_user(roles=("reviewer:general", "reviewer:appeals"))
    client = app.test_client()
    factory.login(client, reviewer)
    case_id, token = claim_next(client)
    assert _decide(client, case_id, token, outcome="disable_share_links").status_code == 302
    return case_id, reviewer


def _report_ref(app, case_id):
    from moderation.intake.models import Report

    with Session(_engine(app)) as db:
        return db.exec(select(Report.ref).where(Report.case_id == case_id)).first()


def test_appeals_are_refused_to_the_deciders_and_decided_by_someone_else(app, factory):
    _user, reporter, case_id, decider = _reporter_case(app, factory)
    ref = _report_ref(app, case_id)
    outcome = reporter.get(f"/reports/{ref}")
    assert outcome.status_code == 200 and "Action taken" in outcome.text
    page = f"/reports/{ref}"
    empty = post_form(reporter, f"{page}/appeal", {"statement": ""}, token_from=page)
    assert empty.status_code == 422 and "Say why you disagree" in empty.text
    filed = post_form(
        reporter, f"{page}/appeal", {"statement": "It was a joke between friends."}, token_from=page
    )
    assert filed.status_code == 302
    assert "being reviewed" in reporter.get(page).text
    again = post_form(reporter, f"{page}/appeal", {"statement": "Again."}, token_from=page)
    assert again.status_code == 409
    case = _case(app, case_id)
    assert (case.queue, case.stage, case.state) == ("appeals", "appeal", "open")

    # The decider also works appeals, but never their own decision.
    own = app.test_client()
    factory.login(own, decider)
    nothing = post_form(own, "/review/next", {"queue": "appeals"}, token_from="/account")
    assert nothing.headers["Location"].endswith("/review/")
    assert own.get(f"/review/cases/{case_id}").status_code == 403

    third_user = factory.make_user(roles=("reviewer:appeals",))
    third = app.test_client()
    factory.login(third, third_user)
    claimed, token = claim_next(third, "appeals")
    assert claimed == case_id
    view = third.get(f"/review/cases/{case_id}").text
    assert "It was a joke between friends." in view and "Decide the appeal" in view
    assert _reasons(app, case_id, third_user.id) == {"APPEAL_REVIEW"}
    overturned = post_form(
        third,
        f"/review/cases/{case_id}/appeal-decision",
        decision_form(
            token,
            appeal_outcome="overturned",
            ground="no_violation",
            outcome="no_action",
            labels=[],
            legal_ground="",
            explanation="",
            facts="Read in context the message is banter between two friends.",
        ),
        token_from=f"/review/cases/{case_id}",
    )
    assert overturned.status_code == 302
    decisions = _decisions(app, case_id)
    assert [(d.kind, d.ground) for d in decisions] == [
        ("first", "illegal"),
        ("appeal", "no_violation"),
    ]
    case = _case(app, case_id)
    assert (case.queue, case.state, case.quarantined_at) == ("general", "closed", None)
    shown = reporter.get(page).text
    assert "overturned" in shown and "No action taken" in shown
    # The overturned decision stays on record, superseded.
    auditor = app.test_client()
    factory.login_as(auditor, "auditor")
    events = auditor.get(f"/review/cases/{case_id}/events").text
    assert "<td>appeal_decided</td>" in events and "<td>decided</td>" in events


def test_an_appeal_is_accepted_within_the_window_and_refused_after_it(app, factory, db):
    from core.timeutil import utcnow
    from moderation.intake.models import Case
    from moderation.review.appeals import AppealRefused, file_appeal
    from moderation.review.models import Appellant
    from moderation.review.rules import ReviewRules

    case_id, _ = _decided_case(app, factory)
    rules, case = ReviewRules(), db.get(Case, case_id)
    with pytest.raises(AppealRefused, match="possible until"):
        file_appeal(
            db,
            case=case,
            appellant=Appellant.AFFECTED,
            appellant_key="owner:x",
            statement="Too late?",
            channel="api",
            now=utcnow() + timedelta(days=184),
            rules=rules,
        )
    appeal = file_appeal(
        db,
        case=case,
        appellant=Appellant.AFFECTED,
        appellant_key="owner:x",
        statement="Within six months.",
        channel="api",
        now=utcnow() + timedelta(days=182),
        rules=rules,
    )
    assert appeal.ref.startswith("VA-")


def test_the_affected_user_reads_the_statement_and_appeals_on_the_web(app, factory):
    owner, _conversation_id, _link = _shared_api_case(app, factory)
    case_id, _ = _decided_case_existing(app, factory)
    case = _case(app, case_id)
    client = app.test_client()
    factory.login(client, owner)
    listing = client.get("/decisions").text
    assert case.ref in listing
    notice = client.get(f"/decisions/{case.ref}")
    assert notice.status_code == 200
    assert "Directive (EU) 2019/713" in notice.text and "Statement of reasons" in notice.text
    stranger = app.test_client()
    factory.login_as(stranger)
    assert stranger.get(f"/decisions/{case.ref}").status_code == 404
    page = f"/decisions/{case.ref}"
    filed = post_form(client, f"{page}/appeal", {"statement": "Not mine."}, token_from=page)
    assert filed.status_code == 302
    assert _case(app, case_id).queue == "appeals"


def test_the_api_files_appeals_for_reporters_and_owners(app, factory):
    api = Api(app.test_client(), make_token(app, scopes=("reports:write", "conversations:write")))
    body = report_body(conversation_id="conv-api-appeal")
    filed = api.post(body)
    ref = filed.json["reference"]
    early = api.client.post(
        f"/api/v1/reports/{ref}/appeal", json={"statement": "x"}, headers=api.headers()
    )
    assert early.status_code == 409 and early.content_type == "application/problem+json"
    case_id, _ = _decided_case_existing(app, factory)
    bad = api.client.post(f"/api/v1/reports/{ref}/appeal", json={}, headers=api.headers())
    assert bad.status_code == 422
    ok = api.client.post(
        f"/api/v1/reports/{ref}/appeal",
        json={"statement": "Please look again."},
        headers=api.headers(),
    )
    assert ok.status_code == 201 and ok.json["appeal"].startswith("VA-")
    wrong_owner = api.client.post(
        "/api/v1/conversations/conv-api-appeal/appeal",
        json={"owner_id": "someone-else", "statement": "Mine?"},
        headers=api.headers(),
    )
    assert wrong_owner.status_code == 404
    owner = api.client.post(
        "/api/v1/conversations/conv-api-appeal/appeal",
        json={"owner_id": "owner-1", "statement": "The decision is wrong."},
        headers=api.headers(),
    )
    assert owner.status_code == 201
    from moderation.review.appeals import appeals_of

    with Session(_engine(app)) as db:
        assert [a.appellant for a in appeals_of(db, case_id=case_id)] == ["reporter", "affected"]


def test_a_final_decision_writes_its_webhook_events_in_the_same_transaction(app, factory):
    from moderation.notify.models import OutboxEvent

    api = Api(app.test_client(), make_token(app))
    assert api.post(report_body(conversation_id="conv-hook")).status_code == 201
    reviewer = app.test_client()
    factory.login_as(reviewer, "reviewer:general")
    case_id, token = claim_next(reviewer)
    bad = _decide(reviewer, case_id, token, facts="")
    assert bad.status_code == 422
    with Session(_engine(app)) as db:
        assert db.exec(select(OutboxEvent)).all() == []  # nothing half-stored, nothing told
    assert _decide(reviewer, case_id, token).status_code == 302
    with Session(_engine(app)) as db:
        kinds = sorted(e.event_type for e in db.exec(select(OutboxEvent)))
        payloads = " ".join(e.payload for e in db.exec(select(OutboxEvent)))
    assert kinds == ["decision.final", "report.outcome"]
    assert "conv-hook" in payloads and "statement_of_reasons" in payloads
    assert "reviewer" not in payloads.lower()
