"""A Free user opts out and shares a conversation without their name; a stranger opens the link
and files a notice from it."""

from __future__ import annotations

from sqlmodel import Session, select

from moderation.intake.models import Channel, Report
from privacy.consent import Owner, consent_history
from tests.browser.conftest import sign_in
from tests.factories import make_conversation, set_plan


def test_opt_out_share_anonymously_and_a_visitor_files_a_notice(
    browser, page, live_server, live_factory
):
    app = live_server.app
    user = live_factory.make_user(email="una.quill@vigil.test")
    set_plan(app, user, plan="free")
    make_conversation(
        app,
        user,
        title="Prize message",
        texts=("I got this: [simulated scam message]", "That is a scam.", "Thanks"),
    )
    sign_in(page, live_server, live_factory, user)

    # Opt out: the page says what it changes, and says it again once saved.
    page.goto(f"{live_server.url}/")
    page.click("text=Privacy settings and your data")
    assert "may be used to train models" in page.locator("#training-explanation").inner_text()
    page.check("input[name=opt_out]")
    page.click("button:has-text('Save')")
    assert "You opted out" in page.locator(".flash").inner_text()
    assert page.locator("input[name=opt_out]").is_checked()

    # Share without the name (the box is unticked by default).
    page.goto(f"{live_server.url}/conversations")
    page.click("text=Prize message")
    assert not page.locator("input[name=show_name]").is_checked()
    page.click("button:has-text('Create link')")
    assert "Your name is not shown" in page.content()
    link = page.locator("#share-url").input_value()
    assert link.startswith(f"{live_server.url}/s/")
    page.screenshot(path=str(page.screenshot_dir / "share-created.png"), full_page=True)

    # A stranger, in a separate browser context with no cookies, opens it.
    stranger = browser.new_context()
    visitor = stranger.new_page()
    response = visitor.goto(link)
    assert response.status == 200
    assert response.headers["x-robots-tag"].startswith("noindex")
    body = visitor.locator("main").inner_text()
    assert "Shared anonymously" in body and "una" not in body.lower()
    assert "That is a scam." in body
    visitor.click("text=Report illegal content in this conversation")
    visitor.select_option("select[name=category]", "scam_fraud")
    visitor.fill("textarea[name=explanation]", "It impersonates a bank to steal card details.")
    visitor.fill("input[name=name]", "Sam Stranger")
    visitor.fill("input[name=email]", "sam@example.test")
    visitor.check("input[name=good_faith]")
    visitor.click("button:has-text('Send notice')")
    assert "/notice/sent" in visitor.url, visitor.content()[:2000]
    reference = visitor.locator("code").first.inner_text()
    stranger.close()

    with Session(app.extensions["vigil.engine"]) as db:
        report = db.exec(select(Report).where(Report.ref == reference)).one()
        assert report.channel == Channel.NOTICE
        [change] = [c for c in consent_history(db, Owner(user_id=user.id)) if c.source == "web"]
        assert change.new_opt_out is True
