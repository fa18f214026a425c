"""The OpenAPI 3.1 document for /api, built from the pydantic models it validates with."""

from __future__ import annotations

import functools
from typing import Any

from moderation.api.idempotency import KEY_PATTERN
from moderation.api.schemas import (
    ID_PATTERN,
    MAX_REQUEST_BYTES,
    AppealIn,
    AppealOut,
    ConversationBody,
    ConversationReceipt,
    ErasureOut,
    FeedbackIn,
    FeedbackOut,
    OwnerPrivacyIn,
    OwnerPrivacyOut,
    Problem,
    ReportIn,
    ReportReceipt,
)
from moderation.intake import taxonomy

REF = "#/components/schemas/{model}"
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models = (
        ReportIn,
        ReportReceipt,
        ConversationBody,
        ConversationReceipt,
        OwnerPrivacyIn,
        OwnerPrivacyOut,
        FeedbackIn,
        FeedbackOut,
        ErasureOut,
        AppealIn,
        AppealOut,
        Problem,
    )
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    # The category list lives in taxonomy.json; publish it as an enum.
    keys = [item.key for item in taxonomy.categories()]
    schemas["ReportIn"]["properties"]["category"]["enum"] = keys
    return schemas


def _problem(description: str, **headers: Any) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": PROBLEM}},
    }
    if headers:
        response["headers"] = headers
    return response


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {"description": 'Bearer realm="vigil"', "schema": {"type": "string"}}
}
LIMITS = (
    "Limits: 500 messages, 32,000 characters per message, "
    f"{MAX_REQUEST_BYTES} bytes per request; unknown fields are rejected."
)


def _common_errors(scope: str, *, too_many: str = "Too many requests from this address.") -> dict:
    """The answers every /api/v1 operation can give, whatever its body."""
    return {
        "401": _problem("No, unknown or revoked service token.", **WWW_AUTHENTICATE),
        "403": _problem(f"The token lacks the {scope} scope."),
        "429": _problem(f"{too_many} Counted before the token is checked.", **RETRY_AFTER),
        "500": _problem("Unexpected failure; whatever the request changed was rolled back."),
    }


BODY_ERRORS = {
    "413": _problem("The request is larger than 1 MiB."),
    "415": _problem("The body is not application/json."),
}


def _json(model: str, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": {"$ref": REF.format(model=model)}}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


# Working examples: a test sends each documented request body, in document order, to a fresh
# Vigil and expects a 2xx, so these cannot drift from what the API accepts.
EXAMPLE_CONVERSATION_ID = "c_8f14e45f"
EXAMPLE_OWNER_ID = "u_1a2b3c4d"
EXAMPLE_MESSAGES = [
    {
        "id": "m_1",
        "role": "user",
        "text": "Someone sent me a link promising a prize. Is it real?",
        "created_at": "2026-11-30T09:00:00Z",
    },
    {
        "id": "m_2",
        "role": "assistant",
        "text": "It looks like a scam: real prizes never ask for card details.",
        "created_at": "2026-11-30T09:00:04Z",
    },
]
CONVERSATION_EXAMPLE = {
    "owner_id": EXAMPLE_OWNER_ID,
    "model_id": "chat-model-1",
    "product": "chat",
    "title": "A prize message",
    "language": "en",
    "messages": EXAMPLE_MESSAGES,
}
REPORT_EXAMPLE = {
    "conversation": {"id": EXAMPLE_CONVERSATION_ID, **CONVERSATION_EXAMPLE},
    "message_ids": ["m_2"],
    "category": "scam_fraud",
    "description": "The conversation quotes a fake prize message asking for card details.",
    "reporter_id": "r_5e6f7a8b",
    "source_type": "user_notice",
}
FEEDBACK_EXAMPLE = {"rating": "up", "comment": "Clear and correct.", "disclosure_shown": True}
PRIVACY_EXAMPLE = {"plan": "free", "training_opt_out": True}


def _path_param(name: str, description: str, example: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": ID_PATTERN},
        "example": example,
    }


CONVERSATION_ID = _path_param(
    "conversation_id", "The chat backend's conversation id.", EXAMPLE_CONVERSATION_ID
)
OWNER_ID = _path_param("owner_id", "The chat backend's pseudonymous owner id.", EXAMPLE_OWNER_ID)
MESSAGE_ID = _path_param("message_id", "The rated assistant message's id.", "m_2")


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Retry safely: the same key with the same body replays the first response "
        "(header Idempotent-Replayed: true); with a different body 422; while the first "
        "request is still running 409. Keys are kept 24 hours, per token."
    ),
    "schema": {"type": "string", "pattern": f"^{KEY_PATTERN.pattern}$"},
}


