"""What a claimer decides: escalation moves the case and ends the claim."""

from __future__ import annotations

from moderation.review.models import CaseClaim
from tests.factories import make_case
from tests.helpers import claim_next, post_form


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
