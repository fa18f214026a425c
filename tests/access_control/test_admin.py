"""Admin pages: accounts and roles, every change audited, self-grants refused."""

from __future__ import annotations

import pytest
from sqlmodel import select

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


def test_admin_grants_and_revokes_with_audit(client, factory, db):
    admin = factory.login_as(client, "admin")
    target = factory.make_user()
    assert _grant(client, target.id, "reviewer:general").status_code == 302
    assert _grants(db, target) == {"reviewer:general"}
    assert _grant(client, target.id, "reviewer:general", "revoke").status_code == 302
    assert _grants(db, target) == set()
    events = db.exec(
        select(AdminEvent)
        .where(AdminEvent.event_type.in_(["role.granted", "role.revoked"]))
        .where(AdminEvent.actor_id == admin.id)
    ).all()
    assert [(e.event_type, e.reason) for e in events] == [
        ("role.granted", "needs it"),
        ("role.revoked", "needs it"),
    ]
    assert all(e.actor_label == admin.label for e in events)


def test_admin_cannot_grant_themselves_anything(client, factory, db):
    admin = factory.login_as(client, "admin")
    response = _grant(client, admin.id, "auditor")
    assert response.status_code == 403
    assert b"Nobody can grant or revoke their own roles." in response.data
    assert _grants(db, admin) == {"admin"}
    assert _grant(client, admin.id, "admin", "revoke").status_code == 403


def test_grant_needs_a_reason_and_a_known_role(client, factory, db):
    factory.login_as(client, "admin")
    target = factory.make_user()
    assert _grant(client, target.id, "reviewer:general", reason="").status_code == 302
    assert _grant(client, target.id, "god").status_code == 302
    assert _grants(db, target) == set()


def test_duplicate_grant_is_a_conflict(client, factory):
    factory.login_as(client, "admin")
    target = factory.make_user(roles=("auditor",))
    assert _grant(client, target.id, "auditor").status_code == 409


def test_admin_creates_account_with_one_time_password(app, client, factory, db):
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
    password = response.get_data(as_text=True).split('<code class="secret">')[1].split("<")[0]
    user = db.exec(select(User).where(User.email == "new.reviewer@example.test")).one()
    assert _grants(db, user) == {"reviewer:general"}
    assert password not in user.password_hash
    newcomer = app.test_client()
    first = post_form(newcomer, "/login", {"email": user.email, "password": password})
    assert first.headers["Location"].endswith("/login/enroll")  # staff: TOTP is mandatory


def test_duplicate_email_is_shown_inline(client, factory):
    factory.login_as(client, "admin")
    existing = factory.make_user()
    response = post_form(
        client,
        "/admin/accounts/new",
        {"email": existing.email, "display_name": "Again", "reason": "x"},
        token_from="/admin/accounts/new",
    )
    assert response.status_code == 200
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


ADMIN_PAGES = ["/admin/", "/admin/accounts/new", "/admin/events", "/admin/policy"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("admin", [200, 200, 200, 200]),
        ("auditor", [403, 403, 200, 403]),
        ("reviewer:general", [403, 403, 403, 403]),
        (None, [403, 403, 403, 403]),
    ],
)
def test_admin_pages_by_role(client, factory, role, expected):
    factory.login_as(client, *([role] if role else []))
    assert [client.get(url).status_code for url in ADMIN_PAGES] == expected
