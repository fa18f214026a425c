"""Policy managed from /admin/policy through the policy service: a diff preview, narrowing
changes at once, widening ones only after a second admin, journaled, and every worker
(another app process on the same database) decides with the new policy."""

from __future__ import annotations

from sqlmodel import select

from access_control.journal import AdminEvent
from access_control.models import PolicyRule
from app import create_app
from tests.conftest import test_settings
from tests.helpers import post_form

QA_QUEUE = "p, qa, general, queue, read, any, allow"
QA_CONTENT = "p, qa, general, content, read, any, allow"


def _apply(client, verb, row, reason="because"):
    preview = post_form(
        client, "/admin/policy/preview", {"verb": verb, "row": row}, token_from="/admin/policy"
    )
    assert preview.status_code == 200, preview.text[:300]
    applied = post_form(
        client,
        "/admin/policy/apply",
        {"verb": verb, "row": row, "reason": reason},
        token_from="/admin/policy",
    )
    return preview, applied


def _has(db, row) -> bool:
    db.expire_all()
    values = [v.strip() for v in row.split(",")][1:]
    query = select(PolicyRule).where(
        PolicyRule.ptype == "p", *(getattr(PolicyRule, f"v{i}") == v for i, v in enumerate(values))
    )
    return db.exec(query).first() is not None


def test_a_narrow_change_applies_at_once_and_reaches_every_worker(
    app, client, factory, db, database_url, tmp_path
):
    other = create_app(test_settings(database_url, tmp_path / "other"))  # a second worker
    qa = factory.make_user(roles=("qa",))
    with other.test_request_context():
        from access_control.guard import authorize

        assert not authorize(qa, "queue", "read", queue="general")
    factory.login_as(client, "admin")
    preview, applied = _apply(client, "add", QA_QUEUE)
    assert "+ " + QA_QUEUE in preview.text and "takes effect at once" in preview.text
    assert applied.status_code == 302 and _has(db, QA_QUEUE)
    with other.test_request_context():
        assert authorize(qa, "queue", "read", queue="general")  # the other worker reloaded
    event = db.exec(select(AdminEvent).where(AdminEvent.event_type == "policy.rule_added")).all()
    assert any(e.target_label == QA_QUEUE and e.reason == "because" for e in event)
    other.extensions["vigil.engine"].dispose()


def test_a_widening_change_waits_for_a_second_admin(app, client, factory, db):
    from access_control.models import PolicyRequest

    factory.login_as(client, "admin")
    preview, applied = _apply(client, "add", QA_CONTENT)
    assert "second admin approves" in preview.text
    assert applied.status_code == 302 and not _has(db, QA_CONTENT)
    (request,) = db.exec(select(PolicyRequest)).all()
    own = post_form(
        client,
        f"/admin/policy/requests/{request.id}",
        {"verdict": "approve"},
        token_from="/admin/policy",
    )
    assert own.status_code == 403 and not _has(db, QA_CONTENT)
    second = app.test_client()
    factory.login_as(second, "admin")
    done = post_form(
        second,
        f"/admin/policy/requests/{request.id}",
        {"verdict": "approve"},
        token_from="/admin/policy",
    )
    assert done.status_code == 302 and _has(db, QA_CONTENT)
    # Removing a deny row widens too.
    deny = "p, admin, *, content, *, any, deny"
    _apply(second, "remove", deny)
    assert _has(db, deny)


def test_bad_rows_are_refused_inline_and_auditors_cannot_change_policy(app, client, factory):
    factory.login_as(client, "admin")
    bad = post_form(
        client,
        "/admin/policy/preview",
        {"verb": "add", "row": "p, god, *, content, read, any, allow"},
        token_from="/admin/policy",
    )
    assert bad.status_code == 422 and "unknown role" in bad.text
    auditor = app.test_client()
    factory.login_as(auditor, "auditor")
    assert (
        auditor.get("/admin/policy").status_code == 403
        or "remove…" not in auditor.get("/admin/policy").text
    )
    refused = auditor.post("/admin/policy/preview", data={"verb": "add", "row": QA_QUEUE})
    assert refused.status_code in (400, 403)


def test_the_cli_adds_and_removes_rows(app, db):
    runner = app.test_cli_runner()
    added = runner.invoke(args=["policy", "add", "--row", QA_QUEUE, "--reason", "cli"])
    assert added.exit_code == 0 and _has(db, QA_QUEUE)
    removed = runner.invoke(args=["policy", "remove", "--row", QA_QUEUE, "--reason", "cli"])
    assert removed.exit_code == 0 and not _has(db, QA_QUEUE)
    bad = runner.invoke(args=["policy", "add", "--row", "p, x", "--reason", "cli"])
    assert bad.exit_code != 0 and "Error" in bad.output
