"""The reviewer workspace: queues, claims, the case page, reveals, decisions, break-glass."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlmodel import col, select
from werkzeug.exceptions import Forbidden

from access_control.guard import authorize, requires
from access_control.models import User
from access_control.permissions import QUEUES
from audit.access_log import access_summary
from audit.gate import deny, reveal
from audit.reasons import REASON_LABELS, AccessAction, ReasonCode
from core import throttle
from core.db import get_session
from core.textsafety import visible_text
from core.timeutil import utcnow
from moderation import claims, queues, review_access, taxonomy
from moderation.evidence import evidence_keys, open_evidence
from moderation.models import Case, EvidenceVersion, Report
from moderation.review_models import BreakGlassGrant, CaseEvent, ReviewPreference
from moderation.review_service import ReviewInputError, add_note, decide_case, escalate_case

review_bp = Blueprint("review", __name__, url_prefix="/review")
LANGUAGE_RE = re.compile(r"[a-z]{2,3}")


def _me() -> User:
    return current_user._get_current_object()


def _setting(name: str):
    return current_app.config["VIGIL"][name]


def _lease() -> timedelta:
    return timedelta(minutes=_setting("CLAIM_LEASE_MINUTES"))


def _throttle_denials() -> None:
    """Denials are logged under the append lock; a flood of them gets 429 instead."""
    limit = _setting("DENIAL_LIMIT_PER_ACTOR")
    throttle.take([(limit, throttle.key_for("deny", _me().subject))])


def _case_or_404(case_id: int) -> Case:
    case = get_session().get(Case, case_id)
    if case is None:
        abort(404)
    return case


def _log_refused(action: AccessAction):
    """For content routes: someone without the workspace (an auditor, an end user) asked
    for a case's content; the DENIED entry commits before the 403, like any refusal."""

    def refused(case_id: int, **_ignored) -> None:
        case = _case_or_404(case_id)
        _throttle_denials()
        deny(
            get_session(),
            actor=_me(),
            action=action,
            reason_code=None,
            case_id=case.id,
            conversation_id=case.conversation_id,
            evidence_version=case.evidence_version,
        )

    return refused


@review_bp.route("/")
@requires("workspace", "use")
def overview():
    db, now = get_session(), utcnow()
    mine = queues.readable_queues(_me(), authorize)
    stats = {queue: queues.queue_stats(db, queue=queue, now=now) for queue in mine}
    approver = any(authorize(_me(), "break_glass", "approve", queue=q) for q in ("*", *mine))
    if not mine and not approver:
        abort(403)
    pending = review_access.pending_grants(db) if approver else []
    return render_template("review/overview.html", stats=stats, pending=pending)


def _language_arg(raw: str) -> tuple[str, str]:
    """A language filter as Case.language holds it, or "" and an error for the form."""
    language = raw.strip().lower()[:16]
    if language and not LANGUAGE_RE.fullmatch(language):
        return "", "Use a two- or three-letter language code, such as de or fil."
    return language, ""


@review_bp.route("/queues/<queue>")
@requires("workspace", "use")
def queue_page(queue: str):
    db, now = get_session(), utcnow()
    if queue not in QUEUES:
        abort(404)  # only real queues reach the log: no caller-chosen text there
    if not authorize(_me(), "queue", "read", queue=queue):
        _throttle_denials()
        deny(
            db,
            actor=_me(),
            action=AccessAction.OPEN,
            reason_code=None,
            case_id=None,
            conversation_id=None,
            evidence_version=None,
            note=f"queue {queue}",
        )
    language, language_error = _language_arg(request.args.get("language", ""))
    flt = queues.QueueFilter(
        category=request.args.get("category", "")[:64],
        source_type=request.args.get("source_type", "")[:32],
        min_reports=min(request.args.get("min_reports", 0, type=int) or 0, 10_000),
        language=language,
    )
    after = queues.Cursor.decode(request.args.get("after", "")[:80])
    rows = queues.list_queue(db, queue=queue, flt=flt, after=after, now=now)
    last = rows[-1][0] if len(rows) == queues.PAGE_SIZE else None
    next_cursor = (
        queues.Cursor(last.priority, last.first_reported_at, last.id).encode() if last else None
    )
    return render_template(
        "review/queue.html",
        queue=queue,
        rows=rows,
        flt=flt,
        now=now,
        next_cursor=next_cursor,
        stats=queues.queue_stats(db, queue=queue, now=now),
        categories=taxonomy.categories(),
        language_error=language_error,
    )


