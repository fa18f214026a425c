"""Admin pages: accounts and roles, every change audited, self-grants refused."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from access_control.journal import AdminEvent
from access_control.models import PolicyRule, User
from tests.helpers import post_form


def _grant(client, user_id: int, role: str, action: str = "grant", reason: str = "needs it"):
    return post_form(
        client,
        f"/admin/accounts/{user_id}/roles",
        {"role": role, "reason": reason, "action": action},
        token_from=f"/admin/accounts/{user_id}",
    )


def _grants(db, user) -> set[str]:
    db.expire_all()
    rows = db.exec(select(PolicyRule).where(PolicyRule.ptype == "g", PolicyRule.v0 == user.subject))
    return {row.v1 for row in rows}


def _approve_all(app, factory, approver=None, verdict="approve"):
    """A second admin approves (or refuses) every pending role request on /admin/approvals."""
    from access_control.models import RoleRequest

    second = app.test_client()
    factory.login(second, approver or factory.make_user(roles=("admin",)))
    with Session(app.extensions["vigil.engine"]) as db:
        pending = db.exec(select(RoleRequest.id).where(RoleRequest.state == "pending")).all()
    answers = [
        post_form(
            second,
            f"/admin/approvals/roles/{request_id}",
            {"verdict": verdict, "reason": "not needed"},
            token_from="/admin/approvals",
        )
        for request_id in pending
    ]
    return second, answers


def test_a_grant_waits_for_a_second_admin_and_a_revocation_does_not(app, client, factory, db):
    admin = factory.login_as(client, "admin")
    target = factory.make_user()
    assert _grant(client, target.id, "reviewer:general").status_code == 302
    assert _grants(db, target) == set()  # requested, not granted
    # The requester cannot approve their own request.
    _, answers = _approve_all(app, factory, approver=admin)
    assert _grants(db, target) == set()
    _second, answers = _approve_all(app, factory)
    assert [a.status_code for a in answers] == [302]
    assert _grants(db, target) == {"reviewer:general"}
    assert _grant(client, target.id, "reviewer:general", "revoke").status_code == 302
    assert _grants(db, target) == set()
    events = db.exec(
        select(AdminEvent)
        .where(
            AdminEvent.event_type.in_(
                ["role.requested", "role.request_approved", "role.granted", "role.revoked"]
            )
        )
        .where(AdminEvent.target_id.in_([str(target.id), target.subject]))
        .order_by(AdminEvent.id)
    ).all()
    assert [e.event_type for e in events] == [
        "role.requested",
        "role.granted",
        "role.request_approved",
        "role.revoked",
    ]
    assert events[0].actor_id == admin.id and events[1].actor_id != admin.id


def test_a_refused_or_expired_request_grants_nothing(app, client, factory, db):
    from datetime import timedelta

    from access_control.models import RoleRequest

    factory.login_as(client, "admin")
    target = factory.make_user()
    _grant(client, target.id, "auditor")
    _, answers = _approve_all(app, factory, verdict="refuse")
    assert [a.status_code for a in answers] == [302]
    assert _grants(db, target) == set()
    _grant(client, target.id, "auditor")
    db.expire_all()
    request = db.exec(select(RoleRequest).where(RoleRequest.state == "pending")).one()
    request.expires_at = request.requested_at - timedelta(seconds=1)
    db.add(request)
    db.commit()
    _, answers = _approve_all(app, factory)
    assert _grants(db, target) == set()
    db.expire_all()
    states = sorted(r.state for r in db.exec(select(RoleRequest)))
    assert states == ["expired", "refused"]


def test_admin_cannot_grant_themselves_anything(client, factory, db):
    admin = factory.login_as(client, "admin")
    response = _grant(client, admin.id, "auditor")
    assert response.status_code == 403
    assert b"Nobody can grant or revoke their own roles." in response.data
    assert _grants(db, admin) == {"admin"}
    assert _grant(client, admin.id, "admin", "revoke").status_code == 403


def test_grant_needs_a_reason_and_a_known_role(client, factory, db):
    from access_control.models import RoleRequest

    factory.login_as(client, "admin")
    target = factory.make_user()
    missing = _grant(client, target.id, "reviewer:general", reason="")
    assert missing.status_code == 422 and b"Say why." in missing.data
    assert _grant(client, target.id, "god").status_code == 422
    # A role of the catalogue without policy rows grants nothing: not offered, refused.
    assert _grant(client, target.id, "reviewer:legal").status_code == 422
    assert db.exec(select(RoleRequest)).all() == []


def test_only_roles_with_policy_rows_are_offered_and_none_is_preselected(client, factory):
    from access_control.permissions import ROLE_CATALOGUE

    factory.login_as(client, "admin")
    target = factory.make_user()
    page = client.get(f"/admin/accounts/{target.id}").get_data(as_text=True)
    offered = set(re.findall(r'<option (?:selected )?value="([^"]*)"', page))
    assert offered == {"", *ROLE_CATALOGUE}
    assert 'selected value=""' in page or "<option selected" not in page
    new = client.get("/admin/accounts/new").get_data(as_text=True)
    assert "reviewer:legal" not in new and "specialist:appeals" not in new
    for role, description in ROLE_CATALOGUE.items():
        assert role in new and description.split(";")[0][:30] in new


def test_duplicate_grant_is_a_conflict(client, factory):
    factory.login_as(client, "admin")
    target = factory.make_user(roles=("auditor",))
    assert _grant(client, target.id, "auditor").status_code == 409
    other = factory.make_user()
    assert _grant(client, other.id, "auditor").status_code == 302
    assert _grant(client, other.id, "auditor").status_code == 409  # already requested


def test_admin_creates_an_account_with_an_enrolment_link_and_no_credential(
    app, client, factory, db
):
    factory.login_as(client, "admin")
    response = post_form(
        client,
        "/admin/accounts/new",
        {
            "email": "New.Reviewer@Example.test",
            "display_name": "New Reviewer",
            "roles": ["reviewer:general"],
            "reason": "hired",
        },
        token_from="/admin/accounts/new",
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    link = page.split('<code class="secret" id="enrol-link">')[1].split("<")[0]
    assert "/enrol/" in link and "password" not in page.split("enrol-link")[1][:200].lower()
    user = db.exec(select(User).where(User.email == "new.reviewer@example.test")).one()
    assert _grants(db, user) == set()  # waiting for a second admin
    assert user.totp_secret is None
    path = link.split("localhost", 1)[-1]
    newcomer = app.test_client()
    chosen = "a passphrase only I know"
    done = post_form(newcomer, path, {"new": chosen, "confirm": chosen}, token_from=path)
    assert done.headers["Location"].endswith("/login/enroll")
    # The link works once.
    assert app.test_client().get(path).status_code == 410
    again = post_form(app.test_client(), "/login", {"email": user.email, "password": chosen})
    assert again.status_code == 302


def test_duplicate_email_is_shown_inline(client, factory):
    factory.login_as(client, "admin")
    existing = factory.make_user()
    response = post_form(
        client,
        "/admin/accounts/new",
        {"email": existing.email, "display_name": "Again", "reason": "x"},
        token_from="/admin/accounts/new",
    )
    assert response.status_code == 422
    assert b"already exists" in response.data
    assert existing.email.encode() in response.data  # the input is kept


def test_admin_cannot_disable_themselves(client, factory, db):
    admin = factory.login_as(client, "admin")
    post_form(
        client,
        f"/admin/accounts/{admin.id}/status",
        {"reason": "x"},
        token_from=f"/admin/accounts/{admin.id}",
    )
    db.expire_all()
    assert db.get(User, admin.id).status == "active"


ADMIN_PAGES = [
    "/admin/",
    "/admin/accounts/new",
    "/admin/events",
    "/admin/policy",
    "/admin/approvals",
]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", [200, 200, 200, 200, 200]),
        ("auditor", [403, 403, 200, 403, 403]),
        ("reviewer:general", [403, 403, 403, 403, 403]),
        (None, [403, 403, 403, 403, 403]),
    ],
)
def test_admin_pages_by_role(client, factory, role, expected):
    factory.login_as(client, *([role] if role else []))
    assert [client.get(url).status_code for url in ADMIN_PAGES] == expected
