"""A reviewer works a case with the keyboard only; text stays blurred until revealed."""

from __future__ import annotations

import re

from tests.browser.conftest import sign_in
from tests.factories import make_case
from tests.helpers import log_count


def _blur(page, index: int) -> str:
    return page.eval_on_selector(f"#m-{index} .message-text", "el => getComputedStyle(el).filter")


def test_keyboard_only_review(page, live_server, live_app, live_factory):
    first = make_case(live_app, texts=("hello there", "[simulated scam message]", "bye"))
    second = make_case(live_app, texts=("another", "[simulated threat placeholder]"))
    reviewer = live_factory.make_user(roles=("reviewer:general",))
    sign_in(page, live_server, live_factory, reviewer)
    page.goto(f"{live_server.url}/review/")
    page.keyboard.press("n")  # claim the next case
    page.wait_for_url(f"**/review/cases/{first}")
    assert "blur" in _blur(page, 1)  # blurred before reveal (computed style)
    page.keyboard.press("j")
    page.keyboard.press("j")  # message 1, the reported one
    page.keyboard.press("r")
    page.wait_for_selector("#m-1.revealed")
    assert _blur(page, 1) == "none"
    assert "blur" in _blur(page, 0)  # the others stay blurred
    assert log_count(live_app, case_id=str(first), action="reveal", decision="allowed") == 1
    page.keyboard.press("?")
    assert page.is_visible("#shortcut-help")
    page.keyboard.press("?")
    page.keyboard.press("l")
    assert page.evaluate("document.activeElement.id") == "labels"
    page.keyboard.press("Escape")  # leaves the field: shortcuts work again
    assert page.evaluate("document.activeElement.id") != "labels"
    assert re.fullmatch(r"(\d+ h )?\d+ min left", page.inner_text("#sla-timer"))
    page.screenshot(path=str(page.screenshot_dir / "case-page.png"), full_page=True)
    page.keyboard.press("n")  # next case; the first goes back to the queue
    page.wait_for_url(f"**/review/cases/{second}")
    assert page.locator("article.message").count() == 2


def test_shortcuts_are_ignored_while_typing(page, live_server, live_app, live_factory):
    case_id = make_case(live_app)
    reviewer = live_factory.make_user(roles=("reviewer:general",))
    sign_in(page, live_server, live_factory, reviewer)
    page.goto(f"{live_server.url}/review/")
    page.keyboard.press("n")
    page.wait_for_url(f"**/review/cases/{case_id}")
    page.click("textarea[name=text]")
    page.keyboard.type("rnjk")
    assert page.url.endswith(f"/review/cases/{case_id}")
    assert page.input_value("textarea[name=text]") == "rnjk"
    assert log_count(live_app, case_id=str(case_id), action="reveal") == 0