def _paths() -> dict[str, Any]:
    create = {
        "operationId": "createReport",
        "summary": "Report a conversation or some of its messages",
        "description": (
            "The snapshot is frozen as sealed evidence and the conversation is excluded "
            f"from training in the same transaction. {LIMITS} At most 2,000 characters of "
            "description."
        ),
        "security": [{"serviceToken": ["reports:write"]}],
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {"required": True, "content": _json("ReportIn", REPORT_EXAMPLE)},
        "responses": {
            "201": {
                "description": "Received; the reference number is the reporter's receipt.",
                "headers": {"Location": {"schema": {"type": "string"}}},
                "content": _json("ReportReceipt"),
            },
            "400": _problem("Body is not JSON, or the Idempotency-Key is malformed."),
            **_common_errors(
                "reports:write", too_many="Too many requests from this address or reporter."
            ),
            "409": _problem("A request with this Idempotency-Key is still running."),
            **BODY_ERRORS,
            "422": _problem(
                "Invalid report (errors lists each failing field as a JSON pointer), or "
                "an Idempotency-Key reused with a different body."
            ),
        },
    }
    read = {
        "operationId": "getReport",
        "summary": "Status of a report filed with this token",
        "security": [{"serviceToken": ["reports:write"]}],
        "parameters": [
            {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "responses": {
            "200": {
                "description": "The report's receipt and status.",
                "content": _json("ReportReceipt"),
            },
            **_common_errors("reports:write"),
            "404": _problem("No such report filed with this token."),
        },
    }
    put = {
        "operationId": "putConversation",
        "summary": "Create or replace a conversation and its messages",
        "description": (
            "Stores the chat backend's conversation under its own id: metadata updated, "
            "the message list replaced by the one sent, in order, in one transaction "
            "(on any error nothing changes). Message text is sealed at rest; the title is "
            "not stored. Evidence already frozen for a report is not touched. For product "
            "ocr (zero retention) no message is stored at all: message_count is 0. A conversation "
            f"known only from a report gets its messages on the first PUT. {LIMITS}"
        ),
        "security": [{"serviceToken": ["conversations:write"]}],
        "parameters": [CONVERSATION_ID],
        "requestBody": {
            "required": True,
            "content": _json("ConversationBody", CONVERSATION_EXAMPLE),
        },
        "responses": {
            "200": {"description": "Replaced.", "content": _json("ConversationReceipt")},
            "201": {"description": "Created.", "content": _json("ConversationReceipt")},
            "400": _problem("The body is not valid JSON."),
            **_common_errors("conversations:write"),
            "404": _problem("The id does not match the pattern."),
            **BODY_ERRORS,
            "422": _problem(
                "Invalid conversation: errors lists each failing field as a JSON pointer "
                "(duplicated message ids included)."
            ),
        },
    }
    erase = {
        "operationId": "deleteConversation",
        "summary": "Erase a conversation at its owner's request",
        "description": (
            "Deletes the stored messages, ratings and share links; the conversation leaves "
            "every later training export. Evidence frozen for a report is kept under legal "
            "hold, and the answer says so and why."
        ),
        "security": [{"serviceToken": ["conversations:write"]}],
        "parameters": [CONVERSATION_ID],
        "responses": {
            "200": {"description": "Erased.", "content": _json("ErasureOut")},
            **_common_errors("conversations:write"),
            "404": _problem("No stored conversation with this id."),
        },
    }
    feedback = {
        "operationId": "putFeedback",
        "summary": "Rate an assistant message (thumbs up or down, optional comment)",
        "description": (
            "One rating per message; a new one replaces it. Before a user's first rating the "
            "chat product must tell them that a rating and the rated input and output may be "
            "used to improve models even if they opted out (unless Vigil runs with "
            "VIGIL_FEEDBACK_OVERRIDES_OPT_OUT=false), and say so with disclosure_shown. "
            "Conversations excluded by moderation are never used."
        ),
        "security": [{"serviceToken": ["conversations:write"]}],
        "parameters": [CONVERSATION_ID, MESSAGE_ID],
        "requestBody": {"required": True, "content": _json("FeedbackIn", FEEDBACK_EXAMPLE)},
        "responses": {
            "200": {"description": "Stored.", "content": _json("FeedbackOut")},
            "400": _problem("The body is not valid JSON."),
            **_common_errors("conversations:write"),
            "404": _problem("No stored conversation or message with this id."),
            **BODY_ERRORS,
            "422": _problem("Invalid rating, or the message is not an assistant message."),
        },
    }
    privacy = {
        "operationId": "putOwnerPrivacy",
        "summary": "Set a pseudonymous owner's plan and training choice",
        "description": (
            "free, pro, student and api_experiment are used for training unless the owner "
            "opts out; team, enterprise and api_scale are never used and cannot opt in. "
            "Opting out is free and accepted on every plan, from the next export on. An owner "
            "Vigil has no plan for is never exported. Every change is kept in the consent "
            "history with this token as its source."
        ),
        "security": [{"serviceToken": ["privacy:write"]}],
        "parameters": [OWNER_ID],
        "requestBody": {"required": True, "content": _json("OwnerPrivacyIn", PRIVACY_EXAMPLE)},
        "responses": {
            "200": {"description": "Stored.", "content": _json("OwnerPrivacyOut")},
            "400": _problem("The body is not valid JSON."),
            **_common_errors("privacy:write"),
            "404": _problem("The owner id does not match the pattern."),
            **BODY_ERRORS,
            "422": _problem("Invalid body, or opting in on a plan that is never trained."),
        },
    }
    erase_owner = {
        "operationId": "deleteOwner",
        "summary": "Erase everything Vigil holds for a pseudonymous owner",
        "description": (
            "Every conversation of the owner is erased as by deleteConversation, and their "
            "plan, choice and consent history are deleted. Evidence of reported "
            "conversations is kept under legal hold, listed in the answer."
        ),
        "security": [{"serviceToken": ["privacy:write"]}],
        "parameters": [OWNER_ID],
        "responses": {
            "200": {"description": "Erased.", "content": _json("ErasureOut")},
            **_common_errors("privacy:write"),
            "404": _problem("The owner id does not match the pattern."),
        },
    }
    appeal_errors = {
        "400": _problem("The body is not valid JSON."),
        **BODY_ERRORS,
        "409": _problem(
            "No final decision to appeal, the six-month window has closed, this appellant's "
            "appeal is already open, or a newer case about the conversation is under review."
        ),
        "422": _problem("No statement, or one longer than 5,000 characters."),
    }
    appeal_text = (
        "Free of charge, within six months of the final decision (VIGIL_APPEAL_WINDOW_DAYS). "
        "The case reopens in the appeals queue, where someone who did not decide it upholds "
        "or overturns the decision; the outcome arrives as an appeal.decided webhook event."
    )
    appeal_report = {
        "operationId": "appealReport",
        "summary": "A reporter appeals the outcome of their report",
        "description": appeal_text,
        "security": [{"serviceToken": ["reports:write"]}],
        "parameters": [
            {"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}
        ],
        "requestBody": {
            "required": True,
            "content": _json("AppealIn", {"statement": "The message is still online."}),
        },
        "responses": {
            "201": {"description": "Filed.", "content": _json("AppealOut")},
            **_common_errors("reports:write"),
            "404": _problem("No such report filed with this token."),
            **appeal_errors,
        },
    }
    appeal_owner = {
        "operationId": "appealDecision",
        "summary": "The owner of a conversation appeals the decision about it",
        "description": appeal_text + " owner_id must be the conversation's owner.",
        "security": [{"serviceToken": ["conversations:write"]}],
        "parameters": [CONVERSATION_ID],
        "requestBody": {
            "required": True,
            "content": _json(
                "AppealIn",
                {"owner_id": EXAMPLE_OWNER_ID, "statement": "This was a quote from a novel."},
            ),
        },
        "responses": {
            "201": {"description": "Filed.", "content": _json("AppealOut")},
            **_common_errors("conversations:write"),
            "404": _problem("No stored conversation with this id belongs to this owner."),
            **appeal_errors,
        },
    }
    operations = (
        create,
        read,
        put,
        erase,
        feedback,
        privacy,
        erase_owner,
        appeal_report,
        appeal_owner,
    )
    for operation in operations:  # the docs page lists responses in this order
        operation["responses"] = dict(sorted(operation["responses"].items()))
    return {
        "/api/v1/conversations/{conversation_id}": {"put": put, "delete": erase},
        "/api/v1/conversations/{conversation_id}/messages/{message_id}/feedback": {"put": feedback},
        "/api/v1/reports": {"post": create},
        "/api/v1/reports/{ref}": {"get": read},
        "/api/v1/owners/{owner_id}/privacy": {"put": privacy},
        "/api/v1/owners/{owner_id}": {"delete": erase_owner},
        "/api/v1/reports/{ref}/appeal": {"post": appeal_report},
        "/api/v1/conversations/{conversation_id}/appeal": {"post": appeal_owner},
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at /api/openapi.json (built once per process)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vigil API",
            "version": "1.0.0",
            "description": (
                "Reports, conversations, ratings, owners' privacy choices and appeals from "
                "the chat backend. Authenticate with a service token: "
                "`flask --app app tokens create --name NAME --scope reports:write "
                "--scope conversations:write --scope privacy:write` (any of the scopes). "
                "Errors are RFC 9457 problem details (application/problem+json)."
            ),
        },
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "serviceToken": {"type": "http", "scheme": "bearer", "bearerFormat": "vgl_..."}
            },
        },
    }
