"""What the people outside Vigil's staff learn: the affected user reads the statement of
reasons for a decision on their content, a reporter reads the outcome of their report, and
both may appeal (free, within the window). No page names a reviewer."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlmodel import select

from access_control.guard import signed_in
from core.db import get_session
from core.timeutil import utcnow
from moderation.intake import taxonomy
from moderation.intake.models import Case, Report, ReportStatus
from moderation.review import appeals
from moderation.review.models import Appellant
from moderation.review.notifications import report_status
from moderation.review.rules import current_rules
from moderation.review.statements import visibility_of
from privacy.models import Conversation

outcomes_bp = Blueprint("outcomes", __name__)

ACTION_LABELS = {
    "no_action": "No action",
    "disable_share_links": "Share links disabled",
    "remove": "Removal of the content (carried out by the chat service)",
    "restrict": "Account restriction (carried out by the chat service)",
    "refer_to_law_enforcement": "Referred to the authorities",
}
GROUND_LABELS = {
    "illegal": "Illegal content",
    "incompatible": "Against the terms of service",
    "no_violation": "No violation found",
}


def _own_case(case_ref: str) -> Case:
    db = get_session()
    case = db.exec(select(Case).where(Case.ref == case_ref[:16])).first()
    conversation = db.get(Conversation, case.conversation_id) if case else None
    if conversation is None or conversation.owner_id != current_user.id:
        abort(404)  # the same answer for someone else's case and for no case
    return case


def _own_report(ref: str) -> Report:
    db = get_session()
    report = db.exec(select(Report).where(Report.ref == ref[:16])).first()
    if report is None or report.reporter_user_id != current_user.id:
        abort(404)
    return report


def _render(template: str, status: int = 200, **context):
    return render_template(
        template,
        actions=ACTION_LABELS,
        grounds=GROUND_LABELS,
        labels={c.key: c.label for c in taxonomy.categories()},
        now=utcnow(),
        **context,
    ), status


def _affected_view(case: Case, error: str = "", status: int = 200):
    db, rules = get_session(), current_rules()
    key = f"user:{current_user.id}"
    decision, until, open_ = appeals.may_appeal(
        db, case=case, appellant_key=key, now=utcnow(), rules=rules
    )
    return _render(
        "moderation/review/decision_notice.html",
        status,
        case=case,
        decision=decision,
        until=until,
        appeal_open=open_,
        visibility=visibility_of(decision) if decision else "",
        appeals=[a for a in appeals.appeals_of(db, case_id=case.id) if a.appellant_key == key],
        error=error,
    )


@outcomes_bp.route("/decisions")
@signed_in
def my_decisions():
    db = get_session()
    cases = appeals.decided_cases_of_owner(db, user_id=current_user.id)
    rows = [(c, appeals.latest_decision(db, case_id=c.id, final=True)) for c in cases]
    return _render("moderation/review/my_decisions.html", rows=rows)


@outcomes_bp.route("/decisions/<case_ref>")
@signed_in
def decision_notice(case_ref: str):
    case = _own_case(case_ref)
    if appeals.latest_decision(get_session(), case_id=case.id, final=True) is None:
        abort(404)  # nothing decided for good yet: nothing to state or appeal
    return _affected_view(case)


def _file(case: Case, *, appellant: Appellant, key: str, report: Report | None):
    db = get_session()
    appeal = appeals.file_appeal(
        db,
        case=case,
        appellant=appellant,
        appellant_key=key,
        statement=request.form.get("statement", ""),
        channel="web",
        now=utcnow(),
        rules=current_rules(),
        report=report,
    )
    db.commit()
    flash(f"Appeal {appeal.ref} received. Someone who did not take the decision will review it.")


@outcomes_bp.route("/decisions/<case_ref>/appeal", methods=["POST"])
@signed_in
def appeal_decision(case_ref: str):
    case = _own_case(case_ref)
    try:
        _file(case, appellant=Appellant.AFFECTED, key=f"user:{current_user.id}", report=None)
    except appeals.AppealRefused as refused:
        get_session().rollback()
        return _affected_view(case, refused.why, refused.status)
    return redirect(url_for("outcomes.decision_notice", case_ref=case.ref))


def _reporter_view(report: Report, error: str = "", status: int = 200):
    db, rules = get_session(), current_rules()
    case = db.get(Case, report.case_id)
    key = f"report:{report.ref}"
    decision, until, open_ = appeals.may_appeal(
        db, case=case, appellant_key=key, now=utcnow(), rules=rules
    )
    return _render(
        "moderation/review/report_outcome.html",
        status,
        report=report,
        decision=decision,
        status_label=(
            report.status.value
            if report.status == ReportStatus.UNDER_APPEAL or decision is None
            else report_status(decision).value
        ),
        until=until,
        appeal_open=open_,
        appeals=[a for a in appeals.appeals_of(db, case_id=case.id) if a.appellant_key == key],
        error=error,
    )


@outcomes_bp.route("/reports/<ref>")
@signed_in
def report_outcome(ref: str):
    return _reporter_view(_own_report(ref))


@outcomes_bp.route("/reports/<ref>/appeal", methods=["POST"])
@signed_in
def appeal_report(ref: str):
    report = _own_report(ref)
    case = get_session().get(Case, report.case_id)
    try:
        _file(case, appellant=Appellant.REPORTER, key=f"report:{report.ref}", report=report)
    except appeals.AppealRefused as refused:
        get_session().rollback()
        return _reporter_view(report, refused.why, refused.status)
    return redirect(url_for("outcomes.report_outcome", ref=report.ref))
