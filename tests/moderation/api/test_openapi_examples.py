"""Every request body in /api/openapi.json carries an example, and each one works as sent."""

from __future__ import annotations

from access_control.tokens import SCOPES
from tests.factories import make_token
from tests.helpers import Api


def _operations_with_bodies(doc):
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            if "requestBody" in operation:
                yield path, method, operation


def test_every_request_body_has_an_example(client):
    doc = client.get("/api/openapi.json").get_json()
    operations = list(_operations_with_bodies(doc))
    assert {op["operationId"] for _, _, op in operations} == {
        "createReport",
        "putConversation",
        "putFeedback",
        "putOwnerPrivacy",
    }
    for _, _, operation in operations:
        assert "example" in operation["requestBody"]["content"]["application/json"]


def test_each_documented_example_gets_a_2xx_in_document_order(app, client):
    doc = client.get("/api/openapi.json").get_json()
    api = Api(client, make_token(app, scopes=SCOPES))
    sent = []
    for path, method, operation in _operations_with_bodies(doc):
        params = {
            p["name"]: p["example"] for p in operation.get("parameters", []) if p["in"] == "path"
        }
        url = path.format(**params)
        body = operation["requestBody"]["content"]["application/json"]["example"]
        response = client.open(url, method=method.upper(), json=body, headers=api.headers())
        assert 200 <= response.status_code < 300, (operation["operationId"], response.get_json())
        assert str(response.status_code) in operation["responses"]
        sent.append(operation["operationId"])
    assert len(sent) == 4
