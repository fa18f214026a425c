"""Schemathesis against /api/openapi.json (issue 14, item 3), through the Flask app (WSGI).

Every documented operation is called with requests generated from the document, valid ones
and ones that break it, with no token, with a token of each scope and with one holding
all of them. Every answer must be documented: no 5xx, a status code the operation lists,
its content type, headers and body schema. A body the document allows must be accepted,
unless the answer is a 422 for a rule the document states in words (see RULE_ERRORS);
a body the document forbids must be refused.
"""

from __future__ import annotations

import re
import uuid

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from access_control.tokens import SCOPES
from app import create_app
from moderation.api.idempotency import KEY_PATTERN
from moderation.api.openapi import openapi_document
from tests import figures
from tests.conftest import test_settings
from tests.factories import make_token
from tests.helpers import Api, report_body

# Examples per operation, mode and token: the right scope gets more than a refused one.
EXAMPLES_IN_SCOPE, EXAMPLES_REFUSED = 6, 2
# 422s for rules the document states in words, beyond what JSON Schema can say: a reported
# message must be in the snapshot and listed once, message ids are unique, a never-trained
# plan cannot opt in, only assistant messages are rated.
RULE_ERRORS = frozenset({"duplicate", "unknown_id", "not_allowed", "enum", "invalid"})


@pytest.fixture
def app(database_url, tmp_path):
    """Vigil with its per-address and per-reporter throttles out of the way (429s are
    documented, but a run that only sees 429s tests nothing)."""
    generous = {
        "REPORT_LIMIT_PER_REPORTER": "100000 per hour",
        "REPORT_LIMIT_PER_ADDRESS": "100000 per minute",
    }
    application = create_app(test_settings(database_url, tmp_path) | generous)
    yield application
    application.extensions["vigil.engine"].dispose()


def _scopes(schema, operation) -> set[str]:
    security = schema.raw_schema["paths"][operation.path][operation.method.lower()]["security"]
    return {scope for entry in security for scopes in entry.values() for scope in scopes}


def _request(case, response) -> str:
    return f"{case.as_curl_command()}\n-> {response.status_code} {response.text[:500]}"


def _accepts_documented(ctx, response, case):
    """A request the document allows is accepted: 2xx, or a documented refusal that does not
    depend on the body's shape (401, 403, 404, 409, 429), or a 422 for a stated rule."""
    status = response.status_code
    if status < 300 or status in (401, 403, 404, 409, 429):
        return
    if status == 422 and "Idempotency-Key" in (case.headers or {}):
        return  # documented: a key reused with a different body (the key is drawn, too)
    if status == 422:
        kinds = {error["type"] for error in (response.json() or {}).get("errors") or []}
        assert kinds and kinds <= RULE_ERRORS, f"schema-valid, refused: {_request(case, response)}"
        return
    raise AssertionError(f"schema-valid, got {status}: {_request(case, response)}")


def _breaks_the_document(case) -> bool:
    """Whether the request as sent still breaks the document: a broken Authorization header
    is replaced by the token under test, so a case broken only there is a valid request."""
    broken = {
        str(location.value)
        for location, info in case.meta.components.items()
        if info.mode is GenerationMode.NEGATIVE
    }
    if broken != {"header"}:
        return bool(broken)
    key = (case.headers or {}).get("Idempotency-Key")
    return key is not None and not KEY_PATTERN.fullmatch(key)


def _refuses_undocumented(ctx, response, case):
    """A request that breaks the document is refused with a 4xx."""
    if not _breaks_the_document(case):
        return
    assert 400 <= response.status_code < 500, (
        f"schema-breaking, accepted: {_request(case, response)}"
    )


CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
FUZZ = settings(
    deadline=None,
    database=None,  # nothing written into the checkout
    phases=(Phase.explicit, Phase.generate),  # report a failure as drawn (shrinking is slow)
    suppress_health_check=list(HealthCheck),  # generated bodies are large and slow by design
)


def _fuzz(operation, mode, *, headers: dict, in_scope: bool) -> int:
    """Run `examples` generated requests of one mode against one operation; how many ran."""
    check = _accepts_documented if mode is GenerationMode.POSITIVE else _refuses_undocumented
    ran = 0

    @settings(FUZZ, max_examples=EXAMPLES_IN_SCOPE if in_scope else EXAMPLES_REFUSED)
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        nonlocal ran
        ran += 1
        response = case.call(headers=headers)
        case.validate_response(response, checks=[*CONFORMANCE, check], headers=headers)
        if not in_scope:  # the token is looked at before anything else
            assert response.status_code in (401, 403, 429), _request(case, response)

    call()
    return ran


