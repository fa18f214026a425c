"""The auditor's console (issue 12): one case reference everywhere, every reason on the
entry, actor pages, and a status page with "verify now" and alerts."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from access_control.journal import AdminEvent
from audit.models import VerifyRequest
from audit.reasons import Decision
from tests.audit.console_flow import GRANT_REASON, JUSTIFICATION, reviewers_look
from tests.helpers import post_form


def test_a_case_is_found_by_the_reference_staff_see_with_every_reason(app, client, factory):
    story = reviewers_look(app, factory)
    factory.login_as(client, "auditor")
    by_ref = client.get(f"/audit/?case={story.case_ref}").get_data(as_text=True)
    by_id = client.get(f"/audit/?case={story.case_id}").get_data(as_text=True)
    page = client.get(f"/audit/cases/{story.case_ref}").get_data(as_text=True)
    for html in (by_ref, by_id, page):
        # Two allowed looks (claim, then the page), the refused one, the break-glass one.
        assert html.count('class="case"><a') == 4, html
        assert story.case_ref in html and JUSTIFICATION in html
        assert f"{GRANT_REASON} (approved by" in html
        assert story.second.email in html and "decision-denied" in html


def test_an_unknown_reference_finds_nothing_and_says_so(client, factory):
    factory.login_as(client, "auditor")
    html = client.get("/audit/?case=VC-NOSUCHCASE").get_data(as_text=True)
    assert "No entries match." in html


def test_actor_pages_count_cases_and_queues_apart(access_log, client, factory):
    rita = factory.make_user(email="rita@vigil.test", roles=("reviewer:general",))
    access_log.append(2, actor=rita, case_id="11")
    access_log.append(1, actor=rita, case_id="", decision=Decision.DENIED, reason=None)
    factory.login_as(client, "auditor")
    html = client.get(f"/audit/actors/{rita.id}").get_data(as_text=True)
    assert "<dt>Entries</dt><dd>3</dd>" in html and "<dt>Cases</dt><dd>1</dd>" in html


def test_verify_now_queues_a_run_the_sidecar_answers(app, access_log, client, factory, db):
    from audit.cli import verify_job
    from audit.sidecar import VerifyClock, verify_if_due

    auditor = factory.login_as(client, "auditor")
    access_log.append(2)
    assert client.post("/audit/status/verify").status_code == 400  # no CSRF token
    response = post_form(client, "/audit/status/verify", {}, token_from="/audit/status")
    assert response.status_code == 302
    (queued,) = db.exec(select(VerifyRequest)).all()
    assert queued.requested_by == auditor.id
    event = db.exec(
        select(AdminEvent).where(AdminEvent.event_type == "access_log.verify_requested")
    )
    assert event.one().actor_id == auditor.id
    html = client.get("/audit/status").get_data(as_text=True)
    assert (
        f"verification requested by {auditor.label}".replace("<", "&lt;").replace(">", "&gt;")
        in html
    )
    with app.app_context():  # what the sidecar does on its next round
        run = verify_if_due(verify_job(), VerifyClock(), every=timedelta(hours=1))
    assert (run.trigger, run.request_id, run.ok) == ("request", queued.id, True)
    html = client.get("/audit/status").get_data(as_text=True)
    assert "clean" in html and f"(request #{queued.id})" in html
    assert '<dd id="waiting">nothing</dd>' in html


def test_only_auditors_may_ask_for_a_verification(app, factory):
    for roles in [("reviewer:general",), ("admin",)]:
        other = app.test_client()
        factory.login(other, factory.make_user(roles=roles))
        response = post_form(other, "/audit/status/verify", {}, token_from="/account")
        assert response.status_code == 403, roles


def _alerts(client) -> str:
    html = client.get("/audit/status").get_data(as_text=True)
    return (
        html.split('aria-label="Alerts"', 1)[1].split("</section>", 1)[0]
        if ('aria-label="Alerts"' in html)
        else ""
    )


def test_alerts_name_what_needs_an_auditor(app, access_log, client, factory):
    factory.login_as(client, "auditor")
    assert "never been verified" in _alerts(client)
    access_log.append(2)
    access_log.checkpoint()
    access_log.verify()
    assert _alerts(client) == ""  # clean, fresh, anchored, no spikes
    access_log.tamper("UPDATE access_entry SET actor_label = 'x' WHERE seq = 0")
    access_log.verify()
    assert "The last verification FAILED" in _alerts(client)
    settings = app.config["VIGIL"]
    settings["VERIFY_EVERY_SECONDS"], settings["CHECKPOINT_INTERVAL_SECONDS"] = 0, 0
    access_log.append(1)
    alerts = _alerts(client)
    assert "Verification is stale" in alerts and "1 entries are covered by no" in alerts


def test_a_spike_of_denials_for_one_actor_is_an_alert(app, access_log, client, factory):
    app.config["VIGIL"]["ALERT_DENIALS_PER_DAY"] = 3
    sam = factory.make_user(email="sam@vigil.test", roles=("reviewer:general",))
    access_log.append(2, actor=sam, decision=Decision.DENIED, reason=None)
    factory.login_as(client, "auditor")
    assert "refused attempts" not in _alerts(client)
    access_log.append(1, actor=sam, decision=Decision.DENIED, reason=None)
    alerts = _alerts(client)
    assert "sam@vigil.test" in alerts and "3 refused attempts in the last 24 hours" in alerts
    assert f"/audit/actors/{sam.id}" in alerts
