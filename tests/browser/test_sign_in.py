"""A staff member signs in with password and TOTP and reaches the admin page."""

from __future__ import annotations

from tests.browser.conftest import sign_in


def test_admin_signs_in_with_totp_and_sees_admin_page(page, live_server, live_factory):
    admin = live_factory.make_user(email="ada@vigil.test", roles=("admin",))
    sign_in(page, live_server, live_factory, admin)
    page.goto(f"{live_server.url}/admin/")
    assert page.locator("h1").inner_text() == "Accounts"
    assert page.locator("td", has_text="ada@vigil.test").count() == 1
    shot = page.screenshot_dir / "admin-accounts.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000


def test_wrong_code_keeps_you_out(page, live_server, live_factory):
    admin = live_factory.make_user(roles=("admin",))
    page.goto(f"{live_server.url}/login")
    page.fill("input[name=email]", admin.email)
    page.fill("input[name=password]", live_factory.password)
    page.click("button[type=submit]")
    page.fill("input[name=code]", "000000")
    page.click("button[type=submit]")
    assert "did not work" in page.locator(".error").inner_text()
    page.goto(f"{live_server.url}/admin/")
    assert "/login" in page.url
