"""Claims: one winner among concurrent claimers, leases, stale tokens, races, bad input."""

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
from tests.factories import make_case
from tests.helpers import claim_next, decision_form, post_form


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
        decision_form(new_token),
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
    from moderation.review.rules import ReviewRules

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
            with app.app_context(), session_scope(engine) as session:
                review_service.decide_case(
                    session,
                    case=session.get(Case, case_id),
                    reviewer=deciding,
                    token=token,
                    decision=review_service.DecisionInput(
                        outcome=Outcome.NO_ACTION, facts="A test decision."
                    ),
                    now=utcnow(),
                    rules=ReviewRules(),
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
