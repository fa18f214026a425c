"""Cases: one open case per conversation, its queue, priority and SLA deadline.

Dedupe. Every report about a conversation joins that conversation's open case; the case
counts reports and distinct reporters, keeps the first and last report times and the set
of channels and DSA source types the reports came through.

Closed cases are not reopened. A report about a conversation whose case is closed opens a
new case linked to the old one (previous_case_id). The closed case's decision and its
statement of reasons stand as issued (DSA Art. 17); a new notice deserves its own
assessment and its own statement of reasons, and reopening would rewrite the history an
auditor or an appeal relies on (the old evidence, decision and retention clock stay as
they were). Reviewers see the link and can read the earlier outcome.

Queue. Child safety wins: once any report of a case is in a child-safety category the whole
case moves to the child_safety queue (served only by specialists) and never moves back.

Priority is taxonomy.priority() (see its docstring for the formula) over the case's most
severe category, whether any report came from a trusted flagger, the number of distinct
reporters and the age of the first report. It is stored so queues can ORDER BY it;
refresh_priorities() brings the age part up to date.

SLA. Each category has a deadline in minutes (taxonomy.json; VIGIL_SLA_MINUTES overrides);
a case is due at the earliest deadline any of its reports set.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import and_, func
from sqlalchemy import case as sa_case
from sqlmodel import Session, col, select

from access_control.permissions import Queue
from core.timeutil import as_utc
from moderation.intake import taxonomy
from moderation.intake.models import Case, CaseStage, CaseState, Report
from privacy.conversations import primary_language

# Crockford's base32: no I, L, O or U, so a reference read over the phone survives.
REF_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REF_LENGTH = 10  # 50 random bits
TRUSTED_FLAGGER = "trusted_flagger"


def new_ref(prefix: str) -> str:
    """A non-guessable reference such as VR-7K2M9QF3XD."""
    return prefix + "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))


def parse_category_numbers(value: str, setting: str = "VIGIL_SLA_MINUTES") -> dict[str, int]:
    """Read "category=N,category=N" (SLA minutes, retention or hold days); ValueError if
    malformed, KeyError for an unknown category."""
    overrides: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        key, sep, number = item.partition("=")
        key = key.strip()
        if not sep or not number.strip().isdigit() or int(number) <= 0:
            raise ValueError(f"{setting}: expected category=number, got {item!r}")
        taxonomy.category(key)  # KeyError names an unknown category
        overrides[key] = int(number)
    return overrides


def parse_sla_overrides(value: str) -> dict[str, int]:
    """Read "category=minutes,category=minutes" (VIGIL_SLA_MINUTES)."""
    return parse_category_numbers(value, "VIGIL_SLA_MINUTES")


def sla_minutes(category_key: str, overrides: Mapping[str, int]) -> int:
    """The SLA in minutes for a category, after configured overrides."""
    return overrides.get(category_key, taxonomy.category(category_key).sla_minutes)


def current_priority(case: Case, *, now: datetime) -> int:
    """The case's priority at `now` (see the module docstring)."""
    age = (now - as_utc(case.first_reported_at)).total_seconds() / 3600
    return taxonomy.priority(
        severity=case.severity,
        trusted_flagger=case.trusted_flagger,
        distinct_reporters=case.distinct_reporters,
        age_hours=age,
    )


def open_case(
    session: Session, *, conversation_id: int, category: str, now: datetime
) -> tuple[Case, bool]:
    """The open case a new report joins, or a new one linked to the latest closed one."""
    # One query: the open case if any, else the newest other one to link to. A case under
    # appeal is not joined: a new report gets its own first review (and four-eyes).
    joinable = and_(col(Case.state) == CaseState.OPEN, col(Case.stage) != CaseStage.APPEAL)
    latest = session.exec(
        select(Case)
        .where(Case.conversation_id == conversation_id)
        .order_by(sa_case((joinable, 0), else_=1), col(Case.id).desc())
        .limit(1)
    ).first()
    if latest is not None and latest.state == CaseState.OPEN and latest.stage != CaseStage.APPEAL:
        return latest, False
    chosen = taxonomy.category(category)
    case = Case(
        # No pre-check for a taken reference: with 50 random bits a clash is so rare that
        # failing the transaction on the unique index (the client retries) is the right cost.
        ref=new_ref("VC-"),
        conversation_id=conversation_id,
        queue=chosen.queue,
        category=chosen.key,
        severity=chosen.severity,
        previous_case_id=latest.id if latest is not None else None,
        first_reported_at=now,
        last_reported_at=now,
        sla_due_at=now + timedelta(days=3650),  # lowered by the first add_report_to_case
        created_at=now,
    )
    session.add(case)
    session.flush()
    return case, True


def _merge(values: str, new: str) -> str:
    return ",".join(sorted({*filter(None, values.split(",")), new}))


def add_report_to_case(
    session: Session,
    *,
    case: Case,
    report: Report,
    now: datetime,
    sla: Mapping[str, int],
    new_case: bool = False,
    language: str = "",
) -> Case:
    """Fold a flushed report into its case: counts, sources, queue, SLA and priority."""
    chosen = taxonomy.category(report.category)
    case.report_count += 1
    case.last_reported_at = now
    case.channels = _merge(case.channels, report.channel)
    case.source_types = _merge(case.source_types, report.source_type)
    case.language = primary_language(language) or case.language
    case.trusted_flagger = case.trusted_flagger or report.source_type == TRUSTED_FLAGGER
    if chosen.severity > case.severity:
        case.category, case.severity = chosen.key, chosen.severity
    if chosen.queue == Queue.CHILD_SAFETY:
        case.queue = Queue.CHILD_SAFETY
    due = now + timedelta(minutes=sla_minutes(chosen.key, sla))
    case.sla_due_at = min(as_utc(case.sla_due_at), due)
    case.distinct_reporters = (
        1
        if new_case
        else session.exec(
            select(func.count(func.distinct(Report.reporter_key))).where(Report.case_id == case.id)
        ).one()
    )
    case.priority = current_priority(case, now=now)
    session.add(case)
    return case


def refresh_priorities(session: Session, *, now: datetime) -> int:
    """Recompute the age-dependent priority of every open case; returns how many changed."""
    changed = 0
    for case in session.exec(select(Case).where(Case.state == CaseState.OPEN)):
        fresh = current_priority(case, now=now)
        if fresh != case.priority:
            case.priority = fresh
            session.add(case)
            changed += 1
    return changed
