"""Queue listings: metadata only, filtered in SQL to the queues a reviewer holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import and_, bindparam, func, or_
from sqlmodel import Session, col, select

from access_control.permissions import QUEUES
from core.db import COUNT_CAP
from core.timeutil import as_utc
from moderation.intake.models import Case, CaseState
from moderation.review.models import CaseClaim

PAGE_SIZE = 50


def readable_queues(user, authorize) -> list[str]:
    """The queues whose listing the policy lets this user read."""
    return [queue for queue in QUEUES if authorize(user, "queue", "read", queue=queue)]


def may_use_workspace(user, authorize) -> bool:
    """Whether the workspace has anything for this user: a queue, break-glass approvals, QA
    samples or legal requests."""
    return (
        bool(readable_queues(user, authorize))
        or authorize(user, "break_glass", "approve")
        or authorize(user, "qa_sample", "create")
        or authorize(user, "legal_request", "create")
    )


@dataclass(frozen=True)
class QueueFilter:
    """What a reviewer narrowed the queue to (all optional)."""

    category: str = ""
    source_type: str = ""
    min_reports: int = 0
    language: str = ""  # a primary subtag ("de"), as Case.language holds it


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row's priority, first-report time and id."""

    priority: int
    first_reported_at: datetime
    case_id: int

    def encode(self) -> str:
        """The cursor as a URL parameter."""
        stamp = as_utc(self.first_reported_at).timestamp()  # SQLite gives naive UTC
        return f"{self.priority}_{stamp:.6f}_{self.case_id}"

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """Parse a cursor; None for anything malformed."""
        try:
            priority, stamp, case_id = text.split("_")
            when = datetime.fromtimestamp(float(stamp), UTC)
            return cls(int(priority), when, int(case_id))
        except (ValueError, OverflowError):
            return None


def _open_in(queue: str):
    return and_(col(Case.state) == CaseState.OPEN, col(Case.queue) == queue)


def list_queue(
    session: Session, *, queue: str, flt: QueueFilter, after: Cursor | None, now: datetime
) -> list[tuple[Case, CaseClaim | None]]:
    """One page of open cases, highest priority first, then oldest."""
    query = (
        select(Case, CaseClaim)
        .outerjoin(CaseClaim, col(CaseClaim.case_id) == col(Case.id))
        .where(_open_in(queue))
    )
    if flt.category:
        query = query.where(col(Case.category) == flt.category)
    if flt.source_type:
        query = query.where(col(Case.source_types).contains(flt.source_type))
    if flt.language:
        query = query.where(col(Case.language) == flt.language)
    if flt.min_reports:
        query = query.where(col(Case.report_count) >= flt.min_reports)
    if after is not None:
        query = query.where(
            or_(
                col(Case.priority) < after.priority,
                and_(
                    col(Case.priority) == after.priority,
                    col(Case.first_reported_at) > after.first_reported_at,
                ),
                and_(
                    col(Case.priority) == after.priority,
                    col(Case.first_reported_at) == after.first_reported_at,
                    col(Case.id) > after.case_id,
                ),
            )
        )
    query = query.order_by(
        col(Case.priority).desc(), col(Case.first_reported_at), col(Case.id)
    ).limit(PAGE_SIZE)
    return [(row[0], row[1]) for row in session.exec(query).all()]


def _capped_count(queue, *conditions, along=Case.first_reported_at):
    """Count up to COUNT_CAP + 1 rows, walking the index on (state, queue, `along`): the
    order makes the planner read the range from the index instead of scanning the table
    until enough rows happen to match."""
    inner = (
        select(Case.id)
        .where(_open_in(queue), *conditions)
        .order_by(col(along))
        .limit(COUNT_CAP + 1)
        .subquery()
    )
    return select(func.count()).select_from(inner).scalar_subquery()


@cache
def _stats_statement():
    """The header counts' statement, built once: the queue and the times are bound
    parameters (building this tree cost more than running it on a small queue)."""
    queue, hour, day, now = (bindparam(name) for name in ("queue", "hour", "day", "now"))
    first = col(Case.first_reported_at)
    counts = {
        "total": _capped_count(queue),
        "under_hour": _capped_count(queue, first >= hour),
        "under_day": _capped_count(queue, first < hour, first >= day),
        "older": _capped_count(queue, first < day),
        "overdue": _capped_count(queue, col(Case.sla_due_at) < now, along=Case.sla_due_at),
    }
    return tuple(counts), select(*(value.label(name) for name, value in counts.items()))


def queue_stats(session: Session, *, queue: str, now: datetime) -> dict[str, int]:
    """Header counts (each capped at COUNT_CAP + 1): total, age buckets, overdue, in one
    round trip (each count still stops at the cap, so the page stays fast at any size)."""
    names, statement = _stats_statement()
    hour, day = now - timedelta(hours=1), now - timedelta(hours=24)
    params = {"queue": queue, "hour": hour, "day": day, "now": now}
    row = session.exec(statement, params=params).one()
    return dict(zip(names, row, strict=True))
