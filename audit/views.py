"""Auditor pages: search the access log, per case, per reviewer, verification status, export.

Auditors see everything about access and nothing of content: the log holds none.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user

from access_control.guard import requires
from access_control.journal import EventType, record_event
from audit import names, search
from audit.export import FORMATS, export_stream
from audit.models import VerifyRequest
from audit.reasons import REASON_LABELS, AccessAction, Decision, ReasonCode
from audit.signing import current_signer, known_keys, read_verifier_keys, verifier_keys_path
from core.config import setting
from core.db import get_session
from core.timeutil import utcnow

audit_bp = Blueprint("audit", __name__, url_prefix="/audit")


def bounded_seq(raw: str | None) -> int | None:
    """A `before` cursor a BIGINT can hold (None: from the newest; junk is ignored)."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


def _choices() -> dict:
    return {
        "actions": [a.value for a in AccessAction],
        "decisions": [d.value for d in Decision],
        "reasons": [r.value for r in ReasonCode],
        "reason_labels": {r.value: label for r, label in REASON_LABELS.items()},
    }


def _page(template: str, log_filter: search.LogFilter, **context):
    db = get_session()
    before = bounded_seq(request.args.get("before"))
    try:
        rows, next_before = search.search_page(db, log_filter=log_filter, before=before)
        totals = search.counts(db, log_filter=log_filter)
        context.update(names.for_rows(db, (entry for entry, _note in rows)))
    except search.FilterError as exc:
        html = render_template(
            template,
            refs={},
            grants={},
            rows=[],
            totals=[],
            error=str(exc),
            filters=log_filter,
            next_url=None,
            **_choices(),
            **context,
        )
        return html, 400
    next_url = None
    if next_before is not None:
        args = {**request.view_args, **log_filter.as_args(), "before": next_before}
        next_url = url_for(request.endpoint, **args)
    return render_template(
        template,
        rows=rows,
        totals=totals,
        counts_window=search.COUNTS_WINDOW,
        error=None,
        filters=log_filter,
        next_url=next_url,
        **_choices(),
        **context,
    )


@audit_bp.route("/")
@requires("access_log", "read")
def log():
    return _page("audit/log.html", search.LogFilter.from_args(request.args))


@audit_bp.route("/cases/<case_id>")
@requires("access_log", "read")
def case(case_id: str):
    """By the reference staff see (VC-...) or the internal id."""
    return _page("audit/case.html", search.LogFilter(case=case_id[:64]), case_id=case_id[:64])


@audit_bp.route("/actors/<int:actor_id>")
@requires("access_log", "read")
def actor(actor_id: int):
    overview = search.actor_overview(get_session(), actor_id=actor_id)
    if not overview["total"]:
        abort(404)
    return _page(
        "audit/actor.html",
        search.LogFilter(actor=str(actor_id)),
        actor_id=actor_id,
        overview=overview,
    )


@audit_bp.route("/status")
@requires("access_log", "read")
def status():
    state = search.status(
        get_session(),
        keys=known_keys(
            read_verifier_keys(
                verifier_keys_path(
                    current_app.config["VIGIL"], current_app.config["VIGIL_INSTANCE"]
                )
            ),
            current_signer(),
        ),
        origin=setting("AUDIT_ORIGIN"),
        settings=current_app.config["VIGIL"],
        now=utcnow(),
    )
    verifier_key = current_signer().verifier_key
    return render_template("audit/status.html", verifier_key=verifier_key, now=utcnow(), **state)


@audit_bp.route("/status/verify", methods=["POST"])
@requires("access_log", "verify")
def verify_now():
    """Queue a full verification for the sidecar; the page does not wait for it."""
    db, me = get_session(), current_user._get_current_object()
    request_row = VerifyRequest(requested_by=me.id, requested_by_label=me.label)
    db.add(request_row)
    record_event(
        db,
        event_type=EventType.ACCESS_LOG_VERIFY_REQUESTED,
        actor=me,
        target_type="access_log",
        target_label="verify now",
    )
    db.commit()
    flash("Verification queued: the checkpoint sidecar runs it within seconds.")
    return redirect(url_for("audit.status"))


@audit_bp.route("/export/<fmt>")
@requires("access_log", "export")
def export(fmt: str):
    if fmt not in FORMATS:
        abort(404)
    log_filter = search.LogFilter.from_args(request.args)
    try:
        search.validate(log_filter)
    except search.FilterError as exc:
        abort(400, str(exc))
    db = get_session()
    # The export is recorded (and committed) before a single row leaves.
    record_event(
        db,
        event_type=EventType.ACCESS_LOG_EXPORTED,
        actor=current_user._get_current_object(),
        target_type="access_log",
        target_label=f"{fmt} export",
        after={"format": fmt, "filters": log_filter.as_args()},
    )
    try:
        db.commit()
    except Exception:
        db.rollback()
        current_app.logger.exception("could not record the export")
        abort(503)
    engine = current_app.extensions["vigil.engine"]
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    mimetype, suffix = FORMATS[fmt]
    return Response(
        stream_with_context(export_stream(engine, log_filter=log_filter, fmt=fmt)),
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="access-log-{stamp}.{suffix}"'},
    )
