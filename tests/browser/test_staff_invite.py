"""An admin invites a reviewer, a second admin approves the role, the reviewer enrols
through the one-time link and claims a case; the first admin still cannot open it."""

from __future__ import annotations

from contextlib import contextmanager

import pyotp

from tests.browser.conftest import sign_in
from tests.factories import make_case


@contextmanager
def _tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_invite_approve_enrol_claim(browser, page, live_server, live_factory):
    app, url = live_server.app, live_server.url
    case_id = make_case(app)
    first = live_factory.make_user(email="ada@vigil.test", roles=("admin",))
    sign_in(page, live_server, live_factory, first)
    page.goto(f"{url}/admin/accounts/new")
    page.fill("input[name=email]", "rey@vigil.test")
    page.fill("input[name=display_name]", "Rey Viewer")
    page.select_option("select[name=roles]", ["reviewer:general"])
    page.fill("input[name=reason]", "joins the general queue")
    page.click("button:has-text('Create account')")
    link = page.locator("#enrol-link").inner_text()
    assert "/enrol/" in link
    assert page.locator("code.secret").count() == 1  # the link: no password, no TOTP secret

    with _tab(browser) as second:
        approver = live_factory.make_user(email="bea@vigil.test", roles=("admin",))
        sign_in(second, live_server, live_factory, approver)
        second.goto(f"{url}/admin/approvals")
        row = second.locator("tr", has_text="rey@vigil.test")
        row.locator("button:has-text('Approve')").click()
        assert "approved" in second.locator(".flash").inner_text()

    with _tab(browser) as newcomer:
        newcomer.goto(link)
        newcomer.fill("input[name=new]", "a passphrase Rey chose")
        newcomer.fill("input[name=confirm]", "a passphrase Rey chose")
        newcomer.click("button:has-text('Continue')")
        secret = newcomer.locator("code.secret").inner_text()
        newcomer.fill("input[name=code]", pyotp.TOTP(secret).now())
        newcomer.click("button:has-text('Confirm')")
        newcomer.goto(f"{url}/review/")
        newcomer.click("button:has-text('Next case')")
        assert newcomer.url.endswith(f"/review/cases/{case_id}")
        assert newcomer.locator(".case-header").is_visible()

    # The admin who invited Rey can open neither the case nor its content.
    # (Requests from the admin's browser session, not page loads: those would log errors.)
    assert page.request.get(f"{url}/review/cases/{case_id}").status == 403
    assert page.request.get(link).status == 410
