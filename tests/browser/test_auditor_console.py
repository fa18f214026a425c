"""An auditor searches by the case reference reviewers see, reads who accessed the case and
why (a refused attempt's typed justification, a break-glass look with its grant's reason),
then asks for a verification and sees the fresh, clean result on the status page."""

from __future__ import annotations

from datetime import timedelta

from tests.audit.console_flow import GRANT_REASON, JUSTIFICATION, reviewers_look
from tests.browser.conftest import sign_in


def test_an_auditor_follows_a_case_by_its_reference(page, live_server, live_app, live_factory):
    story = reviewers_look(live_app, live_factory)
    auditor = live_factory.make_user(email="audrey@vigil.test", roles=("auditor",))
    sign_in(page, live_server, live_factory, auditor)

    page.goto(f"{live_server.url}/audit/")
    page.fill("input[name=case]", story.case_ref)
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.entries tbody tr")
    assert rows.count() == 4
    assert rows.locator("td.case").all_inner_texts() == [story.case_ref] * 4
    refused = page.locator("table.entries tr.decision-denied")
    assert refused.count() == 1 and JUSTIFICATION in refused.inner_text()
    assert story.second.email in refused.inner_text()
    glass = page.locator("table.entries tr.break-glass")
    assert GRANT_REASON in glass.inner_text() and "approved by" in glass.inner_text()
    glass.locator("td.case a").click()  # the case page: the same reference, the same rows
    assert story.case_ref in page.locator("h1").inner_text()
    assert page.locator("table.entries tbody tr").count() == 4

    page.goto(f"{live_server.url}/audit/status")
    page.click("text=Verify now")
    assert "Verification queued" in page.content()
    assert "verification requested by" in page.locator("#waiting").inner_text()
    from audit.cli import verify_job
    from audit.sidecar import VerifyClock, verify_if_due

    with live_app.app_context():  # the sidecar's next round, in-process
        run = verify_if_due(verify_job(), VerifyClock(), every=timedelta(hours=1))
    assert run is not None and run.trigger == "request"
    page.reload()
    last = page.locator("#last-verification").inner_text()
    assert last.startswith("clean") and "(request #1)" in last and "s ago" in last
    assert page.locator("#waiting").inner_text() == "nothing"
