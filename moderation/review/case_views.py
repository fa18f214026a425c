"""The case page and what a claimer does on it: reveal, renew, release, decide, escalate."""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, session, url_for

from access_control.guard import requires
from access_control.models import User
from audit.reasons import REASON_LABELS, AccessAction, ReasonCode
from core.config import setting
from core.db import get_session
from core.textsafety import visible_text
from core.timeutil import utcnow
from core.web import bounded_int
from moderation.intake.models import CaseState
from moderation.intake.settings import current_intake
from moderation.review import access, case_view, claims
from moderation.review.appeals import decide_appeal
from moderation.review.decisions import (
    DecisionInput,
    add_note,
    confirm_decision,
    decide_case,
    escalate_case,
)
from moderation.review.rules import current_rules
from moderation.review.web import (
    case_content,
    case_facts,
    case_or_404,
    case_queue,
    claimed_action,
    content_in_hand,
    lease,
    looks_in_hand,
    me,
    refusal,
    refuse_content,
    requested_reason,
    review_bp,
    workspace_look,
)


@review_bp.route("/cases/<int:case_id>")
@requires(
    "content",
    "read",
    queue=case_queue,
    resource=case_content,
    on_deny=refuse_content(AccessAction.OPEN),
)
def case_page(case_id: int):
    case = case_or_404(case_id)
    reason, note = requested_reason(case_id)
    try:
        context = case_view.case_view(
            get_session(),
            user=me(),
            case=case,
            content=content_in_hand(),
            looks=looks_in_hand(case_id),
            reason=reason,
            note=note,
            keys=current_intake().keys,
            viewer_cap=setting("VIEWER_CAP"),
            look=workspace_look(),
            now=utcnow(),
        )
    except access.AccessRefused as refused:
        return refusal(case, AccessAction.OPEN, refused, reason)
    return render_template("moderation/review/case.html", reason_labels=REASON_LABELS, **context)


@review_bp.route("/cases/<int:case_id>/access", methods=["POST"])
@requires("workspace", "use")  # reads nothing: remembers the reason for the next look
def choose_reason(case_id: int):
    case_or_404(case_id)
    reason = request.form.get("reason", ReasonCode.ASSIGNED_REVIEW)
    if reason not in ReasonCode.__members__:
        abort(400)
    note = request.form.get("note", "")[:500]
    session["access"] = {"case": case_id, "reason": reason, "note": note}
    return redirect(url_for("review.case_page", case_id=case_id))


@review_bp.route("/cases/<int:case_id>/reveal/<int:index>", methods=["POST"])
@requires(
    "content",
    "read",
    queue=case_queue,
    resource=case_content,
    on_deny=refuse_content(AccessAction.REVEAL),
)
def reveal_message(case_id: int, index: int):
    case = case_or_404(case_id)
    reason, note = requested_reason(case_id)
    try:
        revealed = case_view.reveal_message(
            get_session(),
            user=me(),
            case=case,
            content=content_in_hand(),
            looks=looks_in_hand(case_id),
            reason=reason,
            note=note,
            index=index,
            keys=current_intake().keys,
            viewer_cap=setting("VIEWER_CAP"),
        )
    except access.AccessRefused as refused:
        return refusal(case, AccessAction.REVEAL, refused, reason, message=index + 1)
    if revealed is None:
        abort(404)
    entry, text = revealed
    return jsonify({"revealed": index, "entry": entry.seq, "html": str(visible_text(text))})


@review_bp.route("/cases/<int:case_id>/renew", methods=["POST"])
@requires("case", "claim", queue=case_queue)
def renew(case_id: int):
    def verb(db, *, case, reviewer, token, now):
        claim = claims.renew(
            db, case_id=case.id, reviewer=reviewer, token=token, lease=lease(), now=now
        )
        return jsonify({"lease_until": claim.lease_until.isoformat()})

    return claimed_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/release", methods=["POST"])
@requires("case", "claim", queue=case_queue)
def release(case_id: int):
    def verb(db, *, case, reviewer, token, now):
        claims.release(db, case_id=case.id, reviewer=reviewer, token=token, now=now)
        flash("The case went back to its queue.")
        return redirect(url_for("review.overview"))

    return claimed_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/decision", methods=["POST"])
@requires("case", "claim", queue=case_queue)
def decision(case_id: int):
    def verb(db, **kwargs):
        row = decide_case(
            db, decision=DecisionInput.from_form(request.form), rules=current_rules(), **kwargs
        )
        flash(
            "Decision recorded; the case is closed."
            if row.final
            else "Provisional decision recorded: a second specialist must confirm it."
        )
        return redirect(url_for("review.overview"))

    return claimed_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/confirm", methods=["POST"])
@requires("case", "confirm", queue=case_queue, resource=case_facts)
def confirm(case_id: int):
    def verb(db, **kwargs):
        confirm_decision(db, note=request.form.get("note", ""), rules=current_rules(), **kwargs)
        flash("Decision confirmed; it is final and the case is closed.")
        return redirect(url_for("review.overview"))

    return claimed_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/appeal-decision", methods=["POST"])
@requires("case", "claim", queue=case_queue)  # the claim was taken under the appeals rules
def appeal_decision(case_id: int):
    def verb(db, **kwargs):
        outcome = request.form.get("appeal_outcome", "")
        decide_appeal(
            db,
            outcome=outcome,
            note=request.form.get("note", ""),
            decision=DecisionInput.from_form(request.form) if outcome == "overturned" else None,
            rules=current_rules(),
            **kwargs,
        )
        flash(f"Appeal {outcome}; the appellants are told.")
        return redirect(url_for("review.overview"))

    return claimed_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/escalate", methods=["POST"])
@requires("case", "claim", queue=case_queue)
def escalate(case_id: int):
    def verb(db, **kwargs):
        escalate_case(
            db, target=request.form.get("target", ""), note=request.form.get("note", ""), **kwargs
        )
        flash("Escalated; your claim ended.")
        return redirect(url_for("review.overview"))

    return claimed_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/notes", methods=["POST"])
@requires("case", "claim", queue=case_queue)
def note(case_id: int):
    def verb(db, **kwargs):
        add_note(db, text=request.form.get("text", ""), **kwargs)
        return redirect(url_for("review.case_page", case_id=case_id))

    return claimed_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/reassign", methods=["POST"])
@requires("case", "reassign", queue=case_queue)
def reassign(case_id: int):
    case, db = case_or_404(case_id), get_session()
    target = db.get(User, bounded_int(request.form.get("user_id"))) or abort(404)
    reason = request.form.get("reason", "").strip()[:500] or abort(400)
    may_take = access.may_claim(db, user=target, case=case, now=utcnow(), reassigning=True)
    if case.state != CaseState.OPEN or not may_take:
        abort(409)  # only an open case, and only to someone who works its queue
    try:
        claims.reassign(
            db, actor=me(), case=case, to=target, lease=lease(), now=utcnow(), reason=reason
        )
    except claims.ClaimConflict:
        abort(409)
    db.commit()
    flash(f"Case {case.ref} reassigned to {target.display_name}.")
    return redirect(url_for("review.overview"))
