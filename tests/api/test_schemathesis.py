"""Property-based requests generated from the OpenAPI schema: no 5xx, and every response conforms to the schema
(status codes, content types, bodies, headers, methods). All of schemathesis' checks run except
``positive_data_acceptance``: cross-field rules (candidates ≥ top_k when reranking, options per compressor, one of
query/queries) are not all expressible in JSON Schema, so a schema-valid body may still be a 422 with a sentence."""
from __future__ import annotations

import json
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from core.settings import get_settings


def _app_for_schemathesis():
    """The app, serving the Host that schemathesis' ASGI client sends ("testserver") besides loopback names."""
    os.environ["SIFTRAG_ALLOWED_HOSTS"] = '["testserver", "localhost", "127.0.0.1"]'
    get_settings.cache_clear()
    try:
        return create_app()
    finally:
        del os.environ["SIFTRAG_ALLOWED_HOSTS"]
        get_settings.cache_clear()


schema = schemathesis.openapi.from_asgi("/openapi.json", _app_for_schemathesis())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_responses_conform_to_the_schema(case, built_slice) -> None:
    case.call_and_validate(timeout=300, excluded_checks=[positive_data_acceptance])  # first LLM call loads the model


ADMIN_KEY = "schemathesis-admin-key"


@pytest.fixture
def admin_key_required(monkeypatch: pytest.MonkeyPatch):
    """Keys configured and query routes protected, so that every route checks the key the cases send."""
    monkeypatch.setenv("SIFTRAG_API_KEYS", json.dumps([ADMIN_KEY]))
    monkeypatch.setenv("SIFTRAG_PROTECT_QUERIES", "true")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_responses_conform_with_an_admin_key(case, built_slice, admin_key_required) -> None:
    """The same checks past authentication: an admin key reaches every route (the keyless run above meets 401s
    on the admin routes whenever keys are configured)."""
    response = case.call_and_validate(headers={"X-API-Key": ADMIN_KEY}, timeout=300,
                                      excluded_checks=[positive_data_acceptance])
    assert response.status_code != 401, response.text
