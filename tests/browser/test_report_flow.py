"""A signed-in user reports two messages of a conversation and sees the reference and status."""

from __future__ import annotations

import json
import re

from sqlmodel import Session, select

from moderation.intake.models import Report
from tests.browser.conftest import sign_in
from tests.factories import make_conversation


def test_user_reports_two_messages_and_sees_reference_and_status(page, live_server, live_factory):
    app = live_server.app
    user = live_factory.make_user(email="una@vigil.test")
    make_conversation(
        app,
        user,
        title="Prize message",
        texts=("Is this real?\n[simulated scam message]", "It looks like a scam.", "Thanks!"),
    )
    sign_in(page, live_server, live_factory, user)

    page.goto(f"{live_server.url}/conversations")
    page.click("text=Prize message")
    # Line breaks in a message survive on screen.
    assert page.locator(".message-text").first.inner_text() == (
        "Is this real?\n[simulated scam message]"
    )
    page.check("input[name=message][value=m0]")
    page.check("input[name=message][value=m1]")
    page.click("text=Report selected messages")

    assert page.locator("input[name=message_ids][value=m0]").is_checked()
    assert page.locator("input[name=message_ids][value=m1]").is_checked()
    assert not page.locator("input[name=message_ids][value=m2]").is_checked()
    page.select_option("select[name=category]", "scam_fraud")
    page.fill("textarea[name=description]", "A fake prize asking for card details.")
    page.click("button:has-text('Send report')")

    assert page.url.endswith("/reports")
    reference = page.locator("code.ref").first.inner_text()
    assert re.fullmatch(r"VR-[0-9A-HJKMNP-TV-Z]{10}", reference)
    assert page.locator("td.status").first.inner_text() == "Received, waiting for review"
    assert reference in page.locator(".flash").inner_text()
    shot = page.screenshot_dir / "my-reports.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000

    with Session(app.extensions["vigil.engine"]) as db:
        report = db.exec(select(Report).where(Report.ref == reference)).one()
        assert json.loads(report.message_ids) == ["m0", "m1"]
        assert report.reporter_user_id == user.id
