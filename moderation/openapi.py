"""The OpenAPI 3.1 document for /api, built from the pydantic models it validates with."""

from __future__ import annotations

import functools
from typing import Any

from moderation import taxonomy
from moderation.schemas import (
    MAX_REQUEST_BYTES,
    Problem,
    ReportIn,
    ReportReceipt,
)

REF = "#/components/schemas/{model}"
PROBLEM = {"$ref": "#/components/schemas/Problem"}


def _schemas() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (ReportIn, ReportReceipt, Problem):
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
AUTH_ERRORS = {
    "401": _problem("No or unknown or revoked service token."),
    "403": _problem("The token lacks the reports:write scope."),
    "429": _problem("Too many reports from this address or reporter.", **RETRY_AFTER),
}
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
RECEIPT = {"application/json": {"schema": {"$ref": "#/components/schemas/ReportReceipt"}}}


def _paths() -> dict[str, Any]:
    create = {
        "operationId": "createReport",
        "summary": "Report a conversation or some of its messages",
        "description": (
            "The snapshot is frozen as sealed evidence and the conversation is excluded "
            "from training in the same transaction. Limits: 500 messages, 32,000 characters "
            f"per message, 2,000 characters of description, {MAX_REQUEST_BYTES} bytes per "
            "request; unknown fields are rejected."
        ),
        "security": [{"serviceToken": ["reports:write"]}],
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ReportIn"}}},
        },
        "responses": {
            "201": {
                "description": "Received; the reference number is the reporter's receipt.",
                "headers": {"Location": {"schema": {"type": "string"}}},
                "content": RECEIPT,
            },
            "400": _problem("Body is not JSON, or the Idempotency-Key is malformed."),
            **AUTH_ERRORS,
            "409": _problem("A request with this Idempotency-Key is still running."),
            "413": _problem("The request is larger than 1 MiB."),
            "415": _problem("The body is not application/json."),
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
            "200": {"description": "The report's receipt and status.", "content": RECEIPT},
            **{k: v for k, v in AUTH_ERRORS.items() if k != "429"},
            "404": _problem("No such report filed with this token."),
        },
    }
    return {"/api/v1/reports": {"post": create}, "/api/v1/reports/{ref}": {"get": read}}


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document served at /api/openapi.json (built once per process)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Vigil API",
            "version": "1.0.0",
            "description": (
                "Reports from the chat backend. Authenticate with a service token: "
                "`flask --app app tokens create --name NAME --scope reports:write`. "
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
