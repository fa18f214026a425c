"""Auditor queries over the access log: filters, keyset pages, per-case and per-actor views."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta

from sqlalchemy import Select, func, select
from sqlmodel import Session

from audit.models import AccessEntry, AccessNote, AuditCheckpoint, VerificationRun
from audit.reasons import AccessAction, Decision, ReasonCode

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


def apply_filter(query: Select, log_filter: LogFilter) -> Select:
    """Add the filter's conditions to a query over access_entry; raise FilterError."""
    f, entry = log_filter, AccessEntry
    if f.actor.isdigit():
        query = query.where(entry.actor_id == int(f.actor))
    elif f.actor:
        query = query.where(func.lower(entry.actor_label).contains(f.actor.lower()))
    if f.case:
        query = query.where(entry.case_id == f.case)
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
    query = apply_filter(_with_notes(), log_filter)
    if before is not None:
        query = query.where(AccessEntry.seq < before)
    rows = session.execute(query.order_by(AccessEntry.seq.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return [tuple(row) for row in rows], (rows[-1][0].seq if more else None)


def iter_filtered(session: Session, *, log_filter: LogFilter) -> Iterator[tuple]:
    """Every matching (entry, note text), oldest first, streamed (for exports)."""
    query = apply_filter(_with_notes(), log_filter).order_by(AccessEntry.seq)
    for row in session.execute(query, execution_options={"yield_per": 1000}):
        yield tuple(row)


def counts(session: Session, *, log_filter: LogFilter) -> list[tuple[str, str, str, int]]:
    """(action, decision, reason, count) over the filtered entries."""
    keys = (AccessEntry.action, AccessEntry.decision, AccessEntry.reason_code)
    query = apply_filter(select(*keys, func.count()), log_filter).group_by(*keys)
    return [tuple(row) for row in session.execute(query.order_by(func.count().desc()))]


def actor_overview(session: Session, *, actor_id: int) -> dict:
    """First and last entry, label and totals of one account's accesses."""
    entry = AccessEntry
    query = select(
        func.min(entry.occurred_at),
        func.max(entry.occurred_at),
        func.count(),
        func.count(entry.case_id.distinct()),
    ).where(entry.actor_id == actor_id)
    first, last, total, cases = session.execute(query).one()
    label = session.execute(
        select(entry.actor_label).where(entry.actor_id == actor_id).order_by(entry.seq.desc())
    ).scalar()
    return {"first": first, "last": last, "total": total, "cases": cases, "label": label}


def status(session: Session) -> dict:
    """What the verification panel shows: size, last checkpoint, last verification."""
    head = session.execute(select(func.max(AccessEntry.seq))).scalar()
    checkpoint = session.execute(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
    ).scalar()
    run = session.execute(
        select(VerificationRun).order_by(VerificationRun.id.desc()).limit(1)
    ).scalar()
    return {"size": 0 if head is None else head + 1, "checkpoint": checkpoint, "verification": run}
