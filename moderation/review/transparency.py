"""Transparency figures (DSA Art. 15 and 24 style): counts of notices, final decisions,
automation, time to decision and appeals over a period, for auditors and admins.

Only counts leave here: never conversation text, report words, decision facts, names or
reviewer identities. One grouped query per figure; the breakdowns are sums over its rows.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.timeutil import as_utc
from moderation.intake import taxonomy
from moderation.intake.models import Case, Channel, Report
from moderation.review.models import (
    Appeal,
    AppealOutcome,
    Appellant,
    Automation,
    CaseDecision,
    DecisionKind,
    Ground,
    Outcome,
)

SOURCE_LABELS = {
    "user_notice": "User notice",
    "trusted_flagger": "Trusted flagger",
    "automated_detection": "Automated detection",
    "own_initiative": "Own initiative",
}
CHANNEL_LABELS = {
    Channel.WEB: "Web report (signed-in user)",
    Channel.NOTICE: "Public notice form",
    Channel.API: "Chat backend (API)",
}
GROUND_LABELS = {
    Ground.ILLEGAL: "Illegal content",
    Ground.INCOMPATIBLE: "Against the terms of service",
    Ground.NO_VIOLATION: "No violation found",
}
ACTION_LABELS = {
    Outcome.NO_ACTION: "No action",
    Outcome.DISABLE_SHARE_LINKS: "Share links disabled",
    Outcome.REMOVE: "Content removed",
    Outcome.RESTRICT: "Account restricted",
    Outcome.REFER_TO_LAW_ENFORCEMENT: "Referred to the authorities",
}
KIND_LABELS = {
    DecisionKind.FIRST: "First decision",
    DecisionKind.SECOND_REVIEW: "Second specialist (four-eyes)",
    DecisionKind.APPEAL: "Appeal (decision replaced)",
}
AUTOMATION_LABELS = {
    Automation.NOT_AUTOMATED: "Not automated",
    Automation.PARTIALLY: "Partially automated",
    Automation.FULLY: "Fully automated",
}
APPELLANT_LABELS = {Appellant.AFFECTED: "Affected user", Appellant.REPORTER: "Reporter"}
OPEN = "open"  # an appeal not decided yet (Appeal.outcome is NULL)
APPEAL_OUTCOME_LABELS = {
    AppealOutcome.UPHELD: "Upheld (decision stands)",
    AppealOutcome.OVERTURNED: "Overturned (decision replaced)",
    OPEN: "Open",
}
# Spreadsheets run cells that start like formulas; labels come from files and settings.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


class PeriodError(ValueError):
    """The period in the query string is malformed."""


@dataclass(frozen=True)
class Period:
    """Whole UTC days, both ends included; None: open on that side."""

    since: date | None = None
    until: date | None = None

    @property
    def start(self) -> datetime | None:
        """The first instant counted."""
        return datetime.combine(self.since, time.min, tzinfo=UTC) if self.since else None

    @property
    def end(self) -> datetime | None:
        """The first instant after the period (exclusive)."""
        if self.until is None:
            return None
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)

    def as_args(self) -> dict[str, str]:
        """The period as query arguments (for links to the CSV files)."""
        args = {"since": self.since, "until": self.until}
        return {name: day.isoformat() for name, day in args.items() if day is not None}

    def describe(self) -> str:
        """The period in words."""
        if self.since and self.until:
            return f"{self.since.isoformat()} to {self.until.isoformat()} (UTC, inclusive)"
        if self.since:
            return f"from {self.since.isoformat()} (UTC)"
        if self.until:
            return f"up to and including {self.until.isoformat()} (UTC)"
        return "all time"


def _day(raw: str, name: str) -> date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        if not DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise PeriodError(f"Give {name} as a date (YYYY-MM-DD), or leave it empty.") from exc


def parse_period(args: Mapping[str, str]) -> Period:
    """The period `?since=YYYY-MM-DD&until=YYYY-MM-DD` asks for; PeriodError if malformed."""
    period = Period(
        since=_day(args.get("since", ""), "the first day"),
        until=_day(args.get("until", ""), "the last day"),
    )
    if period.since and period.until and period.since > period.until:
        raise PeriodError("The first day comes after the last day.")
    return period


def within(column, period: Period):
    """SQL conditions: `column` falls in the period."""
    conditions = []
    if period.start is not None:
        conditions.append(column >= period.start)
    if period.end is not None:
        conditions.append(column < period.end)
    return conditions


@dataclass(frozen=True)
class Row:
    """One bar and one table row: what is counted and how many (or how long)."""

    label: str
    value: float


@dataclass(frozen=True)
class Breakdown:
    """One chart: a title, the unit of its values, and its rows in a fixed order."""

    title: str
    unit: str
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Figure:
    """One figure: what it counts, its charts, and its CSV rows."""

    slug: str
    title: str
    explanation: str
    breakdowns: tuple[Breakdown, ...]
    csv_header: tuple[str, ...]
    csv_rows: tuple[tuple, ...]
    summary: str = ""


def category_label(key: str) -> str:
    """The taxonomy label of a category (the key itself for a retired one)."""
    try:
        return taxonomy.category(key).label
    except KeyError:
        return key


def _order(keys: Iterable[str]) -> dict[str, int]:
    return {key: index for index, key in enumerate(keys)}


def sum_by(counts: Mapping[tuple, int], pick, labels, order) -> tuple[Row, ...]:
    """Rows summing `counts` by `pick(key)`, labelled and in `order` (unknown keys last)."""
    totals: Counter = Counter()
    for key, count in counts.items():
        totals[pick(key)] += count
    ranked = sorted(totals, key=lambda k: (order.get(k, len(order)), str(k)))
    return tuple(Row(labels(k), totals[k]) for k in ranked if totals[k])


def notices(session: Session, period: Period) -> Figure:
    """Figure 1: reports received, by category and source type, and by channel."""
    query = (
        select(Report.category, Report.source_type, Report.channel, func.count())
        .where(*within(col(Report.created_at), period))
        .group_by(col(Report.category), col(Report.source_type), col(Report.channel))
    )
    counts = {(c, s, Channel(ch)): n for c, s, ch, n in session.exec(query)}
    categories = [c.key for c in taxonomy.categories()]
    pairs = _order((c, s) for c in categories for s in taxonomy.SOURCES)
    by_pair = sum_by(
        counts,
        lambda k: (k[0], k[1]),
        lambda k: f"{category_label(k[0])} · {SOURCE_LABELS.get(k[1], k[1])}",
        pairs,
    )
    by_channel = sum_by(counts, lambda k: k[2], CHANNEL_LABELS.get, _order(CHANNEL_LABELS))
    rows = sorted(counts.items(), key=lambda kv: (pairs.get(kv[0][:2], len(pairs)), kv[0]))
    return Figure(
        slug="notices",
        title="Notices received",
        explanation=(
            "Every report received in the period (by the time it arrived), whatever became of "
            "it: by the category the reporter chose and where it came from, and by channel."
        ),
        breakdowns=(
            Breakdown("Reports by category and source type", "reports", by_pair),
            Breakdown("Reports by channel", "reports", by_channel),
        ),
        csv_header=("category", "category_label", "source_type", "channel", "reports"),
        csv_rows=tuple((c, category_label(c), s, str(ch), n) for (c, s, ch), n in rows),
        summary=f"{sum(counts.values())} report(s) received.",
    )


def decisions(session: Session, period: Period) -> Figure:
    """Figure 2: final decisions taken in the period, by ground, by action and by kind."""
    query = (
        select(CaseDecision.ground, CaseDecision.outcome, CaseDecision.kind, func.count())
        .where(col(CaseDecision.final), *within(col(CaseDecision.decided_at), period))
        .group_by(col(CaseDecision.ground), col(CaseDecision.outcome), col(CaseDecision.kind))
    )
    counts = {(Ground(g), Outcome(o), DecisionKind(k)): n for g, o, k, n in session.exec(query)}
    grounds, actions, kinds = _order(GROUND_LABELS), _order(ACTION_LABELS), _order(KIND_LABELS)
    rows = sorted(counts.items(), key=lambda kv: (grounds[kv[0][0]], actions[kv[0][1]], kv[0]))
    return Figure(
        slug="decisions",
        title="Decisions by ground and action",
        explanation=(
            "Every final decision taken in the period, including those that replace an earlier "
            "one: a second specialist's confirmation or correction of a provisional decision, "
            "and a decision taken on appeal. Provisional decisions awaiting a second specialist "
            "are not counted; an upheld appeal adds no decision."
        ),
        breakdowns=(
            Breakdown(
                "Final decisions by ground",
                "decisions",
                sum_by(counts, lambda k: k[0], GROUND_LABELS.get, grounds),
            ),
            Breakdown(
                "Final decisions by action",
                "decisions",
                sum_by(counts, lambda k: k[1], ACTION_LABELS.get, actions),
            ),
            Breakdown(
                "Final decisions by kind",
                "decisions",
                sum_by(counts, lambda k: k[2], KIND_LABELS.get, kinds),
            ),
        ),
        csv_header=("ground", "action", "kind", "decisions"),
        csv_rows=tuple((str(g), str(o), str(k), n) for (g, o, k), n in rows),
        summary=f"{sum(counts.values())} final decision(s).",
    )


def automation(session: Session, period: Period) -> Figure:
    """Figure 3: how many final decisions followed automated detection, and how automated
    the decisions themselves were."""
    query = (
        select(CaseDecision.automated_detection, CaseDecision.automated_decision, func.count())
        .where(col(CaseDecision.final), *within(col(CaseDecision.decided_at), period))
        .group_by(col(CaseDecision.automated_detection), col(CaseDecision.automated_decision))
    )
    counts = {(bool(d), Automation(a)): n for d, a, n in session.exec(query)}
    total = sum(counts.values())
    detected = sum(n for (d, _a), n in counts.items() if d)
    share = f"{100 * detected / total:.1f} %" if total else "no final decision"
    labels = {True: "Automated detection", False: "No automated detection"}
    rows = sorted(
        counts.items(), key=lambda kv: (not kv[0][0], _order(AUTOMATION_LABELS)[kv[0][1]])
    )
    return Figure(
        slug="automation",
        title="Automated detection and automated decisions",
        explanation=(
            "Of the same final decisions: how many the decider marked as found by automated "
            "detection, and how far the decision itself was automated."
        ),
        breakdowns=(
            Breakdown(
                "Final decisions by detection",
                "decisions",
                sum_by(counts, lambda k: k[0], labels.get, {True: 0, False: 1}),
            ),
            Breakdown(
                "Final decisions by automation of the decision",
                "decisions",
                sum_by(counts, lambda k: k[1], AUTOMATION_LABELS.get, _order(AUTOMATION_LABELS)),
            ),
        ),
        csv_header=("automated_detection", "automated_decision", "decisions"),
        csv_rows=tuple(("yes" if d else "no", str(a), n) for (d, a), n in rows),
        summary=f"Automated detection: {detected} of {total} final decision(s) ({share}).",
    )


def percentile(values: Iterable[float], fraction: float) -> float | None:
    """The `fraction` quantile by linear interpolation between closest ranks (0.5 is the
    median: the mean of the middle two for an even count); None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = fraction * (len(ordered) - 1)
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def hours_to_decision(session: Session, period: Period) -> list[float]:
    """For each case whose first final decision falls in the period: the hours from its
    first report to that decision."""
    first_final = func.min(col(CaseDecision.decided_at))
    query = (
        select(Case.first_reported_at, first_final)
        .join(CaseDecision, col(CaseDecision.case_id) == col(Case.id))
        .where(col(CaseDecision.final))
        .group_by(col(Case.id), col(Case.first_reported_at))
        .having(*within(first_final, period))
    )
    return [
        (as_utc(decided) - as_utc(reported)).total_seconds() / 3600
        for reported, decided in session.exec(query)
    ]


