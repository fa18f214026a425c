"""Pages around a case that never show its content: legal holds, legal requests, QA
samples, and the case timeline for auditors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from flask import flash, redirect, render_template, request, session, url_for
from sqlmodel import col, select

from access_control.guard import requires
from audit.reasons import ReasonCode
from core.db import get_session
from core.timeutil import utcnow
from core.web import bounded_int
from moderation.intake.models import Case
from moderation.review import holds, oversight
from moderation.review.models import FREE_TEXT_KINDS, CaseEvent, HoldSource
from moderation.review.rules import current_rules
from moderation.review.web import case_or_404, case_queue, me, review_bp

PRIVATE_KINDS = FREE_TEXT_KINDS


def _until(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), time.max, tzinfo=UTC)
    except ValueError as exc:
        raise holds.HoldError("Give the end as a date (YYYY-MM-DD), or leave it empty.") from exc


@review_bp.route("/cases/<int:case_id>/holds", methods=["GET", "POST"])
@requires("legal_hold", "write", queue=case_queue)
def case_holds(case_id: int):
    db, case, now, error = get_session(), case_or_404(case_id), utcnow(), ""
    if request.method == "POST":
        try:
            if request.form.get("lift"):
                holds.lift_hold(
                    db,
                    case=case,
                    hold_id=bounded_int(request.form.get("lift", "")),
                    actor=me(),
                    reason=request.form.get("reason", ""),
                    now=now,
                )
            else:
                holds.place_hold(
                    db,
                    case=case,
                    actor=me(),
                    source=HoldSource.LEGAL,
                    reason=request.form.get("reason", ""),
                    until=_until(request.form.get("until", "")),
                    now=now,
                )
        except holds.HoldError as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            flash("Hold recorded.")
            return redirect(url_for("review.case_holds", case_id=case_id))
    return render_template(
        "moderation/review/holds.html",
        case=case,
        holds=holds.holds_of(db, case_id=case.id),
        active={h.id for h in holds.active_holds(db, case_id=case.id, now=now)},
        error=error,
    ), (422 if error else 200)


@review_bp.route("/legal-requests", methods=["GET", "POST"])
@requires("legal_request", "create")
def legal_request():
    db, error = get_session(), ""
    if request.method == "POST":
        ref = request.form.get("case_ref", "").strip().upper()[:16]
        case = db.exec(select(Case).where(Case.ref == ref)).first() if ref else None
        try:
            if case is None:
                raise oversight.OversightError("No case has that reference.")
            oversight.register_legal_request(
                db,
                case=case,
                user=me(),
                reference=request.form.get("reference", ""),
                now=utcnow(),
                rules=current_rules(),
            )
        except oversight.OversightError as exc:
            db.rollback()
            error = str(exc)
        else:
            db.commit()
            session["access"] = {
                "case": case.id,
                "reason": ReasonCode.LEGAL_REQUEST.value,
                "note": f"legal request {request.form.get('reference', '').strip()[:100]}",
            }
            return redirect(url_for("review.case_page", case_id=case.id))
    return render_template("moderation/review/legal_request.html", error=error), (
        422 if error else 200
    )


@review_bp.route("/qa", methods=["GET", "POST"])
@requires("qa_sample", "create")
def qa_samples():
    db, now = get_session(), utcnow()
    if request.method == "POST":
        drawn = oversight.draw_sample(db, user=me(), now=now, rules=current_rules())
        db.commit()
        flash(f"{len(drawn)} decided case(s) drawn." if drawn else "No decided case to draw.")
        return redirect(url_for("review.qa_samples"))
    samples = oversight.my_samples(db, user=me(), now=now)
    return render_template("moderation/review/qa.html", samples=samples, now=now)


@review_bp.route("/cases/<int:case_id>/events")
@requires("admin_event", "read", queue=case_queue)
def case_events(case_id: int):
    db = get_session()
    case = case_or_404(case_id)
    events = db.exec(
        select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(col(CaseEvent.id))
    ).all()
    return render_template(
        "moderation/review/case_events.html", case=case, events=events, private=PRIVATE_KINDS
    )
