"""Transparency figures through the HTTP surface: reports in several categories and sources,
decisions (one provisional until a second specialist confirms it), an appeal decided and one
open; then every figure's numbers on the page and in the CSV, the period, the charts, escaping,
formula safety and who may read them."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from core.db import session_scope
from tests.factories import make_case, make_conversation, make_token
from tests.helpers import Api, claim_next, decision_form, post_form, report_body

SVG = "{http://www.w3.org/2000/svg}"
FIGURES = ("notices", "decisions", "automation", "time-to-decision", "appeals")

# Per case: the decision form's changes, and the hours from the report to the decision.
FORMS = {
    "A": ({}, 2),
    "B": (
        {
            "ground": "incompatible",
            "terms_ground": "Terms of service, section 3 (deception)",
            "outcome": "disable_share_links",
            "automated_decision": "partially",
        },
        4,
    ),
    "C": (
        {
            "labels": [],
            "ground": "no_violation",
            "outcome": "no_action",
            "legal_ground": "",
            "explanation": "",
            "automated_detection": "yes",
        },
        10,
    ),
    # W is a conversation Vigil holds itself: no chat service would carry out a removal.
    "W": ({"outcome": "refer_to_law_enforcement"}, 20),
}
CSAM = {
    "labels": ["child_sexual_abuse"],
    "legal_ground": "Directive 2011/93/EU, Art. 5 (child sexual abuse material)",
    "explanation": "The message describes the sexual abuse of a child.",
    "facts": "Message m1 contains a simulated description.",
}


def _engine(app):
    return app.extensions["vigil.engine"]


def _decide(client, case_id, token, **changes):
    page = f"/review/cases/{case_id}"
    response = post_form(
        client, f"{page}/decision", decision_form(token, **changes), token_from=page
    )
    assert response.status_code == 302, response.text[:300]


def _web_report(app, factory):
    """A signed-in user reports their own conversation (channel web); the client and user."""
    user = factory.make_user()
    conversation = make_conversation(app, user)
    client = app.test_client()
    factory.login(client, user)
    page = f"/conversations/{conversation.id}/report"
    sent = post_form(
        client, page, {"category": "scam_fraud", "description": "Card numbers."}, token_from=page
    )
    assert sent.status_code in (200, 302), sent.text[:300]
    return client


def _case_of(app, **where) -> int:
    from moderation.intake.models import Report

    with Session(_engine(app)) as db:
        query = select(Report.case_id)
        for name, value in where.items():
            query = query.where(col(getattr(Report, name)) == value)
        return db.exec(query).one()


def _report_ref(app, case_id) -> str:
    from moderation.intake.models import Report

    with Session(_engine(app)) as db:
        return db.exec(select(Report.ref).where(Report.case_id == case_id)).one()


def _file_reports(app, factory):
    """Five reports: A B C by the API, W on the web, D (child sexual abuse)."""
    api = Api(app.test_client(), make_token(app, scopes=("reports:write", "conversations:write")))
    assert api.post(report_body(conversation_id="conv-a")).status_code == 201
    cases = {"A": _case_of(app, conversation_id=_conversation_id(app, "conv-a"))}
    cases["B"] = make_case(app, source_type="trusted_flagger")
    cases["C"] = make_case(app, category="harassment", source_type="automated_detection")
    reporter = _web_report(app, factory)
    cases["W"] = _case_of(app, channel="web")
    cases["D"] = make_case(app, category="child_sexual_abuse")
    return api, reporter, cases


def _conversation_id(app, external_id) -> int:
    from privacy.models import Conversation

    with Session(_engine(app)) as db:
        query = select(Conversation.id).where(Conversation.external_id == external_id)
        return db.exec(query).one()


def _decide_general(app, factory, cases):
    """A general reviewer decides A, B, C and W, whatever order the queue gives them in."""
    client = app.test_client()
    factory.login_as(client, "reviewer:general")
    names = {case_id: name for name, case_id in cases.items()}
    for _ in FORMS:
        case_id, token = claim_next(client, "general")
        _decide(client, case_id, token, **FORMS[names[case_id]][0])


def _provisional_csam(app, factory, case_id):
    first = app.test_client()
    factory.login_as(first, "specialist:child_safety")
    claimed, token = claim_next(first)
    assert claimed == case_id
    _decide(first, case_id, token, **CSAM)


def _confirm(app, factory, case_id):
    second = app.test_client()
    factory.login_as(second, "specialist:child_safety")
    claimed, token = claim_next(second)
    assert claimed == case_id
    page = f"/review/cases/{case_id}"
    confirmed = post_form(
        second, f"{page}/confirm", {"token": token, "note": "Agreed."}, token_from=page
    )
    assert confirmed.status_code == 302


def _appeal_and_overturn(app, factory, reporter, case_id):
    """The reporter appeals W on the web; an appeals reviewer overturns it."""
    page = f"/reports/{_report_ref(app, case_id)}"
    filed = post_form(
        reporter, f"{page}/appeal", {"statement": "Please look again."}, token_from=page
    )
    assert filed.status_code == 302
    third = app.test_client()
    factory.login_as(third, "reviewer:appeals")
    claimed, token = claim_next(third, "appeals")
    assert claimed == case_id
    form = decision_form(
        token,
        appeal_outcome="overturned",
        ground="no_violation",
        outcome="no_action",
        labels=[],
        legal_ground="",
        explanation="",
        facts="Read in context, the message is a joke between friends.",
    )
    case_page = f"/review/cases/{case_id}"
    done = post_form(third, f"{case_page}/appeal-decision", form, token_from=case_page)
    assert done.status_code == 302


def _owner_appeals(api):
    """The chat backend files the affected owner's appeal against A (left open)."""
    filed = api.client.post(
        "/api/v1/conversations/conv-a/appeal",
        json={"owner_id": "owner-1", "statement": "The decision is wrong."},
        headers=api.headers(),
    )
    assert filed.status_code == 201, filed.text


