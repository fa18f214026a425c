"""The JSON API for the chat backend: /api/v1 reports and conversations, the OpenAPI docs."""

from __future__ import annotations

import json
import re

from flask import Blueprint, Response, g, render_template, request, url_for
from sqlmodel import select

from access_control.guard import public
from access_control.tokens import token_required
from core import throttle
from core.config import setting
from core.db import get_session
from core.timeutil import as_utc, utcnow
from core.web import problem
from moderation.api import idempotency
from moderation.api.openapi import openapi_document
from moderation.api.schemas import (
    ID_PATTERN,
    ConversationBody,
    ConversationReceipt,
    ErasureOut,
    FeedbackOut,
    MessageIn,
    OwnerPrivacyOut,
    ReportIn,
    ReportReceipt,
    parse_conversation,
    parse_feedback,
    parse_owner_privacy,
    parse_report,
)
from moderation.intake import reports
from moderation.intake.evidence import snapshot
from moderation.intake.models import Case, Channel, Report
from moderation.intake.reports import Reporter, report_for_token
from moderation.intake.settings import current_intake
from moderation.review.appeals import AppealRefused, decided_case_of, file_appeal
from moderation.review.models import Appellant
from moderation.review.rules import current_rules
from privacy.consent import (
    ConsentError,
    Owner,
    explain,
    feedback_disclosure_kind,
    may_train,
    note_feedback_disclosed,
    set_privacy,
)
from privacy.conversations import (
    MessageDraft,
    messages_of,
    store_external_conversation,
    upsert_external,
)
from privacy.feedback import FeedbackError, give_feedback
from privacy.models import ConsentSource, Conversation
from privacy.rights import erase_conversations, erase_owner

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


def _decode_body():
    if request.mimetype != "application/json":
        return None, problem(415, "Send the body as application/json.")
    raw = request.get_data(cache=True)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        return json.loads(raw), None
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None, problem(400, "The body is not valid JSON.")


@api_bp.before_request
def _limit_each_address() -> None:
    """Every /api/v1 call counts against its address, before its token is even looked at."""
    if request.path.startswith("/api/v1/"):
        key = throttle.key_for("api-addr", request.remote_addr or "unknown")
        throttle.take([(setting("REPORT_LIMIT_PER_ADDRESS"), key)])


