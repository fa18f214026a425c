"""Reporting from the web: a user's own conversation, the public notice, and /reports."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlmodel import col, select

from access_control.guard import public, requires, signed_in
from audit.access_log import access_summaries
from audit.reasons import REASON_LABELS
from core import throttle
from core.config import setting
from core.db import get_session
from core.timeutil import as_utc
from moderation.intake import taxonomy
from moderation.intake.evidence import snapshot
from moderation.intake.forms import NoticeForm, ReportForm
from moderation.intake.models import Report, ReportStatus
from moderation.intake.notice import file_notice, notifier_pepper
from moderation.intake.reports import REPORTS_SHOWN, report_own_conversation, reports_of_user
from moderation.intake.settings import current_intake
from privacy.conversations import find_by_public_ref, messages_of
from privacy.models import Conversation, Message
from privacy.sharing import LinkGone, find_shared
from privacy.views import own_conversation_or_404

moderation_bp = Blueprint("moderation", __name__)

STATUS_LABELS = {
    ReportStatus.RECEIVED: "Received, waiting for review",
    ReportStatus.CLOSED: "Closed",
    ReportStatus.ACTION_TAKEN: "Decided: action taken",
    ReportStatus.NO_ACTION: "Decided: no action",
    ReportStatus.UNDER_APPEAL: "Under appeal",
}


def _preselect(form) -> None:
    """Tick the messages the link asked for (?message=...), among the form's choices."""
    if request.method == "GET":
        known = {value for value, _label in form.message_ids.choices}
        form.message_ids.data = [mid for mid in request.args.getlist("message") if mid in known]


def _message_choices(messages: list[Message]) -> list[tuple[str, str]]:
    return [
        (
            m.external_id,
            f"Message {m.position + 1} ({m.role}, {as_utc(m.created_at):%Y-%m-%d %H:%M} UTC)",
        )
        for m in messages
    ]


@moderation_bp.route("/conversations/<int:conversation_id>/report", methods=["GET", "POST"])
@requires("report", "create")
def report_conversation(conversation_id: int):
    conversation = own_conversation_or_404(conversation_id)
    db, user = get_session(), current_user._get_current_object()
    messages = messages_of(db, conversation_id=conversation.id)
    form = ReportForm()
    form.message_ids.choices = _message_choices(messages)
    _preselect(form)
    if form.validate_on_submit():
        limit = setting("REPORT_LIMIT_PER_REPORTER")
        throttle.take([(limit, throttle.key_for("web-reporter", user.subject))])
        report = report_own_conversation(
            db,
            settings=current_intake(),
            user=user,
            conversation=conversation,
            message_ids=form.message_ids.data or [],
            category=form.category.data,
            description=form.description.data or "",
        )
        db.commit()
        flash(f"Thank you. Your report {report.ref} was received.")
        return redirect(url_for("moderation.my_reports"))
    return render_template(
        "moderation/intake/report_form.html",
        form=form,
        conversation=conversation,
        messages=messages,
    )


@moderation_bp.route("/reports")
@signed_in
def my_reports():
    db = get_session()
    reports = reports_of_user(db, user_id=current_user.id)
    ids = {report.conversation_id for report in reports}
    conversations = db.exec(select(Conversation).where(col(Conversation.id).in_(ids))).all()
    # Titles and access counts belong to the person whose conversation it is: someone who
    # filed a notice about another person's conversation learns neither.
    own = {c.id for c in conversations if c.owner_id == current_user.id}
    titles = {c.id: c.title or "Untitled conversation" for c in conversations if c.id in own}
    own_cases = {r.case_id for r in reports if r.conversation_id in own}
    summaries = access_summaries(db, own_cases)  # one query, however many reports
    return render_template(
        "moderation/intake/my_reports.html",
        reports=reports,
        shown=REPORTS_SHOWN,
        titles=titles,
        labels={c.key: c.label for c in taxonomy.categories()},
        statuses=STATUS_LABELS,
        message_counts={r.id: len(_message_ids(r)) for r in reports},
        # How often authorized staff looked at the reported conversation, and why; no names.
        accesses={case_id: summaries.get(str(case_id), {}) for case_id in own_cases},
        reason_labels=REASON_LABELS,
    )


def _message_ids(report: Report) -> list[str]:
    return json.loads(report.message_ids)


@moderation_bp.route("/notice/<public_ref>", methods=["GET", "POST"])
@public
def notice(public_ref: str):
    db = get_session()
    conversation = find_by_public_ref(db, public_ref=public_ref)
    messages = messages_of(db, conversation_id=conversation.id) if conversation else []
    if not messages:
        # Nothing a notifier could have seen: an unknown reference, or a conversation the
        # chat backend reported without Vigil holding its text (only sealed evidence).
        abort(404)
    return _notice_page(conversation, _message_choices(messages), document=None, shared=False)


@moderation_bp.route("/s/<token>/notice", methods=["GET", "POST"])
@public
def shared_notice(token: str):
    """A notice about what a share link shows: its choices and evidence are the frozen copy."""
    db = get_session()
    try:
        view = find_shared(db, token)
    except LinkGone:
        abort(410)
    if view is None:
        abort(404)
    choices = [(m["id"], f"Message {i + 1} ({m['role']})") for i, m in enumerate(view.messages)]
    document = snapshot(
        conversation={
            "id": view.conversation.external_id or view.conversation.public_ref,
            "model_id": view.model_id,
            "product": view.conversation.product,
            "title": view.title,
            "shared_link_created_at": as_utc(view.link.created_at).isoformat(),
        },
        messages=[{**m, "attachment": None} for m in view.messages],
    )
    return _notice_page(view.conversation, choices, document=document, shared=True)


def _notice_page(conversation: Conversation, choices, *, document, shared: bool):
    db = get_session()
    form = NoticeForm()
    form.message_ids.choices = choices
    _preselect(form)
    if request.method == "POST":
        address = request.remote_addr or "unknown"
        limit = setting("NOTICE_LIMIT_PER_ADDRESS")
        throttle.take([(limit, throttle.key_for("notice-addr", address))])
    if form.validate_on_submit():
        user = current_user._get_current_object() if current_user.is_authenticated else None
        report = file_notice(
            db,
            settings=current_intake(),
            conversation=conversation,
            message_ids=form.message_ids.data or [],
            category=form.category.data,
            explanation=form.explanation.data,
            name=form.name.data or "",
            email=form.email.data or "",
            good_faith=bool(form.good_faith.data),
            user=user,
            pepper=notifier_pepper(),
            document=document,
        )
        db.commit()
        session["notice_ref"] = report.ref
        return redirect(url_for("moderation.notice_sent"))
    contact_optional = [c.key for c in taxonomy.categories() if c.contact_optional]
    return render_template(
        "moderation/intake/notice_form.html",
        form=form,
        conversation=conversation,
        shared=shared,
        contact_optional=contact_optional,
    )


@moderation_bp.route("/notice/sent")
@public
def notice_sent():
    ref = session.get("notice_ref")
    if not ref:
        return redirect(url_for("core.home"))
    return render_template(
        "moderation/intake/notice_sent.html", ref=ref, status=STATUS_LABELS[ReportStatus.RECEIVED]
    )
