"""Auditor pages: search with keyset pages, per case, per reviewer, status, exports."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from sqlmodel import select

from access_control.journal import AdminEvent
from audit.reasons import AccessAction, Decision, ReasonCode
from audit.tlog.canonical import leaf_hash

SEQ_CELL = re.compile(r'<tr class="decision-\w+">\s*<td>(\d+)</td>')
NEXT_LINK = re.compile(r'rel="next" href="([^"]+)"')
PAGES = ("/audit/", "/audit/cases/case-1", "/audit/status", "/audit/export/csv")


def _entry_seqs(html: str) -> list[int]:
    table = html.split('<table class="entries">', 1)[1].split("</table>", 1)[0]
    return [int(seq) for seq in SEQ_CELL.findall(table)]


def _entry_rows(html: str) -> int:
    return len(_entry_seqs(html))


@pytest.fixture
def reviewers(factory):
    return (
        factory.make_user(email="rita@vigil.test", roles=("reviewer:general",)),
        factory.make_user(email="sam@vigil.test", roles=("specialist:child_safety",)),
    )


@pytest.fixture
def busy_log(access_log, reviewers):
    rita, sam = reviewers
    access_log.append(3, actor=rita, case_id="case-1", note="claimed from the queue")
    access_log.append(1, actor=sam, case_id="case-1", reason=ReasonCode.SPECIALIST_ESCALATION)
    access_log.append(
        2, actor=sam, case_id="case-2", decision=Decision.DENIED, reason=None,
        action=AccessAction.REVEAL,
    )  # fmt: skip
    access_log.append(1, actor=rita, case_id="case-3", conversation_id="conv-3")
    return access_log


def test_only_auditors_may_read_the_access_log(app, factory):
    for roles in [("reviewer:general",), ("admin",), ()]:
        client = app.test_client()
        factory.login(client, factory.make_user(roles=roles))
        for page in PAGES:
            assert client.get(page).status_code == 403, (roles, page)


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for page in PAGES:
        response = client.get(page)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_an_auditor_filters_to_one_case_and_sees_who_and_why(busy_log, client, factory):
    factory.login_as(client, "auditor")
    html = client.get("/audit/?case=case-1").get_data(as_text=True)
    assert _entry_rows(html) == 4
    assert "rita &lt;rita@vigil.test&gt;" in html and "SPECIALIST_ESCALATION" in html
    assert "claimed from the queue" in html  # the justification, never content
    assert "case-2" not in html


FILTERS = [
    ("actor=sam", 3),
    ("decision=denied", 2),
    ("action=reveal", 2),
    ("reason=ASSIGNED_REVIEW", 4),
    ("conversation=conv-3", 1),
    ("since=2000-01-01&until=2999-12-31", 7),
    ("since=2000-01-01T10:00&until=2000-01-01", 0),
]


def test_every_filter_narrows_the_view(busy_log, reviewers, client, factory):
    factory.login_as(client, "auditor")
    for query, rows in [*FILTERS, (f"actor={reviewers[0].id}", 4)]:
        html = client.get(f"/audit/?{query}").get_data(as_text=True)
        assert _entry_rows(html) == rows, query


def test_malformed_filters_are_explained(busy_log, client, factory):
    factory.login_as(client, "auditor")
    for query, message in [("since=yesterday", "is not a date"), ("decision=maybe", "unknown")]:
        response = client.get(f"/audit/?{query}")
        assert response.status_code == 400 and message in response.get_data(as_text=True)
        assert client.get(f"/audit/export/csv?{query}").status_code == 400


def test_keyset_pages_walk_back_through_history(access_log, client, factory):
    access_log.append(120, case_id="bulk")
    factory.login_as(client, "auditor")
    seen, pages, url = [], 0, "/audit/?case=bulk"
    while url:
        html = client.get(url).get_data(as_text=True)
        seen += _entry_seqs(html)
        pages += 1
        link = NEXT_LINK.search(html)
        url = link.group(1).replace("&amp;", "&") if link else None
    assert seen == list(range(119, -1, -1)) and pages == 3


def test_the_case_page_shows_counts_and_entries(busy_log, client, factory):
    factory.login_as(client, "auditor")
    html = client.get("/audit/cases/case-1").get_data(as_text=True)
    assert "Who accessed case case-1 and why" in html
    assert _entry_rows(html) == 4
    assert "<td>ASSIGNED_REVIEW</td><td>3</td>" in html


def test_the_reviewer_page_counts_reasons_and_denials(busy_log, reviewers, client, factory):
    factory.login_as(client, "auditor")
    sam = reviewers[1]
    html = client.get(f"/audit/actors/{sam.id}").get_data(as_text=True)
    assert "Activity of sam &lt;sam@vigil.test&gt;" in html
    assert "<dt>Entries</dt><dd>3</dd>" in html and "<dt>Cases</dt><dd>2</dd>" in html
    assert "<td>reveal</td><td>denied</td><td>—</td><td>2</td>" in html
    assert "<td>open</td><td>allowed</td><td>SPECIALIST_ESCALATION</td><td>1</td>" in html
    assert client.get("/audit/actors/999999").status_code == 404


def test_the_status_panel_shows_checkpoint_and_last_verification(access_log, client, factory):
    factory.login_as(client, "auditor")
    html = client.get("/audit/status").get_data(as_text=True)
    assert "none yet" in html and "never" in html
    access_log.append(4)
    access_log.checkpoint()
    access_log.append(1)
    access_log.verify()
    html = client.get("/audit/status").get_data(as_text=True)
    assert "covers 4 entries" in html and "1 entries since" in html
    assert "clean" in html and "over 5 entries" in html


def test_csv_export_of_a_filtered_view_is_logged_first(busy_log, client, factory, db):
    auditor = factory.login_as(client, "auditor")
    response = client.get("/audit/export/csv?case=case-1&decision=allowed")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["seq"] for row in rows] == ["0", "1", "2", "3"]
    assert rows[0]["note"] == "claimed from the queue" and rows[0]["note_status"] == "present"
    event = db.exec(select(AdminEvent).where(AdminEvent.event_type == "access_log.exported")).one()
    assert event.actor_id == auditor.id
    assert json.loads(event.after) == {
        "filters": {"case": "case-1", "decision": "allowed"},
        "format": "csv",
    }


def test_json_lines_export_lets_an_auditor_recompute_every_leaf(busy_log, client, factory):
    factory.login_as(client, "auditor")
    response = client.get("/audit/export/jsonl")
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(lines) == 7
    from audit.access_log import LEAF_FIELDS

    for line in lines:
        fields = {name: line[name] for name in LEAF_FIELDS}
        assert leaf_hash(fields).hex() == line["leaf_hash"]


def test_csv_cells_that_look_like_formulas_are_defused(access_log, client, factory):
    evil = factory.make_user(email="x@vigil.test", roles=("reviewer:general",))
    evil.display_name = '=HYPERLINK("http://evil")'
    access_log.append(1, actor=evil)
    factory.login_as(client, "auditor")
    text = client.get("/audit/export/csv").get_data(as_text=True)
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["actor_label"].startswith("'=HYPERLINK")


def test_an_erased_note_exports_as_redacted(access_log, client, factory):
    (seq,) = access_log.append(1, note="to be erased")
    access_log.cli("audit", "erase-note", "--seq", str(seq), "--reason", "GDPR")
    factory.login_as(client, "auditor")
    (line,) = client.get("/audit/export/jsonl").get_data(as_text=True).splitlines()
    assert json.loads(line)["note_status"] == "redacted" and json.loads(line)["note"] is None