def _first_final(app, case_id) -> datetime:
    from core.timeutil import as_utc
    from moderation.review.models import CaseDecision

    with Session(_engine(app)) as db:
        query = select(CaseDecision.decided_at).where(
            CaseDecision.case_id == case_id, col(CaseDecision.final)
        )
        return as_utc(db.exec(query.order_by(col(CaseDecision.id))).first())


def _reported(app, case_id, at: datetime) -> None:
    """Say the case's report came in at `at` (decisions are append-only and keep the time
    they were taken; the report's time is what the test chooses)."""
    from moderation.intake.models import Case, Report

    with session_scope(_engine(app)) as db:
        db.execute(update(Case).where(col(Case.id) == case_id).values(first_reported_at=at))
        db.execute(update(Report).where(col(Report.case_id) == case_id).values(created_at=at))


def _filed(app, case_id, at: datetime) -> None:
    from moderation.review.models import Appeal

    with session_scope(_engine(app)) as db:
        db.execute(update(Appeal).where(col(Appeal.case_id) == case_id).values(filed_at=at))


def _day(moment: datetime, days: int = 0) -> str:
    return (moment + timedelta(days=days)).date().isoformat()


@dataclass
class Scenario:
    """An auditor's client, the cases by name, and the first decision's time."""

    auditor: object
    cases: dict[str, int]
    base: datetime
    last: datetime = None


@pytest.fixture
def provisional(app, factory):
    """A B C W decided, reported 2, 4, 10 and 20 hours before; D decided provisionally."""
    api, reporter, cases = _file_reports(app, factory)
    _decide_general(app, factory, cases)
    for name, (_form, hours) in FORMS.items():
        _reported(app, cases[name], _first_final(app, cases[name]) - timedelta(hours=hours))
    _provisional_csam(app, factory, cases["D"])
    auditor = app.test_client()
    factory.login_as(auditor, "auditor")
    base = min(_first_final(app, cases[name]) for name in FORMS)
    return Scenario(auditor, cases, base), api, reporter


