"""The API on the embedded default (no Redis): jobs run in-process; bad input gets 4xx with a message."""
from __future__ import annotations

import time

import httpx
import pytest

from api.app import create_app


@pytest.fixture(scope="module")
def client(built_slice):
    transport = httpx.ASGITransport(app=create_app(), client=("127.0.0.1", 5000))
    import asyncio

    class SyncClient:
        """httpx against the ASGI app (in-process, the loopback client of the embedded default)."""

        def __init__(self) -> None:
            self.loop = asyncio.new_event_loop()
            self.inner = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")

        def request(self, method: str, url: str, **kwargs) -> httpx.Response:
            return self.loop.run_until_complete(self.inner.request(method, url, **kwargs))

        def get(self, url: str, **kwargs) -> httpx.Response:
            return self.request("GET", url, **kwargs)

        def post(self, url: str, **kwargs) -> httpx.Response:
            return self.request("POST", url, **kwargs)

        def delete(self, url: str, **kwargs) -> httpx.Response:
            return self.request("DELETE", url, **kwargs)

    sync = SyncClient()
    yield sync
    sync.loop.run_until_complete(sync.inner.aclose())
    sync.loop.close()


def _wait(client, job_id: str) -> dict:
    deadline = time.time() + 300
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise AssertionError("job did not finish")


def test_embedded_jobs_ingest_build_search(client) -> None:
    assert client.post("/v1/collections", json={"name": "emb"}).status_code == 201
    docs = [{"id": "a", "text": "Mitochondria produce ATP.", "meta": {"lang": "en"}},
            {"id": "b", "text": "Ribosomes synthesize proteins.", "title": "Ribosome", "meta": {"lang": "de"}}]
    job = _wait(client, client.post("/v1/collections/emb/documents", json=docs).json()["id"])
    assert job["state"] == "succeeded" and job["result"]["upserted"] == 2
    job = _wait(client, client.post("/v1/collections/emb/indexes/bm25:build", json={}).json()["id"])
    assert job["state"] == "succeeded"
    body = client.post("/v1/search", json={"collection": "emb", "queries": ["ATP", "proteins"], "top_k": 3}).json()
    assert [r["documents"][0]["id"] for r in body["results"]] == ["a", "b"]
    filtered = client.post("/v1/search", json={"collection": "emb", "query": "proteins ATP",
                                               "filters": {"field": "meta.lang", "operator": "==", "value": "en"}})
    assert [d["id"] for d in filtered.json()["results"][0]["documents"]] == ["a"]
    job = _wait(client, client.request("DELETE", "/v1/collections/emb/documents", json={"ids": ["a"]}).json()["id"])
    assert job["result"]["deleted"] == 1
    assert client.post("/v1/search", json={"collection": "emb", "query": "ATP"}).json()["results"][0]["documents"] == []
    assert any(j["type"] == "ingest" for j in client.get("/v1/jobs").json()["jobs"])
    assert client.delete("/v1/collections/emb").status_code == 204
    assert client.get("/v1/collections/emb").status_code == 404


def test_rerank_inline_and_from_collection(client) -> None:
    inline = client.post("/v1/rerank", json={"query": "how do cells make energy", "top_k": 2, "documents": [
        {"id": "1", "content": "The stock market fell today."},
        {"id": "2", "content": "Mitochondria generate ATP, the energy currency of cells."}]})
    assert inline.status_code == 200, inline.text
    assert inline.json()["documents"][0]["id"] == "2"
    assert inline.json()["meta"]["forward_passes"] >= 1
    candidates = client.post("/v1/rerank", json={"query": "cancer risk in patients", "collection": "slice", "candidates": 20,
                                                 "top_k": 5}).json()
    assert len(candidates["documents"]) == 5 and "retrieve" in candidates["timings_ms"]


def test_search_then_rerank_with_icr(client) -> None:
    response = client.post("/v1/search", json={"collection": "slice", "query": "cancer risk in patients",
                                               "rerank": "icr", "candidates": 8, "top_k": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["results"][0]["documents"]) == 3
    assert body["rerank"]["meta"][0]["forward_passes"] == 3 and "rerank" in body["timings_ms"]


@pytest.mark.parametrize("method, url, kwargs, status, message", [
    ("post", "/v1/search", {"json": {"collection": "slice", "query": "x", "rerank": "oracle"}}, 422, "Unknown rerank"),
    ("post", "/v1/rerank", {"json": {"query": "x", "documents": []}}, 422, "No candidate"),
    ("post", "/v1/search", {"json": {"collection": "slice", "query": ""}}, 422, "non-empty"),
    ("post", "/v1/search", {"json": {"collection": "slice"}}, 422, "exactly one of"),
    ("post", "/v1/search", {"json": {"collection": "slice", "query": "x", "top_k": 5000}}, 422, "top_k"),
    ("post", "/v1/search", {"json": {"collection": "slice", "query": "x", "retriever": "splade"}}, 422, "retriever"),
    ("post", "/v1/search", {"json": {"collection": "slice", "query": "x" * 5000}}, 413, "characters"),
    ("post", "/v1/search", {"json": {"collection": "slice", "queries": ["x"] * 300}}, 413, "batch limit"),
    ("post", "/v1/search", {"json": {"collection": "ghost", "query": "x"}}, 404, "does not exist"),
    ("post", "/v1/search", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}, 422, "JSON"),
    ("post", "/v1/collections", {"json": {"name": "Bad Name!"}}, 422, "name"),
    ("post", "/v1/collections/slice/indexes/sparse:build", {}, 404, "Unknown index kind"),
    ("post", "/v1/collections/ghost/indexes/bm25:build", {}, 404, "does not exist"),
    ("post", "/v1/collections/slice/documents", {"content": b'{"id": "1", "text": "ok"}\n{broken',
                                                  "headers": {"Content-Type": "application/x-ndjson"}}, 422, "line 2"),
    ("post", "/v1/collections/slice/documents", {"json": [{"id": "1", "text": ""}]}, 422, "non-empty"),
    ("post", "/v1/collections/slice/documents", {"json": []}, 422, "No documents"),
    ("get", "/v1/jobs/nope", {}, 404, "does not exist"),
    ("post", "/v1/rerank", {"json": {"query": "x", "method": "magic", "documents": [{"id": "1", "content": "y"}]}}, 422,
     "Unknown rerank"),
    ("post", "/v1/evaluations", {"json": {"dataset": "/no/such"}}, 404, "does not exist"),
    ("post", "/v1/rerank", {"json": {"query": "x", "method": "tilde", "model": "smollm2-135m-instruct",  # an LLM
                                     "documents": [{"id": "1", "content": "y"}]}}, 422, "model"),  # for a non-LLM method
])
def test_bad_requests_get_a_message(client, method, url, kwargs, status, message) -> None:
    response = getattr(client, method)(url, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_admin_routes_refuse_remote_clients_without_keys(built_slice) -> None:
    import asyncio

    transport = httpx.ASGITransport(app=create_app(), client=("203.0.113.9", 5000))

    async def attempt() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as remote:
            return await remote.post("/v1/collections", json={"name": "remote"})

    response = asyncio.run(attempt())
    assert response.status_code == 401 and "loopback" in response.json()["detail"]


def test_openapi_schema_lists_routes(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/rerank", "/v1/jobs/{job_id}", "/v1/collections/{name}/indexes/{kind}:build"} <= set(paths)
