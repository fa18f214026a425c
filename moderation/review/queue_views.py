"""Workspace pages about queues: the overview, one queue, Next case, preferences."""

from __future__ import annotations

import re
from zoneinfo import available_timezones

from flask import abort, flash, redirect, render_template, request, url_for

from access_control.guard import ANY_QUEUE, authorize, requires
from access_control.permissions import QUEUES
from audit.gate import record_denial
from audit.reasons import AccessAction
from core.db import get_session
from core.timeutil import utcnow
from core.web import bounded_int
from moderation.intake import taxonomy
from moderation.intake.models import Case
from moderation.review import access, break_glass, claims, queues
from moderation.review.models import ReviewPreference
from moderation.review.web import (
    case_or_404,
    in_workspace,
    lease,
    me,
    review_bp,
    throttle_denials,
)

LANGUAGE_RE = re.compile(r"[a-z]{2,3}")
TIME_ZONES = frozenset(available_timezones()) | {"UTC"}
OVERSIGHT_DOORS = (
    ("qa_sample", "Quality assurance samples", "review.qa_samples"),
    ("legal_request", "Open a case for a legal request", "review.legal_request"),
)


def queue_arg(queue: str) -> str:
    """Guard resolver: the queue in the URL; only real queues reach the log (else 404)."""
    return queue if queue in QUEUES else abort(404 if in_workspace() else 403)


def refuse_queue(queue: str):
    """on_deny for a queue listing: a workspace user's refusal is logged before the 403."""
    if not in_workspace():
        return None  # outside the workspace: a plain 403, as for any staff-only page
    throttle_denials()
    record_denial(
        get_session(),
        actor=me(),
        action=AccessAction.OPEN,
        reason_code=None,
        case_id=None,
        conversation_id=None,
        evidence_version=None,
        queue=queue,
    )


@review_bp.route("/")
@requires("workspace", "use")
def overview():
    db, now = get_session(), utcnow()
    mine = queues.readable_queues(me(), authorize)
    stats = {queue: queues.queue_stats(db, queue=queue, now=now) for queue in mine}
    approver = any(authorize(me(), "break_glass", "approve", queue=q) for q in ("*", *mine))
    # Doors outside the queues, for the roles that have them (QA samples, legal requests).
    doors = [
        (label, endpoint)
        for obj, label, endpoint in OVERSIGHT_DOORS
        if authorize(me(), obj, "create")
    ]
    if not mine and not approver and not doors:
        abort(403)
    pending = break_glass.pending_grants(db) if approver else []
    return render_template(
        "moderation/review/overview.html",
        stats=stats,
        pending=pending,
        doors=doors,
        mine=claims.claims_of(db, reviewer=me(), now=now),
        now=now,
        time_zones=sorted(TIME_ZONES),
    )


def _language_arg(raw: str) -> tuple[str, str]:
    """A language filter as Case.language holds it, or "" and an error for the form."""
    language = raw.strip().lower()[:35].split("-", 1)[0]  # pt-BR filters on pt
    if language and not LANGUAGE_RE.fullmatch(language):
        return "", "Use a language code such as de, fil or pt-BR."
    return language, ""


@review_bp.route("/queues/<queue>")
@requires("queue", "read", queue=queue_arg, on_deny=refuse_queue)
def queue_page(queue: str):
    db, now = get_session(), utcnow()
    language, language_error = _language_arg(request.args.get("language", ""))
    raw_min = request.args.get("min_reports", "").strip()
    min_error = "" if raw_min.isdigit() or not raw_min else "Give the minimum as a whole number."
    flt = queues.QueueFilter(
        category=request.args.get("category", "")[:64],
        source_type=request.args.get("source_type", "")[:32],
        min_reports=min(int(raw_min), 10_000) if raw_min.isdigit() and len(raw_min) < 9 else 0,
        language=language,
    )
    after = queues.Cursor.decode(request.args.get("after", "")[:80])
    rows = queues.list_queue(db, queue=queue, flt=flt, after=after, now=now)
    last = rows[-1][0] if len(rows) == queues.PAGE_SIZE else None
    next_cursor = (
        queues.Cursor(last.priority, last.first_reported_at, last.id).encode() if last else None
    )
    return render_template(
        "moderation/review/queue.html",
        queue=queue,
        rows=rows,
        flt=flt,
        now=now,
        next_cursor=next_cursor,
        stats=queues.queue_stats(db, queue=queue, now=now),
        categories=taxonomy.categories(),
        language_error=language_error,
        min_error=min_error,
    )


