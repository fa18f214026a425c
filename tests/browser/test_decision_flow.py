"""The whole life of a decision in a real browser: a user reports, a reviewer reads the
reporter's words and records an illegal-content decision, a second specialist confirms it,
the reporter sees the outcome and appeals, and a third person decides the appeal."""

from __future__ import annotations

from contextlib import contextmanager

from tests.browser.conftest import sign_in
from tests.factories import make_conversation

WORDS = "The assistant explains how to join a banned armed group."


@contextmanager
def _tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


def test_report_decide_confirm_appeal_and_decide_the_appeal(
    browser, page, live_server, live_factory
):
    app, url = live_server.app, live_server.url
    user = live_factory.make_user(email="una@vigil.test")
    make_conversation(
        app, user, title="Group chat", texts=("Who are they?", "[simulated terrorist content]")
    )

    # The reporter files the report from their own conversation.
    sign_in(page, live_server, live_factory, user)
    page.goto(f"{url}/conversations")
    page.click("text=Group chat")
    page.check("input[name=message][value=m1]")
    page.click("text=Report selected messages")
    page.select_option("select[name=category]", "terrorist_content")
    page.fill("textarea[name=description]", WORDS)
    page.click("button:has-text('Send report')")
    assert page.locator("td.status").first.inner_text() == "Received, waiting for review"

    # A reviewer reads the reporter's own words and records an illegal-content decision.
    reviewer = live_factory.make_user(email="rey@vigil.test", roles=("reviewer:general",))
    with _tab(browser) as tab:
        sign_in(tab, live_server, live_factory, reviewer)
        tab.goto(f"{url}/review/")
        tab.click("button:has-text('Next case')")
        assert tab.locator("blockquote.report-words").inner_text() == WORDS
        assert "Reporter A" in tab.locator("li.report").inner_text()
        tab.select_option("#labels", ["terrorist_content"])
        tab.check("input[name=ground][value=illegal]")
        tab.fill("textarea[name=explanation]", "The reply gives recruiting contacts.")
        tab.fill("textarea[name=facts]", "Message m1 names a group and how to contact it.")
        tab.select_option("#outcome", "disable_share_links")
        tab.check("input[name=confirm]")
        # Forgot the law: the error shows inline and nothing typed is lost.
        tab.click("button:has-text('Record decision')")
        assert "legal ground" in tab.locator("#decision-form .form-error").inner_text()
        assert tab.input_value("textarea[name=facts]").startswith("Message m1 names")
        tab.fill("input[name=legal_ground]", "Directive (EU) 2017/541, Art. 5 (terrorism)")
        tab.click("button:has-text('Record decision')")
        assert "a second specialist must confirm it" in tab.locator(".flash").inner_text()

    # The reporter is not told anything yet: the decision is provisional.
    page.goto(f"{url}/reports")
    assert page.locator("td.status").first.inner_text() == "Received, waiting for review"

    # A second specialist confirms it.
    second = live_factory.make_user(email="sec@vigil.test", roles=("specialist:general",))
    with _tab(browser) as tab:
        sign_in(tab, live_server, live_factory, second)
        tab.goto(f"{url}/review/")
        tab.click("button:has-text('Next case')")
        assert "provisional" in tab.locator("article.decision-history").first.inner_text()
        assert "(SECOND_REVIEW)" in tab.locator(".case-header").inner_text()
        tab.click("button:has-text('Confirm: make it final')")
        assert "final" in tab.locator(".flash").inner_text()

    # The reporter sees the outcome and appeals.
    page.goto(f"{url}/reports")
    assert page.locator("td.status").first.inner_text().startswith("Decided: action taken")
    page.click("text=outcome and appeal")
    assert page.locator("dd.outcome").inner_text() == "Action taken"
    page.fill("textarea[name=statement]", "The group in the reply is a history society.")
    page.click("button:has-text('Send appeal')")
    assert "received" in page.locator(".flash").inner_text()
    assert "being reviewed" in page.content()

    # A third person, who took no part, decides the appeal.
    third = live_factory.make_user(email="app@vigil.test", roles=("reviewer:appeals",))
    with _tab(browser) as tab:
        sign_in(tab, live_server, live_factory, third)
        tab.goto(f"{url}/review/")
        tab.click("button:has-text('Next case')")
        assert "history society" in tab.locator("blockquote.appeal-words").inner_text()
        assert "(APPEAL_REVIEW)" in tab.locator(".case-header").inner_text()
        tab.fill("#uphold-form textarea[name=note]", "The contacts are a recruiting channel.")
        tab.click("button:has-text('Uphold the decision')")
        assert "Appeal upheld" in tab.locator(".flash").inner_text()

    page.reload()
    assert "the decision was upheld" in page.content()
    shot = page.screenshot_dir / "appeal-upheld.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000
