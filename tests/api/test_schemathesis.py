"""Property-based requests generated from the OpenAPI schema never get a 5xx."""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app())


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, built_slice) -> None:
    response = case.call(timeout=300)  # the first LLM rerank loads (and may convert) the model
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