@pytest.fixture
def scenario(app, factory, provisional):
    """D confirmed (40 hours after its report); W appealed by its reporter and overturned;
    A appealed by its owner (open); E reported a month earlier, undecided."""
    state, api, reporter = provisional
    cases = state.cases
    _confirm(app, factory, cases["D"])
    _reported(app, cases["D"], _first_final(app, cases["D"]) - timedelta(hours=40))
    _appeal_and_overturn(app, factory, reporter, cases["W"])
    _owner_appeals(api)
    _filed(app, cases["W"], state.base + timedelta(days=1))
    _filed(app, cases["A"], state.base + timedelta(days=3))
    cases["E"] = make_case(app, category="terrorist_content", source_type="own_initiative")
    _reported(app, cases["E"], state.base - timedelta(days=30))
    state.last = _last_decision(app)
    return state


def _last_decision(app) -> datetime:
    from core.timeutil import as_utc
    from moderation.review.models import CaseDecision

    with Session(_engine(app)) as db:
        query = select(CaseDecision.decided_at).order_by(col(CaseDecision.id).desc())
        return as_utc(db.exec(query).first())


def test_a_provisional_decision_counts_only_once_confirmed(provisional):
    state = provisional[0]
    assert _csv(state.auditor, "decisions") == [
        ["ground", "action", "kind", "decisions"],
        ["illegal", "remove", "first", "1"],
        ["illegal", "refer_to_law_enforcement", "first", "1"],
        ["incompatible", "disable_share_links", "first", "1"],
        ["no_violation", "no_action", "first", "1"],
    ]
    # An even count: 2, 4, 10 and 20 hours; the median is the mean of the middle two.
    assert _csv(state.auditor, "time-to-decision") == [
        ["statistic", "value"],
        ["cases", "4"],
        ["median_hours", "7.00"],
        ["p90_hours", "17.00"],
    ]
    tables = _page_tables(state.auditor)
    assert tables["time-to-decision"] == [[("Median", "7"), ("90th percentile", "17")]]
    assert ("Second specialist (four-eyes)", "1") not in tables["decisions"][2]


def _csv(client, figure, query=""):
    response = client.get(f"/transparency/{figure}.csv{query}")
    assert response.status_code == 200, response.text[:300]
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    return list(csv.reader(io.StringIO(response.text)))


def _section(html, slug) -> str:
    match = re.search(rf'<section class="card figure" id="{slug}">(.*?)</section>', html, re.S)
    assert match, slug
    return match.group(1)


def _charts(html):
    """Every chart on the page, parsed as XML, with the table that follows it."""
    found = re.findall(r"(<svg.*?</svg>)\s*<table class=\"figure\">(.*?)</table>", html, re.S)
    return [(ET.fromstring(svg), table) for svg, table in found]  # noqa: S314 (our own page)


def _table(table_html) -> list[tuple[str, str]]:
    return re.findall(r"<tr><td>(.*?)</td><td class=\"count\">(.*?)</td></tr>", table_html)


