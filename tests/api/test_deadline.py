"""``deadline_ms``: a rerank that cannot finish in time answers by the deadline with the first-stage order and
``partial: true``, and the abandoned work stops so the model serves the next request."""
from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

QUERY = "vitamin D deficiency and bone health"


@pytest.fixture(scope="module")
def client(built_slice):
    from api.app import create_app

    return TestClient(create_app(), base_url="http://localhost")


def test_first_on_100_candidates_answers_by_the_deadline_with_the_first_stage_order(client) -> None:
    warm = client.post("/v1/rerank", json={"query": QUERY, "method": "first", "collection": "slice",
                                           "candidates": 3, "top_k": 3})
    assert warm.status_code == 200 and warm.json()["partial"] is False
    bm25 = client.post("/v1/search", json={"collection": "slice", "query": QUERY, "top_k": 10}).json()
    began = time.perf_counter()
    late = client.post("/v1/rerank", json={"query": QUERY, "method": "first", "collection": "slice",
                                           "candidates": 100, "top_k": 10, "deadline_ms": 50})
    elapsed = time.perf_counter() - began
    assert late.status_code == 200 and late.json()["partial"] is True
    assert elapsed < 0.05 + 0.1, elapsed
    assert [d["id"] for d in late.json()["documents"]] == [d["id"] for d in bm25["results"][0]["documents"]]
    began = time.perf_counter()
    after = client.post("/v1/rerank", json={"query": QUERY, "method": "first", "collection": "slice",
                                            "candidates": 3, "top_k": 3})
    assert after.status_code == 200 and after.json()["partial"] is False
    assert time.perf_counter() - began < 30  # the abandoned windows stopped at their next forward pass


def test_search_with_rerank_falls_back_by_the_deadline_and_a_generous_one_reranks(client) -> None:
    body = {"collection": "slice", "query": QUERY, "top_k": 5, "rerank": "first", "candidates": 60}
    late = client.post("/v1/search", json=body | {"deadline_ms": 30}).json()
    assert late["rerank"]["partial"] is True
    plain = client.post("/v1/search", json={"collection": "slice", "query": QUERY, "top_k": 5}).json()
    assert [d["id"] for d in late["results"][0]["documents"]] == [d["id"] for d in plain["results"][0]["documents"]]
    relaxed = client.post("/v1/search", json=body | {"rerank": "tilde", "deadline_ms": 120_000}).json()
    assert relaxed["rerank"]["partial"] is False and len(relaxed["results"][0]["documents"]) == 5
    assert client.post("/v1/rerank", json={"query": "q", "documents": [{"id": "1", "content": "x"}],
                                           "deadline_ms": 0}).status_code == 422
