"""The OpenAPI 3.1 document for /api, built from the pydantic models it validates with."""

from __future__ import annotations

import functools
from typing import Any

from moderation.api.schemas import (
    ID_PATTERN,
    MAX_REQUEST_BYTES,
    ConversationBody,
    ConversationReceipt,
    Problem,
    ReportIn,
    ReportReceipt,
)
from moderation.intake import taxonomy

REF = "#/components/schemas/{model}"
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (ReportIn, ReportReceipt, ConversationBody, ConversationReceipt, Problem):
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


def _json(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model)}}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Retry safely: the same key with the same body replays the first response "
        "(header Idempotent-Replayed: true); with a different body 422; while the first "
        "request is still running 409. Keys are kept 24 hours, per token."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
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
        "requestBody": {"required": True, "content": _json("ReportIn")},
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
            "not stored. Evidence already frozen for a report is not touched. A conversation "
            f"known only from a report gets its messages on the first PUT. {LIMITS}"
        ),
        "security": [{"serviceToken": ["conversations:write"]}],
        "parameters": [
            {
                "name": "conversation_id",
                "in": "path",
                "required": True,
                "description": "The chat backend's conversation id.",
                "schema": {"type": "string", "pattern": ID_PATTERN},
            }
        ],
        "requestBody": {"required": True, "content": _json("ConversationBody")},
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
    for operation in (create, read, put):  # the docs page lists responses in this order
        operation["responses"] = dict(sorted(operation["responses"].items()))
    return {
        "/api/v1/reports": {"post": create},
        "/api/v1/reports/{ref}": {"get": read},
        "/api/v1/conversations/{conversation_id}": {"put": put},
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
                "Reports and conversations from the chat backend. Authenticate with a "
                "service token: `flask --app app tokens create --name NAME --scope "
                "reports:write --scope conversations:write` (either scope, or both). "
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
