"""Break-glass pages: ask for emergency access to a case; a different person approves."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from access_control.guard import authorize, requires
from core.config import setting
from core.db import get_session
from core.timeutil import utcnow
from moderation.review import access, break_glass
from moderation.review.models import BreakGlassGrant
from moderation.review.web import case_or_404, case_queue, in_workspace, me, review_bp


def grant_queue(grant_id: int) -> str:
    """Guard resolver: the queue of the case a break-glass request is about."""
    grant = get_session().get(BreakGlassGrant, grant_id) or abort(404 if in_workspace() else 403)
    return case_or_404(grant.case_id).queue


@review_bp.route("/cases/<int:case_id>/break-glass", methods=["POST"])
@requires("break_glass", "request", queue=case_queue)
def request_break_glass(case_id: int):
    case, db = case_or_404(case_id), get_session()
    try:
        break_glass.request_break_glass(
            db, user=me(), case=case, reason=request.form.get("reason", "")
        )
    except access.AccessRefused as exc:
        flash(exc.why, "error")
        return redirect(url_for("review.overview"))
    db.commit()
    flash("Break-glass requested. Another person must approve it.")
    return redirect(url_for("review.overview"))


def may_not_approve(grant_id: int):
    """on_deny for approvals: say why, as the approval service does."""
    why = "You may not approve break-glass requests for this queue."
    return render_template("errors/error.html", status=403, title=why), 403


@review_bp.route("/break-glass/<int:grant_id>/approve", methods=["POST"])
@requires("break_glass", "approve", queue=grant_queue, on_deny=may_not_approve)
def approve_break_glass(grant_id: int):
    db = get_session()
    grant = db.get(BreakGlassGrant, grant_id) or abort(404)
    try:
        break_glass.approve_break_glass(
            db,
            approver=me(),
            grant=grant,
            case=case_or_404(grant.case_id),
            hours=setting("BREAK_GLASS_HOURS"),
            authorize=authorize,
            now=utcnow(),
        )
    except access.AccessRefused as exc:
        db.rollback()
        return render_template("errors/error.html", status=403, title=exc.why), 403
    db.commit()
    flash("Break-glass approved.")
    return redirect(url_for("review.overview"))


@review_bp.route("/break-glass/<int:grant_id>/refuse", methods=["POST"])
@requires("break_glass", "approve", queue=grant_queue, on_deny=may_not_approve)
def refuse_break_glass(grant_id: int):
    db = get_session()
    grant = db.get(BreakGlassGrant, grant_id) or abort(404)
    try:
        break_glass.refuse_break_glass(
            db,
            approver=me(),
            grant=grant,
            case=case_or_404(grant.case_id),
            reason=request.form.get("reason", ""),
            authorize=authorize,
        )
    except access.AccessRefused as exc:
        db.rollback()
        flash(exc.why, "error")
        return redirect(url_for("review.overview"))
    db.commit()
    flash("Break-glass refused; the requester sees why.")
    return redirect(url_for("review.overview"))
