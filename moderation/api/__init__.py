"""The JSON API for the chat backend: views, schemas, OpenAPI, idempotency."""
