"""Property-based requests generated from the OpenAPI schema: no 5xx, and every response conforms to the schema
(status codes, content types, bodies, headers, methods). All of schemathesis' checks run except
``positive_data_acceptance``: cross-field rules (candidates ≥ top_k when reranking, options per compressor, one of
query/queries) are not all expressible in JSON Schema, so a schema-valid body may still be a 422 with a sentence."""
from __future__ import annotations

import os

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
