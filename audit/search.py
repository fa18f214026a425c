"""Auditor queries over the access log: filters, keyset pages, per-case and per-actor views."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, select
from sqlmodel import Session

from audit.checkpoints import latest_signed, parse_time
from audit.models import AccessEntry, AccessNote, VerificationRun, VerifyRequest
from audit.names import case_ids
from audit.reasons import AccessAction, Decision, ReasonCode
from core.db import COUNT_CAP
from core.timeutil import as_utc
from core.web import bounded_int

PAGE_SIZE = 50
_TEXT_LIMIT = 120


class FilterError(ValueError):
    """A filter value the auditor has to correct."""


@dataclass(frozen=True)
class LogFilter:
    """What an auditor narrows the log to; empty strings mean "any"."""

    actor: str = ""  # an account id, or part of the copied actor label
    case: str = ""
    conversation: str = ""
    action: str = ""
    decision: str = ""
    reason: str = ""
    since: str = ""  # UTC, YYYY-MM-DD or YYYY-MM-DDTHH:MM, inclusive
    until: str = ""  # UTC; a bare date includes that whole day

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> LogFilter:
        """Read filters from query arguments, trimmed and length-limited."""
        names = [f.name for f in fields(cls)]
        return cls(**{name: (args.get(name) or "").strip()[:_TEXT_LIMIT] for name in names})

    def as_args(self) -> dict[str, str]:
        """The non-empty filters, for links that keep them."""
        return {name: value for name, value in asdict(self).items() if value}


def _parse_time(value: str, *, end: bool) -> datetime:
    for pattern in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
        return parsed + timedelta(days=1) if end and pattern == "%Y-%m-%d" else parsed
    raise FilterError(f"{value!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM), UTC")


def _choice(value: str, allowed: type, label: str) -> str:
    if value not in {member.value for member in allowed}:
        raise FilterError(f"unknown {label} {value!r}")
    return value


def apply_filter(query: Select, log_filter: LogFilter, session: Session | None = None) -> Select:
    """Add the filter's conditions to a query over access_entry; raise FilterError. With a
    session, a case filter also matches by the reference staff see (audit.names)."""
    f, entry = log_filter, AccessEntry
    if f.actor.isdigit():  # an id past what the column holds matches nobody (not a 500)
        query = query.where(entry.actor_id == bounded_int(f.actor))
    elif f.actor:
        query = query.where(func.lower(entry.actor_label).contains(f.actor.lower()))
    if f.case:
        wanted = _case_ids(session, f.case) if session is not None else [f.case]
        query = query.where(entry.case_id.in_(wanted))
    if f.conversation:
        query = query.where(entry.conversation_id == f.conversation)
    if f.action:
        query = query.where(entry.action == _choice(f.action, AccessAction, "action"))
    if f.decision:
        query = query.where(entry.decision == _choice(f.decision, Decision, "decision"))
    if f.reason:
        query = query.where(entry.reason_code == _choice(f.reason, ReasonCode, "reason"))
    if f.since:
        query = query.where(entry.occurred_at >= _parse_time(f.since, end=False))
    if f.until:
        query = query.where(entry.occurred_at < _parse_time(f.until, end=True))
    return query


def _case_ids(session: Session, text: str) -> list[str]:
    """case_ids, asked once per session: a page filters its rows and its counts alike (a
    reference never changes its case)."""
    known = session.info.setdefault("vigil.case_ids", {})
    if text not in known:
        known[text] = case_ids(session, text)
    return known[text]


def validate(log_filter: LogFilter) -> None:
    """Raise FilterError if any filter value is malformed."""
    apply_filter(select(AccessEntry.seq), log_filter)


def _with_notes() -> Select:
    return select(AccessEntry, AccessNote.text).outerjoin(
        AccessNote, AccessNote.entry_seq == AccessEntry.seq
    )


def search_page(
    session: Session, *, log_filter: LogFilter, before: int | None, limit: int = PAGE_SIZE
) -> tuple[list, int | None]:
    """Newest first: ([(entry, note text or None)], the `before` of the next page or None)."""
    query = apply_filter(_with_notes(), log_filter, session)
    if before is not None:
        query = query.where(AccessEntry.seq < before)
    rows = session.execute(query.order_by(AccessEntry.seq.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [tuple(row) for row in rows], (rows[-1][0].seq if more else None)


def iter_filtered(session: Session, *, log_filter: LogFilter) -> Iterator[tuple]:
    """Every matching (entry, note text), oldest first, streamed (for exports)."""
    query = apply_filter(_with_notes(), log_filter, session).order_by(AccessEntry.seq)
    for row in session.execute(query, execution_options={"yield_per": 1000}):
        yield tuple(row)


COUNTS_WINDOW = COUNT_CAP  # the counts table covers at most the newest this many matches


def counts(session: Session, *, log_filter: LogFilter) -> list[tuple[str, str, str, int]]:
    """(action, decision, reason, count) over the newest COUNTS_WINDOW filtered entries.

    Bounded so that the page costs the same on a log of millions: a count over the whole
    log is `audit verify`'s job (or an export's), not a page's."""
    keys = (AccessEntry.action, AccessEntry.decision, AccessEntry.reason_code)
    window = (
        apply_filter(select(*keys), log_filter, session)
        .order_by(AccessEntry.seq.desc())
        .limit(COUNTS_WINDOW)
        .subquery()
    )
    columns = (window.c.action, window.c.decision, window.c.reason_code)
    query = select(*columns, func.count()).group_by(*columns).order_by(func.count().desc())
    return [tuple(row) for row in session.execute(query)]