@review_bp.route("/next", methods=["POST"])
@requires("workspace", "use")
def next_case():
    db, now = get_session(), utcnow()
    wanted = request.form.get("queue", "")
    mine = [
        q
        for q in queues.readable_queues(_me(), authorize)
        if authorize(_me(), "case", "claim", queue=q) and wanted in ("", q)
    ]
    claim = claims.claim_next(
        db,
        reviewer=_me(),
        queues=mine,
        lease=_lease(),
        now=now,
        skip=request.form.get("skip", type=int),
        language=_language_arg(request.form.get("language", ""))[0],
    )
    db.commit()
    if claim is None:
        flash("No unclaimed cases are waiting in your queues.")
        return redirect(url_for("review.overview"))
    return redirect(url_for("review.case_page", case_id=claim.case_id))


def _evidence(db, case: Case) -> EvidenceVersion:
    return db.exec(
        select(EvidenceVersion).where(
            EvidenceVersion.case_id == case.id, EvidenceVersion.version == case.evidence_version
        )
    ).one()


def _requested_reason(case_id: int) -> tuple[ReasonCode, str]:
    # One slot, for the case in hand: a slot per case would grow the cookie past the
    # browser's 4 KB limit after a few cases with notes, and silently sign the reviewer out.
    asked = session.get("access") or {}
    if asked.get("case") != case_id:
        return ReasonCode.ASSIGNED_REVIEW, ""
    try:
        return ReasonCode(asked.get("reason", ReasonCode.ASSIGNED_REVIEW)), asked.get("note", "")
    except ValueError:
        return ReasonCode.ASSIGNED_REVIEW, ""


def _check_or_deny(case: Case, action: AccessAction, reason: ReasonCode, note: str):
    """(reason to log, None) when allowed; (None, refusal) after a committed DENIED entry."""
    db, now = get_session(), utcnow()
    try:
        return review_access.check_content_access(
            db,
            user=_me(),
            case=case,
            reason=reason,
            note=note,
            authorize=authorize,
            viewer_cap=_setting("VIEWER_CAP"),
            now=now,
        ), None
    except review_access.AccessRefused as refused:
        _throttle_denials()
        try:
            deny(
                db,
                actor=_me(),
                action=action,
                reason_code=reason,
                case_id=case.id,
                conversation_id=case.conversation_id,
                evidence_version=case.evidence_version,
            )
        except Forbidden:
            return None, refused
    raise AssertionError("deny() always aborts")