def test_every_operation_answers_as_documented(app):
    tokens = {"no token": None}
    tokens |= {scope: make_token(app, scopes=(scope,)) for scope in SCOPES}
    tokens["every scope"] = make_token(app, scopes=SCOPES)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == sum(len(methods) for methods in schema.raw_schema["paths"].values())
    calls = 0
    for operation in operations:
        needed = _scopes(schema, operation)
        for name, token in tokens.items():
            in_scope = token is not None and (name in needed or name == "every scope")
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                calls += _fuzz(operation, mode, headers=headers, in_scope=in_scope)
    figures.add("hostile inputs tried", calls)


# --- what the fuzzing found, pinned: the document and the validator agree ---------------


def _message(**fields) -> dict:
    return {"id": "m1", "role": "assistant", "text": "hi", **fields}


def _put(client, token: str, message: dict):
    body = {"model_id": "m", "product": "chat", "messages": [message]}
    conversation_id = f"c-{uuid.uuid4().hex[:12]}"
    headers = {"Authorization": f"Bearer {token}"}
    return conversation_id, client.put(
        f"/api/v1/conversations/{conversation_id}", json=body, headers=headers
    )


@pytest.mark.parametrize(
    ("created_at", "status"),
    [
        ("1970-01-01T00:00:00+14:00", 201),  # 1969 in UTC, but written in a documented year
        ("2099-12-31T23:59:59-14:00", 201),
        ("1969-12-31T23:59:59Z", 422),
        ("2100-01-01T00:00:00Z", 422),
        ("0001-01-01T00:00:00+14:00", 422),
        (29591, 422),  # a number is not a date-time (pydantic alone reads it as 1970)
    ],
)
def test_message_times_are_taken_exactly_as_documented(app, client, created_at, status):
    token = make_token(app, scopes=("conversations:write",))
    _, response = _put(client, token, _message(created_at=created_at))
    assert response.status_code == status, response.get_data(as_text=True)
    pattern = openapi_document()["components"]["schemas"]["MessageIn"]["properties"]
    documented = pattern["created_at"]["pattern"]
    assert (isinstance(created_at, str) and bool(re.search(documented, created_at))) == (
        status == 201
    )
    if status == 201:  # stored and readable on both databases
        assert client.get(f"/notice/{response.json['reference']}").status_code == 200


def test_integral_numbers_are_integers_and_only_json_booleans_are_booleans(app, client):
    token = make_token(app, scopes=("conversations:write", "privacy:write"))
    headers = {"Authorization": f"Bearer {token}"}
    attachment = {"name": "a.txt", "media_type": "text/plain", "size": 12.0, "sha256": "ab" * 32}
    message = _message(created_at="2026-01-01T00:00:00Z", attachment=attachment)
    conversation_id, stored = _put(client, token, message)
    assert stored.status_code == 201, stored.get_data(as_text=True)  # JSON Schema: 12.0 is 12
    for flag in (1, "true", 1.0):
        privacy = client.put(
            "/api/v1/owners/o-1/privacy",
            json={"plan": "free", "training_opt_out": flag},
            headers=headers,
        )
        assert privacy.status_code == 422, (flag, privacy.get_data(as_text=True))
        feedback = client.put(
            f"/api/v1/conversations/{conversation_id}/messages/m1/feedback",
            json={"rating": "up", "disclosure_shown": flag},
            headers=headers,
        )
        assert feedback.status_code == 422, (flag, feedback.get_data(as_text=True))
    feedback = client.put(
        f"/api/v1/conversations/{conversation_id}/messages/m1/feedback",
        json={"rating": "up", "disclosure_shown": True},
        headers=headers,
    )
    assert feedback.status_code == 200, feedback.get_data(as_text=True)


def test_the_document_states_the_idempotency_key_alphabet_and_no_nul(app, client):
    document = openapi_document()
    key = document["paths"]["/api/v1/reports"]["post"]["parameters"][0]["schema"]["pattern"]
    assert re.fullmatch(key, "k" * 255) and not re.fullmatch(key, "a key with spaces")
    api = Api(client, make_token(app))
    refused = api.post(report_body(), **{"Idempotency-Key": "a key with spaces"})
    assert refused.status_code == 400
    owner = document["components"]["schemas"]["ConversationBody"]["properties"]["owner_id"]
    assert not re.search(owner["pattern"], "a\x00b")
    body = report_body()
    body["conversation"]["owner_id"] = "a\x00b"
    assert api.post(body).status_code == 422
