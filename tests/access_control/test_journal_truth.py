"""The journal tells the truth: the real actor of a failed second factor, people and roles
as targets, and a paginated, filterable events page."""

from __future__ import annotations

from sqlmodel import select

from access_control.journal import AdminEvent
from tests.helpers import post_form


def test_a_wrong_totp_names_the_account_and_its_address(app, client, factory, db):
    staff = factory.make_user(roles=("reviewer:general",))
    first = post_form(client, "/login", {"email": staff.email, "password": factory.password})
    assert first.headers["Location"].endswith("/login/mfa")
    post_form(client, "/login/mfa", {"code": "000000"}, token_from="/login/mfa")
    post_form(app.test_client(), "/login", {"email": staff.email, "password": "wrong guess"})
    events = db.exec(
        select(AdminEvent)
        .where(AdminEvent.event_type == "auth.login_failed")
        .order_by(AdminEvent.id)
    ).all()
    assert [(e.reason, e.actor_id) for e in events] == [
        ("second factor", staff.id),
        ("password", None),
    ]
    assert events[0].actor_label == staff.label
    assert events[0].client_address == "127.0.0.1"
    assert events[1].actor_label == "someone at 127.0.0.1"
    assert all("command line" not in e.actor_label for e in events)


def test_role_grants_read_as_people_and_roles(app, client, factory, db):
    target = factory.make_user(email="grace@vigil.test", roles=("auditor",))
    event = db.exec(
        select(AdminEvent).where(
            AdminEvent.event_type == "role.granted", AdminEvent.target_id == target.subject
        )
    ).one()
    assert event.target_label == f"{target.label} as auditor"


def test_the_events_page_filters_and_pages(app, client, factory, db):
    factory.login_as(client, "auditor")
    for index in range(3):
        factory.make_user(email=f"p{index}@vigil.test", roles=("qa",))
    page = client.get("/admin/events?type=role.granted&target=p1%40vigil.test").text
    assert "p1@vigil.test" in page and "p0@vigil.test" not in page
    assert client.get("/admin/events?type=nonsense").status_code == 400
    bad_date = client.get("/admin/events?since=2026-13-01")
    assert bad_date.status_code == 400 and "YYYY-MM-DD" in bad_date.text
    assert client.get("/admin/events?before=99999999999999999999").status_code == 400
    newest = db.exec(select(AdminEvent.id).order_by(AdminEvent.id.desc())).first()
    older = client.get(f"/admin/events?before={newest}").text
    assert f"<td>{newest}</td>" not in older
    assert client.get("/admin/events?actor=nobody-at-all").text.count("<tr>") == 1


def test_staff_see_only_the_links_their_roles_can_use(client, factory):
    factory.login_as(client, "auditor")
    nav = client.get("/admin/events").text.split('<nav class="subnav">')[1].split("</nav>")[0]
    assert "Events" in nav
    for hidden in ("New account", "Approvals", "Policy", "Accounts"):
        assert hidden not in nav
