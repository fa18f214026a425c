"""An auditor filters the access log to one case, sees who looked and why, exports CSV."""

from __future__ import annotations

import csv
import io

from audit.access_log import record_access
from audit.reasons import AccessAction, Decision, ReasonCode
from core.db import session_scope
from tests.browser.conftest import sign_in


def _access(app, actor, case_id: str, reason: ReasonCode) -> None:
    with session_scope(app.extensions["vigil.engine"]) as session:
        record_access(
            session,
            actor=actor,
            action=AccessAction.OPEN,
            decision=Decision.ALLOWED,
            reason_code=reason,
            case_id=case_id,
            conversation_id=f"conv-{case_id}",
            evidence_version=1,
            mac_key=app.extensions["vigil.keys"].entry_mac,
        )


def test_auditor_finds_a_case_access_and_exports_it(page, live_server, live_app, live_factory):
    reviewer = live_factory.make_user(email="rita@vigil.test", roles=("reviewer:general",))
    _access(live_app, reviewer, "case-17", ReasonCode.ASSIGNED_REVIEW)
    _access(live_app, reviewer, "case-99", ReasonCode.QA_SAMPLE)
    auditor = live_factory.make_user(email="audrey@vigil.test", roles=("auditor",))
    sign_in(page, live_server, live_factory, auditor)

    page.goto(f"{live_server.url}/audit/")
    page.fill("input[name=case]", "case-17")
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.entries tbody tr")
    assert rows.count() == 1
    assert "rita@vigil.test" in rows.first.inner_text()
    assert "ASSIGNED_REVIEW" in rows.first.inner_text()
    assert "case-99" not in page.content()

    with page.expect_download() as download_info:
        page.click("text=CSV")
    path = download_info.value.path()
    exported = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert [(row["case_id"], row["reason_code"]) for row in exported] == [
        ("case-17", "ASSIGNED_REVIEW")
    ]
    shot = page.screenshot_dir / "auditor-case.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000
