"""Fail-closed helpers for views that serve conversation content.

`reveal` commits an ALLOWED entry before the caller may touch content; `record_denial`
commits a DENIED entry and returns, so the view decides what the refusal looks like.
Either one answers 503 (and no content) when the log cannot be written. Both commit the
request session, so call them before any other change the view makes.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

from flask import abort
from sqlmodel import Session

from audit import access_log
from audit.reasons import AccessAction, Decision, ReasonCode

log = logging.getLogger(__name__)
UNAVAILABLE = "The access log cannot be written right now, so no content is shown."


def _append_and_commit(session: Session, **facts: Any) -> SimpleNamespace:
    try:
        entry = access_log.record_access(session, **facts)
        session.commit()
    except Exception:
        log.exception("access log append failed; refusing to serve content")
        session.rollback()
        abort(503, UNAVAILABLE)
    return entry


def reveal(
    session: Session,
    *,
    actor: Any,
    action: AccessAction | str,
    reason_code: ReasonCode | str,
    case_id: str | int | None,
    conversation_id: str | int | None,
    evidence_version: int | None,
    note: str | None = None,
    queue: str = "",
    message: int | None = None,
    grant_id: str | int | None = None,
) -> SimpleNamespace:
    """Append and commit an ALLOWED entry; abort 503 unless it committed."""
    return _append_and_commit(
        session,
        actor=actor,
        action=action,
        decision=Decision.ALLOWED,
        reason_code=reason_code,
        case_id=case_id,
        conversation_id=conversation_id,
        evidence_version=evidence_version,
        note=note,
        queue=queue,
        message=message,
        grant_id=grant_id,
    )


def record_denial(
    session: Session,
    *,
    actor: Any,
    action: AccessAction | str,
    reason_code: ReasonCode | str | None,
    case_id: str | int | None,
    conversation_id: str | int | None,
    evidence_version: int | None,
    note: str | None = None,
    queue: str = "",
    message: int | None = None,
    grant_id: str | int | None = None,
) -> SimpleNamespace:
    """Append and commit a DENIED entry (503 if it cannot be written); the view answers."""
    session.rollback()  # nothing the view prepared may ride along with a denial
    return _append_and_commit(
        session,
        actor=actor,
        action=action,
        decision=Decision.DENIED,
        reason_code=reason_code,
        case_id=case_id,
        conversation_id=conversation_id,
        evidence_version=evidence_version,
        note=note,
        queue=queue,
        message=message,
        grant_id=grant_id,
    )
