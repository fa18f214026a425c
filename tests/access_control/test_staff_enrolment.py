"""Accounts the admin never holds: the proxy-account attack fails at every step, enrolment
links work once and expire, and resets need a second admin."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from sqlmodel import select

from access_control.models import Invitation, User
from tests.access_control.test_admin import _approve_all, _grants
from tests.factories import make_case
from tests.helpers import post_form

CHOSEN = "my own long passphrase"


def _create(client, email, roles=("reviewer:general",)):
    response = post_form(
        client,
        "/admin/accounts/new",
        {"email": email, "display_name": "Proxy", "roles": list(roles), "reason": "hired"},
        token_from="/admin/accounts/new",
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:400]
    page = response.get_data(as_text=True)
    return page, page.split('id="enrol-link">')[1].split("<")[0].split("localhost", 1)[-1]


def _enrol(app, path, password=CHOSEN):
    """Use the link like the person would: password, then TOTP from the enrolment page."""
    client = app.test_client()
    done = post_form(client, path, {"new": password, "confirm": password}, token_from=path)
    assert done.headers["Location"].endswith("/login/enroll"), done.status_code
    page = client.get("/login/enroll").get_data(as_text=True)
    secret = page.split('<code class="secret">')[1].split("<")[0]
    code = pyotp.TOTP(secret).now()
    enrolled = post_form(client, "/login/enroll", {"code": code}, token_from="/login/enroll")
    assert enrolled.status_code == 200  # the recovery codes page
    return client


def test_the_proxy_account_attack_fails_at_every_step(app, client, factory, db):
    admin = factory.login_as(client, "admin")
    make_case(app)
    page, path = _create(client, "proxy@vigil.test")
    # 1. No credential is ever shown: no password, no TOTP secret, only a one-time link.
    user = db.exec(select(User).where(User.email == "proxy@vigil.test")).one()
    assert user.totp_secret is None
    assert "password" not in page.lower().split("enrol-link")[1][:120]
    for guess in ("", "password", page):
        login = post_form(
            app.test_client(), "/login", {"email": user.email, "password": guess[:60]}
        )
        assert login.status_code == 200  # refused
    # 2. The admin uses the link themselves: the account has no role until a second admin
    # approves, so it reaches no content.
    proxy = _enrol(app, path)
    assert _grants(db, user) == set()
    assert proxy.get("/review/").status_code == 403
    # 3. The admin cannot approve their own request.
    _approve_all(app, factory, approver=admin)
    assert _grants(db, user) == set()
    assert proxy.get("/review/").status_code == 403
    # 4. An admin-made second admin account cannot approve either: its admin role also waits.
    _, second_path = _create(client, "second-admin@vigil.test", roles=("admin",))
    second = _enrol(app, second_path, password="another long passphrase")
    assert second.get("/admin/approvals").status_code == 403
    assert (
        _grants(db, db.exec(select(User).where(User.email == "second-admin@vigil.test")).one())
        == set()
    )


def test_an_enrolment_link_works_once_and_expires(app, client, factory, db):
    factory.login_as(client, "admin")
    _, path = _create(client, "once@vigil.test")
    _enrol(app, path)
    used = app.test_client().get(path)
    assert used.status_code == 410 and "already used" in used.get_data(as_text=True)
    _, late = _create(client, "late@vigil.test")
    db.expire_all()
    row = db.exec(select(Invitation).order_by(Invitation.id.desc())).first()
    row.expires_at = row.created_at - timedelta(seconds=1)
    db.add(row)
    db.commit()
    expired = app.test_client().get(late)
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert app.test_client().get("/enrol/not-a-token").status_code == 404


def test_a_reset_needs_a_second_admin_and_ends_the_old_credentials(app, client, factory, db):
    admin = factory.login_as(client, "admin")
    staff = factory.make_user(roles=("reviewer:general",))
    page = f"/admin/accounts/{staff.id}"
    asked = post_form(client, f"{page}/reset", {"reset-reason": "lost phone"}, token_from=page)
    assert asked.status_code == 302
    # The old credentials still work until a second admin approves.
    still = post_form(
        app.test_client(), "/login", {"email": staff.email, "password": factory.password}
    )
    assert still.headers["Location"].endswith("/login/mfa")
    (reset,) = db.exec(select(Invitation).where(Invitation.purpose == "reset")).all()
    own = post_form(
        client,
        f"/admin/approvals/resets/{reset.id}",
        {"verdict": "approve"},
        token_from="/admin/approvals",
    )
    assert own.status_code == 302  # refused: the requester cannot approve
    db.expire_all()
    assert db.get(Invitation, reset.id).approved_at is None
    second = app.test_client()
    factory.login_as(second, "admin")
    shown = post_form(
        second,
        f"/admin/approvals/resets/{reset.id}",
        {"verdict": "approve"},
        token_from="/admin/approvals",
    )
    assert shown.status_code == 200
    link = shown.get_data(as_text=True).split('id="reset-link">')[1].split("<")[0]
    gone = post_form(
        app.test_client(), "/login", {"email": staff.email, "password": factory.password}
    )
    assert gone.status_code == 200  # the old password ended
    db.expire_all()
    assert db.get(User, staff.id).totp_secret is None
    _enrol(app, link.split("localhost", 1)[-1], password="a brand new passphrase")
    assert admin.id != db.get(Invitation, reset.id).approved_by
