"""The JSON API for the chat backend: /api/v1/reports, the OpenAPI document and its docs page."""

from __future__ import annotations

import json

from flask import Blueprint, Response, current_app, g, render_template, request, url_for

from access_control.guard import public
from core import throttle
from core.db import get_session
from core.timeutil import as_utc, utcnow
from core.web import problem
from moderation import idempotency
from moderation.evidence import snapshot
from moderation.intake import Reporter, report_for_token, submit_report
from moderation.models import Channel, Report
from moderation.openapi import openapi_document
from moderation.schemas import ReportIn, ReportReceipt, parse_report
from moderation.setup import current_intake
from moderation.tokens import token_required
from privacy.conversations import upsert_external

api_bp = Blueprint("api", __name__, url_prefix="/api")


def receipt(report: Report) -> dict:
    """The reporter-facing view of a report: no case, no reviewers, no other reporters."""
    return ReportReceipt(
        reference=report.ref,
        status=report.status,
        received_at=as_utc(report.created_at),
        category=report.category,
        message_ids=json.loads(report.message_ids),
    ).model_dump(mode="json")


def payload_snapshot(payload: ReportIn) -> dict:
    """The evidence snapshot of an API payload (same shape as for stored conversations)."""
    conversation = payload.conversation
    return snapshot(
        conversation={
            "id": conversation.id,
            "model_id": conversation.model_id,
            "product": conversation.product,
            "title": conversation.title,
        },
        messages=[
            {
                "id": message.id,
                "role": message.role,
                "text": message.text,
                "created_at": as_utc(message.created_at).isoformat(),
                "attachment": message.attachment.model_dump() if message.attachment else None,
            }
            for message in conversation.messages
        ],
    )


def _json_response(body: str, status: int, **headers: str) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.headers.update(headers)
    return response


def _limits(name: str) -> str:
    return current_app.config["VIGIL"][name]


def _decode_body():
    if request.mimetype != "application/json":
        return None, problem(415, "Send the report as application/json.")
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(raw), None
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None, problem(400, "The body is not valid JSON.")


@api_bp.post("/v1/reports")
@token_required("reports:write")
def create_report():
    address = request.remote_addr or "unknown"
    throttle.take([(_limits("REPORT_LIMIT_PER_ADDRESS"), throttle.key_for("api-addr", address))])
    data, error = _decode_body()
    if error is not None:
        return error
    payload, errors = parse_report(data)
    if payload is None:
        return problem(422, "The report is not valid; see errors.", errors=errors)
    token, db = g.service_token, get_session()
    key = request.headers.get("Idempotency-Key")
    record = None
    if key is not None:
        if not idempotency.valid_key(key):
            return problem(400, "Idempotency-Key must be 1-255 printable ASCII characters.")
        try:
            outcome = idempotency.claim(
                db,
                token_id=token.id,
                key=key,
                request_hash=idempotency.fingerprint(data),
                now=utcnow(),
            )
        except idempotency.IdempotencyConflict as exc:
            db.rollback()
            return problem(exc.status, exc.detail)
        db.commit()  # the claim must be visible to a concurrent retry before the work starts
        if isinstance(outcome, idempotency.Replay):
            return _replay(outcome)
        record = outcome
    try:
        reporter_key = throttle.key_for("api-reporter", f"{token.id}:{payload.reporter_id}")
        throttle.take([(_limits("REPORT_LIMIT_PER_REPORTER"), reporter_key)])
        report = _submit(db, payload, token.id)
        body = json.dumps(receipt(report))
        if record is not None:
            idempotency.complete(db, record_id=record.id, status_code=201, body=body, now=utcnow())
        db.commit()
    except BaseException:
        db.rollback()
        if record is not None:
            idempotency.release(db, record_id=record.id)
            db.commit()
        raise
    location = url_for("api.get_report", ref=report.ref)
    return _json_response(body, 201, Location=location)


def _replay(replay: idempotency.Replay) -> Response:
    headers = {"Idempotent-Replayed": "true"}
    reference = json.loads(replay.body).get("reference")
    if reference:
        headers["Location"] = url_for("api.get_report", ref=reference)
    return _json_response(replay.body, replay.status_code, **headers)


def _submit(db, payload: ReportIn, token_id: int) -> Report:
    document = payload_snapshot(payload)
    conversation = upsert_external(
        db,
        external_id=payload.conversation.id,
        model_id=payload.conversation.model_id,
        product=payload.conversation.product,
        owner_ref=payload.conversation.owner_id,
        language=payload.conversation.language,
    )
    return submit_report(
        db,
        settings=current_intake(),
        conversation=conversation,
        document=document,
        message_ids=payload.message_ids,
        category=payload.category,
        source_type=payload.source_type,
        channel=Channel.API,
        reporter=Reporter(key=f"api:{payload.reporter_id}", token_id=token_id),
        statement={"description": payload.description},
    )


@api_bp.get("/v1/reports/<ref>")
@token_required("reports:write")
def get_report(ref: str):
    report = report_for_token(get_session(), ref=ref, token_id=g.service_token.id)
    if report is None:
        # Same answer for "does not exist" and "another token's report": no probing.
        return problem(404, "No report with this reference was filed with this token.")
    return receipt(report)


@api_bp.get("/openapi.json")
@public
def openapi_json():
    return openapi_document()


@api_bp.get("/docs")
@public
def docs():
    return render_template("moderation/api_docs.html", doc=openapi_document())
