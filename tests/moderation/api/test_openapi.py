"""The OpenAPI document describes every API route, schema and error; the docs page is offline."""

from __future__ import annotations

import re

from moderation.api.schemas import ID_PATTERN, SOURCE_TYPES
from moderation.intake import taxonomy


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def test_every_api_route_is_described(app, client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        assert path in doc["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][path], (path, method)


def test_errors_and_limits_are_documented(client):
    doc = client.get("/api/openapi.json").get_json()
    post = doc["paths"]["/api/v1/reports"]["post"]
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "429"} <= set(post["responses"])
    assert "Retry-After" in post["responses"]["429"]["headers"]
    assert "application/problem+json" in post["responses"]["422"]["content"]
    assert post["parameters"][0]["name"] == "Idempotency-Key"
    schemas = doc["components"]["schemas"]
    report = schemas["ReportIn"]
    assert report["additionalProperties"] is False
    assert report["properties"]["description"]["maxLength"] == 2000
    assert report["properties"]["category"]["enum"] == [c.key for c in taxonomy.categories()]
    assert schemas["ConversationIn"]["properties"]["messages"]["maxItems"] == 500
    assert schemas["MessageIn"]["properties"]["text"]["maxLength"] == 32000
    assert "errors" in schemas["Problem"]["properties"]
    for ref in _refs(doc):
        assert ref.rsplit("/", 1)[-1] in schemas, ref
    assert doc["components"]["securitySchemes"]["serviceToken"]["scheme"] == "bearer"


def test_every_operation_documents_throttling_auth_and_failure(client):
    doc = client.get("/api/openapi.json").get_json()
    operations = [op for ops in doc["paths"].values() for op in ops.values()]
    assert len(operations) == 9
    for op in operations:
        responses = op["responses"]
        assert "Retry-After" in responses["429"]["headers"], op["operationId"]
        assert "WWW-Authenticate" in responses["401"]["headers"], op["operationId"]
        assert "application/problem+json" in responses["500"]["content"], op["operationId"]


def test_the_conversation_put_is_documented(client):
    doc = client.get("/api/openapi.json").get_json()
    put = doc["paths"]["/api/v1/conversations/{conversation_id}"]["put"]
    assert put["security"] == [{"serviceToken": ["conversations:write"]}]
    expected = {"200", "201", "400", "401", "403", "404", "413", "415", "422", "429", "500"}
    assert set(put["responses"]) == expected
    assert put["parameters"][0]["schema"]["pattern"] == ID_PATTERN
    schemas = doc["components"]["schemas"]
    body = schemas["ConversationBody"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ConversationBody"
    )
    assert body["additionalProperties"] is False and "id" not in body["properties"]
    assert body["properties"]["messages"]["maxItems"] == 500
    assert set(schemas["ConversationReceipt"]["properties"]) == {
        "id",
        "reference",
        "message_count",
        "updated_at",
    }


def test_source_types_match_the_taxonomy():
    assert SOURCE_TYPES.__args__ == taxonomy.SOURCES


def test_docs_page_renders_the_document_offline(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "POST /api/v1/reports" in html and "GET /api/v1/reports/{ref}" in html
    assert "PUT /api/v1/conversations/{conversation_id}" in html
    assert "Idempotency-Key" in html and "ReportIn" in html
    # No CDN, no inline script: nothing outside this origin is loaded.
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]


def test_the_docs_page_shows_a_curl_line_per_route_and_no_literal_markdown(client):
    doc = client.get("/api/openapi.json").get_json()
    page = client.get("/api/docs").get_data(as_text=True)
    operations = [op for ops in doc["paths"].values() for op in ops.values()]
    assert page.count('<pre class="curl">') == len(operations)
    assert "curl -X POST &#39;http://localhost/api/v1/reports&#39;" in page
    assert "Authorization: Bearer $VIGIL_TOKEN" in page
    assert "`" not in page.split("<h2>Schemas</h2>")[0]
    assert "<code>flask --app app tokens create" in page
