"""Property-based requests generated from the OpenAPI schema never get a 5xx."""
from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings

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
def test_no_server_errors(case, built_slice) -> None:
    response = case.call(timeout=300)  # the first LLM rerank loads (and may convert) the model
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