def actor_overview(session: Session, *, actor_id: int) -> dict:
    """First and last entry, label and totals of one account's accesses."""
    entry = AccessEntry
    # Cases and queues apart: a refused queue listing names a queue, not a case, and ""
    # is no case at all.
    query = select(
        func.min(entry.occurred_at),
        func.max(entry.occurred_at),
        func.count(),
        func.count(func.nullif(entry.case_id, "").distinct()),
        func.count(func.nullif(entry.queue, "").distinct()),
    ).where(entry.actor_id == actor_id)
    first, last, total, cases, queues = session.execute(query).one()
    label = session.execute(
        select(entry.actor_label).where(entry.actor_id == actor_id).order_by(entry.seq.desc())
    ).scalar()
    return {
        "first": first,
        "last": last,
        "total": total,
        "cases": cases,
        "queues": queues,
        "label": label,
    }


@dataclass(frozen=True)
class Alert:
    """Something on the status page an auditor should act on."""

    text: str
    actor_id: int | None = None


def _spikes(session: Session, *, since: datetime, denials: int, break_glass: int) -> list[Alert]:
    entry = AccessEntry
    alerts = []
    for condition, threshold, what in (
        (entry.decision == Decision.DENIED.value, denials, "refused attempts"),
        (entry.reason_code == ReasonCode.BREAK_GLASS.value, break_glass, "break-glass looks"),
    ):
        rows = session.execute(
            select(entry.actor_id, func.max(entry.actor_label), func.count())
            .where(condition, entry.occurred_at >= since, entry.actor_id.is_not(None))
            .group_by(entry.actor_id)
            .having(func.count() >= threshold)
            .order_by(func.count().desc())
        )
        for actor_id, label, count in rows:
            alerts.append(Alert(f"{label}: {count} {what} in the last 24 hours", actor_id))
    return alerts


def status(
    session: Session,
    *,
    keys,
    origin: str,
    settings: Mapping,
    now: datetime,
) -> dict:
    """What the verification panel shows: size, the newest signed checkpoint (read from its
    note), the last verification and any waiting request, and the alerts."""
    head = session.execute(select(func.max(AccessEntry.seq))).scalar()
    size = 0 if head is None else head + 1
    signed = latest_signed(session, keys=keys, origin=origin)
    signed_at = parse_time(signed.signed_at) if signed else None
    covered = signed.size if signed else 0
    oldest_unsigned = session.execute(
        select(AccessEntry.occurred_at).where(AccessEntry.seq == covered)
    ).scalar()
    run = session.execute(
        select(VerificationRun).order_by(VerificationRun.id.desc()).limit(1)
    ).scalar()
    answered = session.execute(select(func.max(VerificationRun.request_id))).scalar() or 0
    waiting = (
        session.execute(
            select(VerifyRequest).where(VerifyRequest.id > answered).order_by(VerifyRequest.id)
        )
        .scalars()
        .all()
    )
    alerts = []
    every = timedelta(seconds=settings["VERIFY_EVERY_SECONDS"])
    interval = timedelta(seconds=settings["CHECKPOINT_INTERVAL_SECONDS"])
    if run is None:
        alerts.append(Alert("The log has never been verified."))
    else:
        if not run.ok:
            alerts.append(Alert(f"The last verification FAILED: {run.summary}"))
        if now - as_utc(run.finished_at) > 2 * every:
            alerts.append(Alert("Verification is stale: the sidecar has not verified lately."))
    if oldest_unsigned is not None and now - as_utc(oldest_unsigned) > interval:
        alerts.append(
            Alert(f"{size - covered} entries are covered by no signed checkpoint (unanchored).")
        )
    alerts += _spikes(
        session,
        since=now - timedelta(hours=24),
        denials=settings["ALERT_DENIALS_PER_DAY"],
        break_glass=settings["ALERT_BREAK_GLASS_PER_DAY"],
    )
    return {
        "size": size,
        "signed": signed,
        "signed_at": signed_at,
        "unsigned": size - covered,
        "verification": run,
        "waiting": waiting,
        "alerts": alerts,
    }