@review_bp.route("/cases/<int:case_id>")
@requires("workspace", "use", on_deny=_log_refused(AccessAction.OPEN))
def case_page(case_id: int):
    case = _case_or_404(case_id)
    asked, note = _requested_reason(case_id)
    reason, refused = _check_or_deny(case, AccessAction.OPEN, asked, note)
    if refused is not None:
        return render_template(
            "review/denied.html",
            case=case,
            why=refused.why,
            offer=refused.offer_break_glass,
            reasons=REASON_LABELS,
        ), 403
    db, now = get_session(), utcnow()
    reveal(
        db,
        actor=_me(),
        action=AccessAction.OPEN,
        reason_code=reason,
        case_id=case.id,
        conversation_id=case.conversation_id,
        evidence_version=case.evidence_version,
        note=note or None,
    )
    # The ALLOWED entry has committed: only now is the evidence decrypted.
    snapshot = open_evidence(
        db, evidence=_evidence(db, case), keys=evidence_keys(current_app.config["VIGIL"])
    )
    reports = db.exec(
        select(Report).where(Report.case_id == case.id).order_by(col(Report.id))
    ).all()
    reported = {mid for r in reports for mid in json.loads(r.message_ids or "[]")}
    claim = claims.live_claim(db, case_id=case.id, now=now)
    prefs = db.get(ReviewPreference, _me().id)
    return render_template(
        "review/case.html",
        case=case,
        snapshot=snapshot,
        reported=reported,
        reports=reports,
        claim=claim if claim and claim.reviewer_id == _me().id else None,
        reason=reason,
        category=taxonomy.category(case.category),
        categories=taxonomy.categories(),
        events=db.exec(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
        ).all(),
        accesses=access_summary(db, case.id),
        reason_labels=REASON_LABELS,
        now=now,
        blur=prefs.blur if prefs else _setting("BLUR_DEFAULT"),
        greyscale=prefs.greyscale if prefs else _setting("GREYSCALE_DEFAULT"),
    )


@review_bp.route("/cases/<int:case_id>/access", methods=["POST"])
@requires("workspace", "use")
def choose_reason(case_id: int):
    _case_or_404(case_id)
    reason = request.form.get("reason", ReasonCode.ASSIGNED_REVIEW)
    if reason not in ReasonCode.__members__:
        abort(400)
    note = request.form.get("note", "")[:500]
    session["access"] = {"case": case_id, "reason": reason, "note": note}
    return redirect(url_for("review.case_page", case_id=case_id))


@review_bp.route("/cases/<int:case_id>/reveal/<int:index>", methods=["POST"])
@requires("workspace", "use", on_deny=_log_refused(AccessAction.REVEAL))
def reveal_message(case_id: int, index: int):
    case = _case_or_404(case_id)
    asked, note = _requested_reason(case_id)
    reason, refused = _check_or_deny(case, AccessAction.REVEAL, asked, note)
    if refused is not None:
        return jsonify({"error": refused.why}), 403
    db = get_session()
    evidence = _evidence(db, case)
    if not 0 <= index < evidence.message_count:
        abort(404)
    entry = reveal(
        db,
        actor=_me(),
        action=AccessAction.REVEAL,
        reason_code=reason,
        case_id=case.id,
        conversation_id=case.conversation_id,
        evidence_version=case.evidence_version,
        note=f"message {index}",
    )
    # Blurred text is not in the page: it leaves the server only now, after its entry.
    snapshot = open_evidence(db, evidence=evidence, keys=evidence_keys(current_app.config["VIGIL"]))
    html = str(visible_text(snapshot["messages"][index]["text"]))
    return jsonify({"revealed": index, "entry": entry.seq, "html": html})