def _bars(svg) -> list[tuple[str, float]]:
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "label"]
    widths = [float(r.get("width")) for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert len(labels) == len(widths)
    return list(zip(labels, widths, strict=True))


def _page_tables(client, query="") -> dict[str, list[list[tuple[str, str]]]]:
    response = client.get(f"/transparency{query}")
    assert response.status_code == 200
    return {
        slug: [_table(table) for _svg, table in _charts(_section(response.text, slug))]
        for slug in FIGURES
    }


def test_every_figure_counts_exactly_what_happened(scenario):
    tables = _page_tables(scenario.auditor)
    assert tables["notices"] == [
        [
            ("Child sexual abuse or grooming · User notice", "1"),
            ("Terrorist content · Own initiative", "1"),
            ("Harassment or stalking · Automated detection", "1"),
            ("Scam or fraud · User notice", "2"),
            ("Scam or fraud · Trusted flagger", "1"),
        ],
        [("Web report (signed-in user)", "1"), ("Chat backend (API)", "5")],
    ]
    assert tables["decisions"] == [
        [
            ("Illegal content", "3"),
            ("Against the terms of service", "1"),
            ("No violation found", "2"),
        ],
        [
            ("No action", "2"),
            ("Share links disabled", "1"),
            ("Content removed", "2"),
            ("Referred to the authorities", "1"),
        ],
        [
            ("First decision", "4"),
            ("Second specialist (four-eyes)", "1"),
            ("Appeal (decision replaced)", "1"),
        ],
    ]
    assert tables["automation"] == [
        [("Automated detection", "1"), ("No automated detection", "5")],
        [("Not automated", "5"), ("Partially automated", "1")],
    ]
    # Five cases: 2, 4, 10, 20 and 40 hours (D from its report to the confirmation).
    assert tables["time-to-decision"] == [[("Median", "10"), ("90th percentile", "32")]]
    assert tables["appeals"] == [
        [("Affected user", "1"), ("Reporter", "1")],
        [("Overturned (decision replaced)", "1"), ("Open", "1")],
    ]
    page = scenario.auditor.get("/transparency").text
    assert "Automated detection: 1 of 6 final decision(s) (16.7 %)." in page
    assert "Based on 5 case(s). Median 10.00 hours." in page


def test_the_csv_files_hold_the_same_numbers(scenario):
    assert _csv(scenario.auditor, "notices") == [
        ["category", "category_label", "source_type", "channel", "reports"],
        ["child_sexual_abuse", "Child sexual abuse or grooming", "user_notice", "api", "1"],
        ["terrorist_content", "Terrorist content", "own_initiative", "api", "1"],
        ["harassment", "Harassment or stalking", "automated_detection", "api", "1"],
        ["scam_fraud", "Scam or fraud", "user_notice", "api", "1"],
        ["scam_fraud", "Scam or fraud", "user_notice", "web", "1"],
        ["scam_fraud", "Scam or fraud", "trusted_flagger", "api", "1"],
    ]
    assert _csv(scenario.auditor, "decisions") == [
        ["ground", "action", "kind", "decisions"],
        ["illegal", "remove", "first", "1"],
        ["illegal", "remove", "second_review", "1"],
        ["illegal", "refer_to_law_enforcement", "first", "1"],
        ["incompatible", "disable_share_links", "first", "1"],
        ["no_violation", "no_action", "appeal", "1"],
        ["no_violation", "no_action", "first", "1"],
    ]
    assert _csv(scenario.auditor, "automation") == [
        ["automated_detection", "automated_decision", "decisions"],
        ["yes", "not_automated", "1"],
        ["no", "not_automated", "4"],
        ["no", "partially", "1"],
    ]
    assert _csv(scenario.auditor, "time-to-decision") == [
        ["statistic", "value"],
        ["cases", "5"],
        ["median_hours", "10.00"],
        ["p90_hours", "32.00"],
    ]
    assert _csv(scenario.auditor, "appeals") == [
        ["appellant", "outcome", "appeals"],
        ["affected", "open", "1"],
        ["reporter", "overturned", "1"],
    ]


def test_the_period_filters_each_figure_by_its_own_time(scenario):
    base, last = scenario.base, scenario.last
    auditor = scenario.auditor
    # E was reported a month before the first decision, the others at most 40 hours before.
    assert _csv(auditor, "notices", f"?until={_day(base, -10)}")[1:] == [
        ["terrorist_content", "Terrorist content", "own_initiative", "api", "1"]
    ]
    later = _csv(auditor, "notices", f"?since={_day(base, -9)}")[1:]
    assert [row[0] for row in later] == ["child_sexual_abuse", "harassment", *["scam_fraud"] * 3]
    # Every decision was taken between the first and the last one; none before.
    during = f"?since={_day(base)}&until={_day(last)}"
    assert _csv(auditor, "decisions", during) == _csv(auditor, "decisions")
    assert _csv(auditor, "time-to-decision", during)[1] == ["cases", "5"]
    before = f"?until={_day(base, -1)}"
    assert _csv(auditor, "decisions", before)[1:] == []
    assert _csv(auditor, "automation", before)[1:] == []
    assert _csv(auditor, "time-to-decision", before)[1] == ["cases", "0"]
    # W's appeal was filed a day after the first decision, A's three days after.
    appeals = _csv(auditor, "appeals", f"?since={_day(base, 3)}")
    assert appeals[1:] == [["affected", "open", "1"]]
    appeals = _csv(auditor, "appeals", f"?since={_day(base, 1)}&until={_day(base, 2)}")
    assert appeals[1:] == [["reporter", "overturned", "1"]]
    tables = _page_tables(auditor, f"?since={_day(base, 3)}")
    assert tables["appeals"] == [[("Affected user", "1")], [("Open", "1")]]


def test_a_period_without_data_says_so_in_every_chart(scenario):
    empty = f"?since={_day(scenario.base, -60)}&until={_day(scenario.base, -40)}"
    page = scenario.auditor.get(f"/transparency{empty}").text
    charts = _charts(page)
    assert len(charts) == 10
    for svg, table in charts:
        assert _bars(svg) == []
        assert "No data in this period" in "".join(svg.itertext())
        assert "No data in this period." in table
    assert "Based on 0 case(s)." in page
    assert _csv(scenario.auditor, "decisions", empty) == [["ground", "action", "kind", "decisions"]]
    assert _csv(scenario.auditor, "time-to-decision", empty)[1:] == [
        ["cases", "0"],
        ["median_hours", ""],
        ["p90_hours", ""],
    ]


def test_each_chart_is_accessible_svg_with_one_proportional_bar_per_row(scenario):
    page = scenario.auditor.get("/transparency").text
    assert "<script" not in page
    charts = _charts(page)
    assert len(charts) == 10
    for svg, table in charts:
        assert svg.get("role") == "img" and svg.get("aria-label")
        assert svg.find(f"{SVG}title").text == svg.get("aria-label")
        rows, bars = _table(table), _bars(svg)
        assert [label for label, _ in rows] == [label for label, _ in bars]
        largest = max(float(value) for _, value in rows)
        for (_, value), (_, width) in zip(rows, bars, strict=True):
            assert width == pytest.approx(340 * float(value) / largest, abs=0.1)


def test_labels_are_escaped_in_charts_tables_and_csv(scenario, monkeypatch):
    from moderation.review import transparency

    nasty = '<img src=x onerror="alert(1)"> & Co'
    monkeypatch.setitem(transparency.SOURCE_LABELS, "trusted_flagger", nasty)
    monkeypatch.setattr(transparency, "category_label", lambda key: '=HYPERLINK("x")')
    page = scenario.auditor.get("/transparency").text
    assert "<img" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; &amp; Co" in page  # the table (Jinja)
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; Co" in page  # the chart
    labels = [label for svg, _ in _charts(page) for label, _ in _bars(svg)]
    assert '=HYPERLINK("x") · <img src=x onerror="alert(1)"> & Co' in labels
    rows = _csv(scenario.auditor, "notices")
    assert {row[1] for row in rows[1:]} == {'\'=HYPERLINK("x")'}


@pytest.mark.parametrize("start", ["=", "+", "-", "@"])
def test_csv_cells_that_look_like_formulas_are_defused(start):
    from moderation.review.transparency import Figure, figure_csv

    figure = Figure("x", "x", "", (), (f"{start}head",), ((f"{start}1+1",), ("safe",), (3,)))
    assert figure_csv(figure).splitlines() == [f"'{start}head", f"'{start}1+1", "safe", "3"]


def test_a_malformed_date_is_an_inline_error_and_a_400_on_the_csv(app, client, factory):
    factory.login_as(client, "auditor")
    for query in ("?since=2025-13-01", "?until=yesterday", "?since=20250301"):
        page = client.get(f"/transparency{query}")
        assert page.status_code == 400
        assert 'role="alert">Give the' in page.text and "(YYYY-MM-DD)" in page.text
        assert "<svg" not in page.text
        for figure in FIGURES:
            assert client.get(f"/transparency/{figure}.csv{query}").status_code == 400
    backwards = client.get("/transparency/notices.csv?since=2025-03-02&until=2025-03-01")
    assert backwards.status_code == 400 and "after the last day" in backwards.text
    assert client.get("/transparency/nothing.csv").status_code == 404


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (("auditor",), 200),
        (("admin",), 200),
        (("reviewer:general",), 403),
        (("qa",), 403),
        (("specialist:legal",), 403),
        ((), 403),
    ],
)
def test_only_auditors_and_admins_read_the_figures(app, client, factory, roles, status):
    factory.login_as(client, *roles)
    assert client.get("/transparency").status_code == status
    for figure in FIGURES:
        assert client.get(f"/transparency/{figure}.csv").status_code == status
    assert ("Transparency figures" in client.get("/").text) == (status == 200)


