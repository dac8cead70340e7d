"""Small API contract fixes (issue 41, low items): a 405's Allow header lists the path's methods, counts and flags
take JSON integers and booleans only, and DELETE /v1/jobs/{id} says that it cancels."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(), base_url="http://localhost")


@pytest.mark.parametrize("path, allow", [("/v1/search", "POST"), ("/v1/jobs/some-id", "DELETE, GET"),
                                         ("/v1/collections", "GET, POST"), ("/healthz", "GET"), ("/rerank", "POST")])
def test_405_lists_the_allowed_methods(client: TestClient, path: str, allow: str) -> None:
    response = client.put(path, json={})
    assert response.status_code == 405 and response.headers["allow"] == allow


@pytest.mark.parametrize("path, body", [
    ("/v1/search", {"collection": "c", "query": "q", "top_k": True}),
    ("/v1/rerank", {"query": "q", "documents": [{"id": "1", "content": "x"}], "top_k": True}),
    ("/v1/answer", {"collection": "c", "question": "q", "top_k": False}),
    ("/v1/chat/completions", {"model": "smollm2-135m-instruct", "messages": [{"role": "user", "content": "q"}],
                              "top_k": False}),
    ("/rerank", {"query": "q", "texts": ["x"], "return_text": 0}),
    ("/rerank", {"query": "q", "texts": ["x"], "truncate": 1}),
    ("/v2/rerank", {"model": "tilde", "query": "q", "documents": ["x"], "return_documents": 1}),
    ("/v2/rerank", {"model": "tilde", "query": "q", "documents": ["x"], "top_n": True}),
    ("/v1/rerank", {"query": "q", "documents": [{"id": "1", "content": "x"}], "passage_words": True}),
    ("/v1/rerank", {"query": "q", "documents": [{"id": "1", "content": "x", "first_stage_score": False}]}),
    ("/v1/rerank", {"query": "q", "documents": [{"id": "1", "content": "x", "first_stage_rank": True}]}),
])
def test_counts_and_flags_are_strict(client: TestClient, path: str, body: dict) -> None:
    response = client.post(path, json=body)
    assert response.status_code == 422, response.text
    fields = ("top_k", "return_text", "truncate", "return_documents", "top_n", "passage_words")
    field = next((k for k in fields if k in body), "first_stage")
    assert field in response.text


def test_delete_job_is_documented_as_a_cancel(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/jobs/{job_id}"]["delete"]
    assert operation["summary"] == "Cancel Job"
    assert "does not delete" in operation["description"] and "GET" in operation["description"]