def nothing_to_claim():
    """on_deny for Next case: someone in the workspace who claims in no queue (an admin)."""
    flash("No unclaimed cases are waiting in your queues.")
    return redirect(url_for("review.overview"))


@review_bp.route("/next", methods=["POST"])
@requires("case", "claim", queue=ANY_QUEUE, on_deny=nothing_to_claim)
def next_case():
    db = get_session()
    wanted = request.form.get("queue", "")
    mine = [
        q
        for q in queues.readable_queues(me(), authorize)
        if authorize(me(), "case", "claim", queue=q) and wanted in ("", q)
    ]
    now = utcnow()
    language = _language_arg(request.form.get("language", ""))[0]
    claim = claims.claim_next(
        db,
        reviewer=me(),
        queues=mine,
        lease=lease(),
        now=now,
        skip=bounded_int(request.form.get("skip")) or None,
        language=language,
        may_take=lambda case_id: access.may_claim(
            db, user=me(), case=db.get(Case, case_id), now=now
        ),
    )
    db.commit()
    if claim is None:
        flash(_why_nothing(wanted, language, mine))
        return redirect(url_for("review.overview"))
    return redirect(url_for("review.case_page", case_id=claim.case_id))


def _why_nothing(wanted: str, language: str, queues: list[str]) -> str:
    """Say why Next case found nothing (and that the current claim, if any, stays)."""
    where = f"the {wanted} queue" if wanted else f"your queues ({', '.join(queues) or 'none'})"
    language_part = f" in language {language}" if language else ""
    return (
        f"No case you may take is waiting in {where}{language_part}: none is open and "
        "unclaimed, or the rest wait for someone who did not decide them. Your current "
        "claim, if any, is kept."
    )


@review_bp.route("/cases/<int:case_id>/open", methods=["POST"])
@requires("case", "claim", queue=lambda case_id: case_or_404(case_id).queue)
def open_case(case_id: int):
    """A queue row: claim the case if it is free (by the same rules as Next case), then
    open it; someone else's claim is said plainly."""
    db, now, case = get_session(), utcnow(), case_or_404(case_id)
    held = claims.live_claim(db, case_id=case.id, now=now)
    if held is None and access.may_claim(db, user=me(), case=case, now=now):
        taken = claims.claim_case(db, case_id=case.id, reviewer=me(), lease=lease(), now=now)
        if taken is not None:
            claims.release_all(db, reviewer=me(), now=now, keep=case.id)
        db.commit()
        held = taken
    if held is None or held.reviewer_id != me().id:
        flash(f"Case {case.ref} is claimed by someone else, or not one you may take.")
        return redirect(url_for("review.queue_page", queue=case.queue))
    return redirect(url_for("review.case_page", case_id=case.id))


@review_bp.route("/preferences", methods=["POST"])
@requires("workspace", "use")
def preferences():
    db = get_session()
    prefs = db.get(ReviewPreference, me().id) or ReviewPreference(user_id=me().id)
    if "time_zone" in request.form:
        zone = request.form.get("time_zone", "")[:64]
        if zone not in TIME_ZONES:
            flash("Choose a time zone from the list.", "error")
            return redirect(url_for("review.overview"))
        prefs.time_zone = zone
    if request.form.get("display") == "yes":
        prefs.blur = request.form.get("blur") == "on"
        prefs.greyscale = request.form.get("greyscale") == "on"
    db.add(prefs)
    db.commit()
    flash("Preferences saved.")
    return redirect(url_for("review.overview"))