def test_strangers_are_sent_to_sign_in(client):
    for url in ("/transparency", "/transparency/notices.csv"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([], None, None),
        ([5.0], 5.0, 5.0),
        ([4.0, 1.0], 2.5, 3.7),
        ([1.0, 2.0, 3.0, 10.0], 2.5, 7.9),
        ([3.0, 1.0, 2.0], 2.0, 2.8),
    ],
)
def test_the_percentiles_interpolate_between_closest_ranks(values, median, p90):
    from moderation.review.transparency import percentile

    assert percentile(values, 0.5) == pytest.approx(median)
    assert percentile(values, 0.9) == pytest.approx(p90)


def test_only_a_case_s_first_final_decision_stops_its_clock(app, factory):
    """Decisions inserted with chosen times (rows are append-only, so inserted, not moved)."""
    from datetime import UTC

    from moderation.review.models import CaseDecision, DecisionKind, Outcome
    from moderation.review.transparency import Period, hours_to_decision, parse_period

    reviewer = factory.make_user(roles=("reviewer:general",))
    day = datetime(2025, 3, 1, tzinfo=UTC)
    first, second = make_case(app), make_case(app)
    for case_id in (first, second):
        _reported(app, case_id, day)
    rows = (
        (first, 1, True, DecisionKind.FIRST),
        (first, 200, True, DecisionKind.APPEAL),  # eight days later, on appeal
        (second, 3, False, DecisionKind.FIRST),  # provisional
        (second, 30, True, DecisionKind.SECOND_REVIEW),
    )
    with session_scope(_engine(app)) as db:
        for case_id, hours, final, kind in rows:
            db.add(
                CaseDecision(
                    case_id=case_id,
                    reviewer_id=reviewer.id,
                    outcome=Outcome.NO_ACTION,
                    facts="x",
                    decided_at=day + timedelta(hours=hours),
                    final=final,
                    kind=kind,
                )
            )
    with Session(_engine(app)) as db:
        assert sorted(hours_to_decision(db, Period())) == [1.0, 30.0]
        assert hours_to_decision(db, parse_period({"since": "2025-03-02"})) == [30.0]
        # The appeal decision falls in this period, but the case's first one did not.
        assert hours_to_decision(db, parse_period({"since": "2025-03-03"})) == []
        assert hours_to_decision(db, parse_period({"until": "2025-03-01"})) == [1.0]