@api_bp.post("/v1/reports")
@token_required("reports:write")
def create_report():
    data, error = _decode_body()
    if error is not None:
        return error
    payload, errors = parse_report(data)
    if payload is None:
        return problem(422, "The report is not valid; see errors.", errors=errors)
    token, db = g.service_token, get_session()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not idempotency.valid_key(key):
        return problem(400, "Idempotency-Key must be 1-255 printable ASCII characters.")
    fingerprint = idempotency.fingerprint(data)
    try:
        with idempotency.idempotent(
            db, token_id=token.id, key=key, request_hash=fingerprint, now=utcnow()
        ) as slot:
            if slot.replay is not None:
                return _replay(slot.replay)
            reporter_key = throttle.key_for("api-reporter", f"{token.id}:{payload.reporter_id}")
            throttle.take([(setting("REPORT_LIMIT_PER_REPORTER"), reporter_key)])
            report = _submit(db, payload, token.id)
            body = json.dumps(receipt(report))
            slot.complete(status_code=201, body=body, now=utcnow())
            db.commit()
    except idempotency.IdempotencyConflict as exc:
        db.rollback()
        return problem(exc.status, exc.detail)
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
    conversation, _created = upsert_external(
        db,
        external_id=payload.conversation.id,
        model_id=payload.conversation.model_id,
        product=payload.conversation.product,
        owner_ref=payload.conversation.owner_id,
        language=payload.conversation.language,
    )
    return reports.submit_report(
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


@api_bp.put("/v1/conversations/<conversation_id>")
@token_required("conversations:write")
def put_conversation(conversation_id: str):
    if not re.fullmatch(ID_PATTERN, conversation_id):
        return problem(404, f"Conversation ids match {ID_PATTERN}.")
    data, error = _decode_body()
    if error is not None:
        return error
    body, errors = parse_conversation(data)
    if body is None:
        return problem(422, "The conversation is not valid; see errors.", errors=errors)
    db = get_session()
    conversation, created = _store(db, conversation_id, body)
    db.commit()  # one transaction: on any error before this, teardown rolls everything back
    stored = ConversationReceipt(
        id=conversation_id,
        reference=conversation.public_ref,
        message_count=len(messages_of(db, conversation_id=conversation.id)),
        updated_at=as_utc(conversation.updated_at),
    )
    return _json_response(stored.model_dump_json(), 201 if created else 200)


def _store(db, external_id: str, body: ConversationBody) -> tuple[Conversation, bool]:
    return store_external_conversation(
        db,
        external_id=external_id,
        model_id=body.model_id,
        product=body.product,
        owner_ref=body.owner_id,
        language=body.language,
        messages=[_draft(message) for message in body.messages],
    )


def _draft(message: MessageIn) -> MessageDraft:
    attachment = message.attachment  # `attachment and ...` is None without one
    return MessageDraft(
        role=message.role,
        text=message.text,
        created_at=message.created_at,
        external_id=message.id,
        attachment_name=attachment and attachment.name,
        attachment_media_type=attachment and attachment.media_type,
        attachment_size=attachment and attachment.size,
        attachment_sha256=attachment and attachment.sha256,
    )


def _external_or_404(conversation_id: str) -> Conversation | None:
    if not re.fullmatch(ID_PATTERN, conversation_id):
        return None
    db = get_session()
    query = select(Conversation).where(Conversation.external_id == conversation_id)
    conversation = db.exec(query).first()
    return conversation if conversation is not None and conversation.deleted_at is None else None


@api_bp.delete("/v1/conversations/<conversation_id>")
@token_required("conversations:write")
def delete_conversation(conversation_id: str):
    conversation = _external_or_404(conversation_id)
    if conversation is None:
        return problem(404, "No stored conversation with this id.")
    db = get_session()
    result = erase_conversations(db, [conversation])
    db.commit()
    body = result.as_json({conversation.id: conversation_id})
    return _json_response(ErasureOut(**body).model_dump_json(), 200)


@api_bp.put("/v1/conversations/<conversation_id>/messages/<message_id>/feedback")
@token_required("conversations:write")
def put_feedback(conversation_id: str, message_id: str):
    conversation = _external_or_404(conversation_id)
    if conversation is None or not re.fullmatch(ID_PATTERN, message_id):
        return problem(404, "No stored conversation with this id.")
    data, error = _decode_body()
    if error is not None:
        return error
    body, errors = parse_feedback(data)
    if body is None:
        return problem(422, "The feedback is not valid; see errors.", errors=errors)
    db = get_session()
    try:
        stored = give_feedback(
            db,
            conversation=conversation,
            message_external_id=message_id,
            rating=body.rating,
            comment=body.comment,
            source=ConsentSource.API,
        )
    except FeedbackError as exc:
        db.rollback()
        status = exc.status
        pointer = {"pointer": f"#/{exc.field}", "detail": str(exc), "type": "invalid"}
        return problem(status, str(exc), errors=[pointer])
    if conversation.owner_ref:
        kind = feedback_disclosure_kind(setting("FEEDBACK_OVERRIDES_OPT_OUT"))
        note_feedback_disclosed(db, Owner(owner_ref=conversation.owner_ref), kind)
    db.commit()
    out = FeedbackOut(
        conversation_id=conversation_id,
        message_id=message_id,
        rating=stored.rating.value,
        received_at=as_utc(stored.created_at),
    )
    return _json_response(out.model_dump_json(), 200)


@api_bp.put("/v1/owners/<owner_id>/privacy")
@token_required("privacy:write")
def put_owner_privacy(owner_id: str):
    if not re.fullmatch(ID_PATTERN, owner_id):
        return problem(404, f"Owner ids match {ID_PATTERN}.")
    data, error = _decode_body()
    if error is not None:
        return error
    body, errors = parse_owner_privacy(data)
    if body is None:
        return problem(422, "The privacy settings are not valid; see errors.", errors=errors)
    db = get_session()
    try:
        row = set_privacy(
            db,
            Owner(owner_ref=owner_id),
            plan=body.plan,
            opt_out=body.training_opt_out,
            source=ConsentSource.API,
            actor=f"token:{g.service_token.id} ({g.service_token.name})",
        )
    except ConsentError as exc:
        db.rollback()
        pointer = {"pointer": f"#/{exc.field}", "detail": str(exc), "type": "not_allowed"}
        return problem(422, str(exc), errors=[pointer])
    db.commit()
    out = OwnerPrivacyOut(
        owner_id=owner_id,
        plan=row.plan.value if row.plan else None,
        training_opt_out=row.training_opt_out,
        used_for_training=may_train(row.plan, row.training_opt_out),
        explanation=explain(row),
    )
    return _json_response(out.model_dump_json(), 200)


@api_bp.delete("/v1/owners/<owner_id>")
@token_required("privacy:write")
def delete_owner(owner_id: str):
    if not re.fullmatch(ID_PATTERN, owner_id):
        return problem(404, f"Owner ids match {ID_PATTERN}.")
    db = get_session()
    result, external_ids = erase_owner(db, owner_id)
    db.commit()
    return _json_response(ErasureOut(**result.as_json(external_ids)).model_dump_json(), 200)


@api_bp.get("/openapi.json")
@public
def openapi_json():
    return openapi_document()


def curl_example(base: str, path: str, method: str, operation: dict) -> str:
    """A copyable curl line for one operation, with the documented examples filled in."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = parameter.get("example", "REF" if parameter["name"] == "ref" else "ID")
            path = path.replace("{" + parameter["name"] + "}", value)
    parts = [f"curl -X {method.upper()} '{base}{path}'", '-H "Authorization: Bearer $VIGIL_TOKEN"']
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" in body:
        parts.append("-H 'Content-Type: application/json'")
        payload = json.dumps(body["example"], ensure_ascii=False).replace("'", "'\\''")
        parts.append(f"-d '{payload}'")
    return " \\\n  ".join(parts)


@api_bp.get("/docs")
@public
def docs():
    doc, base = openapi_document(), request.host_url.rstrip("/")
    curls = {
        op["operationId"]: curl_example(base, path, method, op)
        for path, operations in doc["paths"].items()
        for method, op in operations.items()
    }
    return render_template("moderation/api/api_docs.html", doc=doc, curls=curls)


def _appeal_statement():
    """The appeal's statement from the body, or a problem response."""
    data, error = _decode_body()
    if error is not None:
        return None, None, error
    if not isinstance(data, dict) or not isinstance(data.get("statement"), str):
        pointer = {"pointer": "#/statement", "detail": "a string", "type": "missing"}
        return None, None, problem(422, "Give the appeal's statement.", errors=[pointer])
    statement = data["statement"]
    if "\x00" in statement:
        return None, None, problem(422, "The statement must not contain NUL characters.")
    return data, statement, None


def _filed(db, case, **kwargs):
    try:
        appeal = file_appeal(
            db, case=case, channel="api", now=utcnow(), rules=current_rules(), **kwargs
        )
    except AppealRefused as refused:
        db.rollback()
        return problem(refused.status, refused.why)
    db.commit()
    out = {"appeal": appeal.ref, "case": case.ref, "filed_at": as_utc(appeal.filed_at).isoformat()}
    return _json_response(json.dumps(out), 201)


@api_bp.post("/v1/reports/<ref>/appeal")
@token_required("reports:write")
def appeal_report(ref: str):
    """A reporter the chat backend reported for appeals the outcome of their report."""
    db = get_session()
    report = report_for_token(db, ref=ref, token_id=g.service_token.id)
    if report is None:
        return problem(404, "No report with this reference was filed with this token.")
    _data, statement, error = _appeal_statement()
    if error is not None:
        return error
    case = db.get(Case, report.case_id)
    return _filed(
        db,
        case,
        appellant=Appellant.REPORTER,
        appellant_key=f"report:{report.ref}",
        statement=statement,
        report=report,
    )


@api_bp.post("/v1/conversations/<conversation_id>/appeal")
@token_required("conversations:write")
def appeal_conversation(conversation_id: str):
    """The owner of a conversation appeals the latest final decision about it."""
    conversation = _external_or_404(conversation_id)
    data, statement, error = _appeal_statement()
    if error is not None:
        return error
    if (
        conversation is None
        or not data.get("owner_id")
        or data["owner_id"] != conversation.owner_ref
    ):
        return problem(404, "No conversation with this id belongs to this owner.")
    db = get_session()
    case = decided_case_of(db, conversation_id=conversation.id)
    if case is None:
        return problem(409, "There is no final decision about this conversation to appeal.")
    return _filed(
        db,
        case,
        appellant=Appellant.AFFECTED,
        appellant_key=f"owner:{conversation.owner_ref}",
        statement=statement,
    )