def _claim_action(case_id: int, verb, **kwargs):
    db = get_session()
    case = _case_or_404(case_id)
    if not authorize(_me(), "case", "claim", queue=case.queue):
        abort(403)  # only people who may work this queue act on its claims
    try:
        result = verb(
            db,
            case=case,
            reviewer=_me(),
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


@review_bp.route("/cases/<int:case_id>/renew", methods=["POST"])
@requires("workspace", "use")
def renew(case_id: int):
    def verb(db, *, case, reviewer, token, now):
        claim = claims.renew(
            db, case_id=case.id, reviewer=reviewer, token=token, lease=_lease(), now=now
        )
        return jsonify({"lease_until": claim.lease_until.isoformat()})

    return _claim_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/release", methods=["POST"])
@requires("workspace", "use")
def release(case_id: int):
    def verb(db, *, case, reviewer, token, now):
        claims.release(db, case_id=case.id, reviewer=reviewer, token=token, now=now)
        flash("The case went back to its queue.")
        return redirect(url_for("review.overview"))

    return _claim_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/decision", methods=["POST"])
@requires("workspace", "use")
def decision(case_id: int):
    def verb(db, **kwargs):
        decide_case(
            db,
            outcome=request.form.get("outcome", ""),
            labels=request.form.getlist("labels"),
            **kwargs,
        )
        flash("Decision recorded; the case is closed.")
        return redirect(url_for("review.overview"))

    return _claim_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/escalate", methods=["POST"])
@requires("workspace", "use")
def escalate(case_id: int):
    def verb(db, **kwargs):
        escalate_case(
            db, target=request.form.get("target", ""), note=request.form.get("note", ""), **kwargs
        )
        flash("Escalated; your claim ended.")
        return redirect(url_for("review.overview"))

    return _claim_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/notes", methods=["POST"])
@requires("workspace", "use")
def note(case_id: int):
    def verb(db, **kwargs):
        add_note(db, text=request.form.get("text", ""), **kwargs)
        return redirect(url_for("review.case_page", case_id=case_id))

    return _claim_action(case_id, verb)


@review_bp.route("/cases/<int:case_id>/break-glass", methods=["POST"])
@requires("workspace", "use")
def request_break_glass(case_id: int):
    case, db = _case_or_404(case_id), get_session()
    if not authorize(_me(), "break_glass", "request", queue=case.queue):
        abort(403)
    try:
        review_access.request_break_glass(
            db, user=_me(), case=case, reason=request.form.get("reason", "")
        )
    except review_access.AccessRefused as exc:
        flash(exc.why, "error")
        return redirect(url_for("review.case_page", case_id=case_id))
    db.commit()
    flash("Break-glass requested. Another person must approve it.")
    return redirect(url_for("review.overview"))


@review_bp.route("/break-glass/<int:grant_id>/approve", methods=["POST"])
@requires("workspace", "use")
def approve_break_glass(grant_id: int):
    db = get_session()
    grant = db.get(BreakGlassGrant, grant_id) or abort(404)
    try:
        review_access.approve_break_glass(
            db,
            approver=_me(),
            grant=grant,
            case=_case_or_404(grant.case_id),
            hours=_setting("BREAK_GLASS_HOURS"),
            authorize=authorize,
            now=utcnow(),
        )
    except review_access.AccessRefused as exc:
        db.rollback()
        return render_template("errors/error.html", status=403, title=exc.why), 403
    db.commit()
    flash("Break-glass approved.")
    return redirect(url_for("review.overview"))


@review_bp.route("/cases/<int:case_id>/reassign", methods=["POST"])
@requires("workspace", "use")
def reassign(case_id: int):
    case, db = _case_or_404(case_id), get_session()
    if not authorize(_me(), "case", "reassign", queue=case.queue):
        abort(403)
    target = db.get(User, request.form.get("user_id", 0, type=int)) or abort(404)
    reason = request.form.get("reason", "").strip()[:500] or abort(400)
    if case.state != "open" or not authorize(target, "case", "claim", queue=case.queue):
        abort(409)  # only an open case, and only to someone who works its queue
    try:
        claims.reassign(
            db, actor=_me(), case=case, to=target, lease=_lease(), now=utcnow(), reason=reason
        )
    except claims.ClaimConflict:
        abort(409)
    db.commit()
    flash(f"Case {case.ref} reassigned to {target.display_name}.")
    return redirect(url_for("review.overview"))


@review_bp.route("/preferences", methods=["POST"])
@requires("workspace", "use")
def preferences():
    db = get_session()
    prefs = db.get(ReviewPreference, _me().id) or ReviewPreference(user_id=_me().id)
    prefs.blur = request.form.get("blur") == "on"
    prefs.greyscale = request.form.get("greyscale") == "on"
    db.add(prefs)
    db.commit()
    flash("Preferences saved.")
    return redirect(url_for("review.overview"))
