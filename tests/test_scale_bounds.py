"""Pages stay bounded at any size: capped queue counts, a windowed audit summary, the
reporter's newest reports (issue 13). Data comes from `seed-bulk`."""

from __future__ import annotations

import re

import audit.search


def _seed(app, *, users: int, cases: int, entries: int) -> None:
    args = ["seed-bulk", "--users", str(users), "--cases", str(cases), "--entries", str(entries)]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output


def test_queue_counts_stop_at_the_cap(app, client, factory):
    _seed(app, users=0, cases=1_400, entries=0)  # three in four seeded cases are open
    factory.login_as(client, "reviewer:general")
    html = client.get("/review/queues/general").get_data(as_text=True)
    assert "1,000+ open" in html
    # The page lists one page of cases, not all of them.
    assert 0 < len(re.findall(r'<code class="ref">', html)) <= 100


def test_audit_counts_cover_the_newest_window(app, client, factory, monkeypatch):
    monkeypatch.setattr(audit.search, "COUNTS_WINDOW", 40)
    _seed(app, users=20, cases=10, entries=100)
    factory.login_as(client, "auditor")
    html = client.get("/audit/").get_data(as_text=True)
    assert "Counts of the newest 40 matching entries" in html
    table = html.split('<table class="totals">', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td>(\d+)</td></tr>", table)
    assert sum(int(c) for c in cells) == 40


def test_the_reporters_page_lists_the_newest_reports(app, client, factory, monkeypatch):
    import moderation.intake.reports

    monkeypatch.setattr(moderation.intake.reports, "REPORTS_SHOWN", 3)
    monkeypatch.setattr(moderation.intake.views, "REPORTS_SHOWN", 3)
    _seed(app, users=2, cases=8, entries=0)  # the second (not staff) account filed four
    from types import SimpleNamespace

    from sqlmodel import Session, select

    from access_control.models import User
    from moderation.bulk import PASSWORD
    from moderation.intake.models import Report

    with Session(app.extensions["vigil.engine"]) as db:
        user = db.exec(select(User).order_by(User.id.desc())).first()
        email = user.email
        query = select(Report.ref).where(Report.reporter_user_id == user.id)
        refs = db.exec(query.order_by(Report.created_at.desc(), Report.id.desc())).all()
    assert len(refs) == 4
    factory.login(client, SimpleNamespace(email=email), password=PASSWORD)
    html = client.get("/reports").get_data(as_text=True)
    assert "Your newest 3 reports." in html
    assert [ref for ref in refs if ref in html] == refs[:3]


def _statements(app, client, path: str) -> tuple[int, str]:
    from sqlalchemy import event

    seen: list[str] = []

    def count(conn, cursor, statement, *_rest):
        seen.append(statement)

    engine = app.extensions["vigil.engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(seen), response.get_data(as_text=True)


def test_the_reporters_page_reads_the_same_with_one_report_or_five(app, client, factory):
    from tests.factories import make_conversation
    from tests.helpers import post_form

    user = factory.make_user()
    conversations = [make_conversation(app, user, title=f"Chat number {i}") for i in range(5)]
    factory.login(client, user)

    def report(conversation) -> None:
        url = f"/conversations/{conversation.id}/report"
        assert post_form(client, url, {"category": "scam_fraud"}, token_from=url).status_code == 302
        client.get("/reports")  # read the "thank you" flash

    report(conversations[0])
    one, _page = _statements(app, client, "/reports")
    for conversation in conversations[1:]:
        report(conversation)
    five, page = _statements(app, client, "/reports")
    # Titles and staff-access counts of the owner's conversations, in one query each.
    assert all(f"Chat number {i}" in page for i in range(5))
    assert page.count("not yet viewed") == 5
    assert five == one


def test_the_case_page_reads_looks_evidence_key_and_claim_once(app, factory):
    """The viewer cap and the staff summary come from one read of the case's looks, in the
    same query as the facts the policy decides on (claim, deciders, grants); the evidence,
    its data key and the live claim from one more, after the look is logged (issue 13,
    build 2)."""
    from tests.factories import make_case
    from tests.helpers import claim_next, post_form

    make_case(app)
    people = [app.test_client() for _ in range(2)]
    for client in people:
        factory.login_as(client, "reviewer:general")
    case_id, token = claim_next(people[0])
    url = f"/review/cases/{case_id}"
    for _ in range(3):  # one person opening the page again counts once
        people[0].get(url)
    post_form(people[0], f"{url}/release", {"token": token}, token_from=url)
    assert claim_next(people[1])[0] == case_id

    seen: list[str] = []
    from sqlalchemy import event

    def count(conn, cursor, statement, *_rest):
        seen.append(" ".join(statement.split()).lower())

    engine = app.extensions["vigil.engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        page = people[1].get(url).get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # Both people, the second counted by the look this very page logged.
    assert "Staff who looked so far: 2 for ASSIGNED_REVIEW" in page
    looks = [s for s in seen if s.startswith("select") and "from access_entry where" in s]
    assert len(looks) == 1 and "from case_claim" in looks[0], looks
    assert len([s for s in seen if "from case_claim" in s and " union all " in s]) == 1
    material = [s for s in seen if re.search(r"(from|join) evidence_version\b", s)]
    assert len(material) == 1 and "case_key" in material[0] and "case_claim" in material[0]
    assert not [s for s in seen if s.startswith("select") and "from case_key" in s]
