"""The review blueprint and what its pages share: the case in hand, the guard's resolvers,
denial logging, and the wrapper for verbs that need a live claim."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Blueprint, abort, g, jsonify, render_template, request
from flask_login import current_user

from access_control.guard import authorize, guarded_resource
from access_control.models import User
from access_control.permissions import Resource
from audit.gate import record_denial
from audit.reasons import REASON_LABELS, AccessAction, ReasonCode
from core import throttle
from core.config import setting
from core.db import get_session
from core.timeutil import utcnow
from core.web import MAX_ID
from moderation.intake.models import Case
from moderation.review import access, break_glass, claims
from moderation.review.decisions import ReviewInputError
from moderation.review.models import ReviewPreference

review_bp = Blueprint("review", __name__, url_prefix="/review")


@review_bp.before_request
def _reviewer_time_zone() -> None:
    """Times on workspace pages read in the reviewer's chosen zone (see core.web `local`)."""
    if current_user.is_authenticated:
        prefs = my_preferences()
        g.vigil_time_zone = prefs.time_zone if prefs else "UTC"


def my_preferences() -> ReviewPreference | None:
    """The signed-in reviewer's saved preferences (read once per request), if any."""
    if "vigil_prefs" not in g:
        g.vigil_prefs = get_session().get(ReviewPreference, current_user.id)
    return g.vigil_prefs


def me() -> User:
    """The signed-in reviewer."""
    return current_user._get_current_object()


def lease() -> timedelta:
    """How long a claim lasts without renewal."""
    return timedelta(minutes=setting("CLAIM_LEASE_MINUTES"))


def in_workspace() -> bool:
    """Whether the policy lets the signed-in account use the reviewer workspace."""
    return authorize(me(), "workspace", "use")


def case_or_404(case_id: int) -> Case:
    """The case in hand (read once per request); 404, or 403 outside the workspace, so
    nobody else learns which case ids exist."""
    cached = g.setdefault("vigil_cases", {})
    if not 0 < case_id <= MAX_ID:
        abort(404 if in_workspace() else 403)
    if case_id not in cached:
        cached[case_id] = get_session().get(Case, case_id) or abort(404 if in_workspace() else 403)
    return cached[case_id]


def case_queue(case_id: int, **_ignored) -> str:
    """Guard resolver: the queue of the case in the URL."""
    return case_or_404(case_id).queue


def case_content(case_id: int, **_ignored) -> Resource:
    """Guard resolver: the case's content with its facts, read fresh for this request; the
    same query reads the case's looks so far, kept for the view (looks_in_hand)."""
    case = case_or_404(case_id)
    content, looks = access.content_and_looks(get_session(), case=case, now=utcnow())
    g.vigil_looks = (case.id, looks)
    return content


def case_facts(case_id: int, **_ignored) -> Resource:
    """Guard resolver: the case with its claimer and earlier deciders (claim, confirm)."""
    return access.case_resource(get_session(), case=case_or_404(case_id), now=utcnow())


def throttle_denials() -> None:
    """Denials are logged under the append lock; a flood of them gets 429 instead."""
    limit = setting("DENIAL_LIMIT_PER_ACTOR")
    throttle.take([(limit, throttle.key_for("deny", me().subject))])


def requested_reason(case_id: int) -> tuple[ReasonCode | None, str]:
    """The reason and note the reviewer chose for this case (None: the flow's own reason)."""
    # One slot, for the case in hand: a slot per case would grow the cookie past the
    # browser's 4 KB limit after a few cases with notes, and silently sign the reviewer out.
    from flask import session

    asked = session.get("access") or {}
    if asked.get("case") != case_id or not asked.get("reason"):
        return None, asked.get("note", "") if asked.get("case") == case_id else ""
    try:
        return ReasonCode(asked["reason"]), asked.get("note", "")
    except ValueError:
        return None, ""


def refusal(
    case: Case,
    action: AccessAction,
    refused: access.AccessRefused,
    reason,
    *,
    message: int | None = None,
):
    """Log the DENIED entry (committed) with the justification that was typed, then answer:
    the denied page, or JSON for reveals."""
    throttle_denials()
    _reason, note = requested_reason(case.id)
    record_denial(
        get_session(),
        actor=me(),
        action=action,
        reason_code=reason,
        case_id=case.id,
        conversation_id=case.conversation_id,
        evidence_version=case.evidence_version,
        note=note or None,
        queue=case.queue,
        message=message,
    )
    if action == AccessAction.REVEAL:
        return jsonify({"error": refused.why}), 403
    mine = break_glass.latest_request(get_session(), user=me(), case=case)
    may_request = authorize(me(), "break_glass", "request", queue=case.queue)
    return render_template(
        "moderation/review/denied.html",
        case=case,
        why=refused.why,
        offer=refused.offer_break_glass and may_request and not (mine and mine.state == "pending"),
        cannot_request=refused.offer_break_glass and not may_request,
        mine=mine,
        reasons=REASON_LABELS,
    ), 403


def refuse_content(action: AccessAction) -> Callable:
    """on_deny for content routes: the policy refused; the refusal is logged like any other."""

    def refused(case_id: int, **_ignored):
        case = case_or_404(case_id)
        if not in_workspace():
            # Outside the workspace (an auditor, an end user): logged, then a plain 403.
            refusal(case, action, access.AccessRefused(""), None)
            abort(403)
        reason, _note = requested_reason(case_id)
        why = access.AccessRefused(
            "You can see a case's content only while you hold its claim, or with a break-glass "
            "grant, a legal request or a QA sample.",
            offer_break_glass=True,
        )
        if reason == ReasonCode.BREAK_GLASS:
            why = access.reason_problem(reason, []) or why
        return refusal(case, action, why, reason)

    return refused


def content_in_hand() -> Resource:
    """The content Resource the guard decided on (content routes only)."""
    resource = guarded_resource()
    if resource is None:
        raise RuntimeError("content views must be guarded with resource=case_content")
    return resource


def looks_in_hand(case_id: int) -> set[tuple[str, int]]:
    """The case's (reason, actor) looks read with the content the guard decided on."""
    case, looks = g.get("vigil_looks", (None, None))
    if case != case_id:
        raise RuntimeError("content views must be guarded with resource=case_content")
    return looks


def claimed_action(case_id: int, verb: Callable, **kwargs):
    """Run a claimer's verb on the case; stale claims are 409 and bad input 422, unchanged."""
    db, case = get_session(), case_or_404(case_id)
    try:
        result = verb(
            db,
            case=case,
            reviewer=me(),
            token=request.form.get("token", ""),
            now=utcnow(),
            **kwargs,
        )
    except claims.ClaimConflict as exc:
        db.rollback()  # nothing half-stored
        status = 422 if isinstance(exc, ReviewInputError) else 409  # bad input vs stale claim
        if request.accept_mimetypes.best == "application/json":
            return jsonify({"error": str(exc)}), status
        return render_template("errors/error.html", status=status, title=str(exc)), status
    db.commit()
    return result


def workspace_defaults() -> dict[str, bool]:
    """The organisation's blur and greyscale defaults."""
    return {"blur": setting("BLUR_DEFAULT"), "greyscale": setting("GREYSCALE_DEFAULT")}


def workspace_look() -> dict[str, bool]:
    """Blur and greyscale as the signed-in reviewer sees the workspace: their choice, or the
    organisation's default."""
    prefs = my_preferences()
    if prefs is None:
        return workspace_defaults()
    return {"blur": prefs.blur, "greyscale": prefs.greyscale}