def time_to_decision(session: Session, period: Period) -> Figure:
    """Figure 4: median and 90th percentile of the time from report to first final decision."""
    hours = hours_to_decision(session, period)
    median, p90 = percentile(hours, 0.5), percentile(hours, 0.9)
    rows = (
        ()
        if not hours
        else (Row("Median", round(median, 2)), Row("90th percentile", round(p90, 2)))
    )
    shown = "" if median is None else f"{median:.2f}"
    return Figure(
        slug="time-to-decision",
        title="Time from report to decision",
        explanation=(
            "For every case whose first final decision was taken in the period: the time from "
            "the case's first report to that decision, in hours. A provisional decision stops "
            "no clock; the second specialist's final one does."
        ),
        breakdowns=(Breakdown("Hours from first report to first final decision", "hours", rows),),
        csv_header=("statistic", "value"),
        csv_rows=(
            ("cases", len(hours)),
            ("median_hours", shown),
            ("p90_hours", "" if p90 is None else f"{p90:.2f}"),
        ),
        summary=f"Based on {len(hours)} case(s)." + (f" Median {shown} hours." if shown else ""),
    )


def appeals(session: Session, period: Period) -> Figure:
    """Figure 5: appeals filed in the period, by appellant and by outcome (open if undecided)."""
    query = (
        select(Appeal.appellant, Appeal.outcome, func.count())
        .where(*within(col(Appeal.filed_at), period))
        .group_by(col(Appeal.appellant), col(Appeal.outcome))
    )
    counts = {
        (Appellant(who), AppealOutcome(outcome) if outcome else OPEN): n
        for who, outcome, n in session.exec(query)
    }
    people, outcomes = _order(APPELLANT_LABELS), _order(APPEAL_OUTCOME_LABELS)
    rows = sorted(counts.items(), key=lambda kv: (people[kv[0][0]], outcomes[kv[0][1]]))
    return Figure(
        slug="appeals",
        title="Appeals and their outcomes",
        explanation=(
            "Every appeal (internal complaint) filed in the period, by who filed it and by its "
            "outcome so far: upheld, overturned, or still open."
        ),
        breakdowns=(
            Breakdown(
                "Appeals by appellant",
                "appeals",
                sum_by(counts, lambda k: k[0], APPELLANT_LABELS.get, people),
            ),
            Breakdown(
                "Appeals by outcome",
                "appeals",
                sum_by(counts, lambda k: k[1], APPEAL_OUTCOME_LABELS.get, outcomes),
            ),
        ),
        csv_header=("appellant", "outcome", "appeals"),
        csv_rows=tuple((str(who), str(outcome), n) for (who, outcome), n in rows),
        summary=f"{sum(counts.values())} appeal(s) filed.",
    )


FIGURES = {
    "notices": notices,
    "decisions": decisions,
    "automation": automation,
    "time-to-decision": time_to_decision,
    "appeals": appeals,
}


def all_figures(session: Session, period: Period) -> list[Figure]:
    """Every figure over the period, in page order."""
    return [build(session, period) for build in FIGURES.values()]


def csv_cell(value) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def figure_csv(figure: Figure) -> str:
    """The figure as CSV: a header row, then one row per group."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([csv_cell(name) for name in figure.csv_header])
    writer.writerows([csv_cell(value) for value in row] for row in figure.csv_rows)
    return buffer.getvalue()
