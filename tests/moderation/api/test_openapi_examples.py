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
        "appealReport",
        "appealDecision",
    }
    for _, _, operation in operations:
        assert "example" in operation["requestBody"]["content"]["application/json"]


def test_each_documented_example_gets_a_2xx_in_document_order(app, client):
    doc = client.get("/api/openapi.json").get_json()
    api = Api(client, make_token(app, scopes=SCOPES))
    sent = []
    for path, method, operation in _operations_with_bodies(doc):
        if operation["operationId"].startswith("appeal"):
            continue  # an appeal needs a decision first: see the next test
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


def test_the_appeal_examples_work_once_the_report_is_decided(app, client, factory):
    from tests.helpers import claim_next, decision_form, post_form

    doc = client.get("/api/openapi.json").get_json()
    api = Api(client, make_token(app, scopes=SCOPES))
    ops = {op["operationId"]: (path, op) for path, _, op in _operations_with_bodies(doc)}

    def example(name):
        return ops[name][1]["requestBody"]["content"]["application/json"]["example"]

    conversation = example("putConversation")
    put = ops["putConversation"][0].format(
        conversation_id=ops["putConversation"][1]["parameters"][0]["example"]
    )
    assert client.put(put, json=conversation, headers=api.headers()).status_code in (200, 201)
    report = example("createReport")
    filed = client.post("/api/v1/reports", json=report, headers=api.headers())
    assert filed.status_code == 201
    reviewer = app.test_client()
    factory.login_as(reviewer, "reviewer:general", "specialist:child_safety")
    case_id, token = claim_next(reviewer)
    page = f"/review/cases/{case_id}"
    form = decision_form(token, labels=[report["category"]])
    assert post_form(reviewer, f"{page}/decision", form, token_from=page).status_code == 302
    path, operation = ops["appealReport"]
    sent = client.post(
        path.format(ref=filed.get_json()["reference"]),
        json=example("appealReport"),
        headers=api.headers(),
    )
    assert sent.status_code == 201, sent.get_json()
    assert str(sent.status_code) in operation["responses"]
    path, operation = ops["appealDecision"]
    owner_path = path.format(conversation_id=report["conversation"]["id"])
    owner = client.post(owner_path, json=example("appealDecision"), headers=api.headers())
    assert owner.status_code == 201, owner.get_json()
