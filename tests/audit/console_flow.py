"""Accesses the auditor's console must explain, produced through the reviewer workspace:
an allowed look, a refused one with a typed justification, and a break-glass look."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from tests.factories import make_case
from tests.helpers import claim_next, post_form

JUSTIFICATION = "the reporter called support about this case"
GRANT_REASON = "user at risk of harm, second opinion needed"


@dataclass(frozen=True)
class Story:
    case_id: int
    case_ref: str
    first: object
    second: object


def reviewers_look(app, factory) -> Story:
    from moderation.intake.models import Case
    from moderation.review.models import BreakGlassGrant

    app.config["VIGIL"]["VIEWER_CAP"] = 1
    case_id = make_case(app)
    first_client, second_client = app.test_client(), app.test_client()
    first = factory.login_as(first_client, "reviewer:general")
    got, token = claim_next(first_client)
    assert got == case_id
    assert first_client.get(f"/review/cases/{case_id}").status_code == 200  # allowed look
    release = {"token": token}
    post_form(first_client, f"/review/cases/{case_id}/release", release, token_from="/account")
    second = factory.login_as(second_client, "reviewer:general")
    post_form(second_client, "/review/next", {}, token_from="/account")  # claims; cap holds
    typed = {"reason": "ASSIGNED_REVIEW", "note": JUSTIFICATION}
    post_form(second_client, f"/review/cases/{case_id}/access", typed, token_from="/account")
    assert second_client.get(f"/review/cases/{case_id}").status_code == 403  # refused, logged
    post_form(
        second_client,
        f"/review/cases/{case_id}/break-glass",
        {"reason": GRANT_REASON},
        token_from="/account",
    )
    with Session(app.extensions["vigil.engine"]) as session:
        grant_id = session.exec(select(BreakGlassGrant.id)).one()
        ref = session.get(Case, case_id).ref
    admin = app.test_client()
    factory.login_as(admin, "admin")
    post_form(admin, f"/review/break-glass/{grant_id}/approve", {}, token_from="/account")
    post_form(second_client, f"/review/cases/{case_id}/access", {"reason": "BREAK_GLASS"},
              token_from="/account")  # fmt: skip
    assert second_client.get(f"/review/cases/{case_id}").status_code == 200  # break-glass look
    return Story(case_id=case_id, case_ref=ref, first=first, second=second)
