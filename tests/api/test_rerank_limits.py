"""/v2/rerank (Cohere) and /rerank (TEI) check the document count and sizes before anything is tokenized: over a
limit is a 413 naming it, never minutes of tokenizing (issue 41, item 5)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from core.settings import get_settings

ROUTES = [("/v2/rerank", "documents", "message", {"model": "embedding"}), ("/rerank", "texts", "error", {})]


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIFTRAG_MAX_RERANK_CHARS", "1000")
    get_settings.cache_clear()
    yield TestClient(create_app(), base_url="http://localhost")
    monkeypatch.delenv("SIFTRAG_MAX_RERANK_CHARS")
    get_settings.cache_clear()


@pytest.mark.parametrize("path, field, key, extra", ROUTES)
def test_too_many_documents_is_413_naming_the_limit(client: TestClient, path: str, field: str, key: str,
                                                    extra: dict) -> None:
    limit = get_settings().max_rerank_texts  # Cohere's 1,000 (ours: max_rerank_documents, 200)
    response = client.post(path, json={"query": "q", field: ["a b"] * (limit + 1), **extra})
    assert response.status_code == 413
    assert response.json()[key] == f"{limit + 1} documents exceed the limit of {limit} per request (max_rerank_texts)."


@pytest.mark.parametrize("path, field, key, extra", ROUTES)
def test_a_document_over_the_length_limit_is_413(client: TestClient, path: str, field: str, key: str,
                                                 extra: dict) -> None:
    limit = get_settings().max_document_chars
    response = client.post(path, json={"query": "q", field: ["short", "x" * (limit + 1)], **extra})
    assert response.status_code == 413
    assert response.json()[key] == (f"{field}.1: {limit + 1} characters exceed the limit of {limit} per document "
                                    "(max_document_chars).")


@pytest.mark.parametrize("path, field, key, extra", ROUTES)
def test_documents_over_the_total_limit_are_413(client: TestClient, path: str, field: str, key: str,
                                                extra: dict) -> None:
    response = client.post(path, json={"query": "q", field: ["word " * 120, "word " * 120], **extra})
    assert response.status_code == 413
    assert response.json()[key] == f"{field}: 1200 characters in all exceed the limit of 1000 per rerank request " \
                                   "(max_rerank_chars)."
    within = client.post(path, json={"query": "word", field: ["word " * 90, "other " * 70], **extra})
    assert within.status_code == 200, within.text


def test_the_schema_publishes_the_document_limits(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["CohereRerankRequest"]["properties"]["documents"]["maxItems"] == 1000
    texts = schemas["TeiRerankRequest"]["properties"]["texts"]
    assert texts["maxItems"] == 1000 and texts["items"]["maxLength"] == get_settings().max_document_chars


def test_v1_rerank_refuses_candidates_over_the_limit_even_with_inline_documents(client: TestClient) -> None:
    """The schema's maximum holds whatever source the candidates come from (a schemathesis ST201 case)."""
    limit = get_settings().max_rerank_documents
    body = {"query": "q", "documents": [{"id": "a", "content": "a b"}], "candidates": limit + 1}
    response = client.post("/v1/rerank", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == f"candidates: {limit + 1} exceeds the rerank limit of {limit}."
    assert client.post("/v1/rerank", json={**body, "candidates": limit}).status_code == 200
