"""Safe to expose: cross-site and foreign-host requests, request-named models, loop-blocking searches, scoped
keys, and malformed input that used to end in a 500 — each against the real app over its ASGI interface."""
from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import get_settings
from tests.conftest import REPO

ADMIN, READ_A, WRITE_A = "admin-key-0001", "tenant-a-reader", "tenant-a-writer"
SCOPED_KEYS = json.dumps([ADMIN, {"key": READ_A, "role": "read", "collections": ["tenant-a-*"]},
                          {"key": WRITE_A, "role": "write", "collections": ["tenant-a-*"]}])


class Client:
    """httpx over the ASGI app on one event loop (so concurrent requests share it, as under uvicorn)."""

    def __init__(self, client_host: str = "127.0.0.1", base_url: str = "http://127.0.0.1") -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=create_app(), client=(client_host, 5000))
        self.inner = httpx.AsyncClient(transport=transport, base_url=base_url, timeout=120)

    def request(self, method: str, url: str, **kwargs) -> httpx.Response:
        return self.loop.run_until_complete(self.inner.request(method, url, **kwargs))

    def close(self) -> None:
        self.loop.run_until_complete(self.inner.aclose())
        self.loop.close()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set SIFTRAG_* variables for one test; the cached settings are rebuilt before and after."""
    get_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def client(built_slice) -> Iterator[Client]:
    client = Client()
    yield client
    client.close()


def _wait(client: Client, job_id: str, **kwargs) -> dict:
    deadline = time.time() + 120
    while time.time() < deadline:
        job = client.request("GET", f"/v1/jobs/{job_id}", **kwargs).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


# 1. cross-site requests and foreign hosts
@pytest.mark.parametrize("kwargs, status, message", [
    ({"content": b'[{"id": "x", "text": "planted"}]', "headers": {"Content-Type": "text/plain"}}, 415, "JSON"),
    ({"content": b"id=x&text=planted", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415,
     "JSON"),
    ({"json": [{"id": "x", "text": "planted"}], "headers": {"Origin": "http://evil.example"}}, 403, "origin"),
    ({"json": [{"id": "x", "text": "planted"}], "headers": {"Origin": "null"}}, 403, "origin"),
    ({"json": [{"id": "x", "text": "planted"}], "headers": {"Sec-Fetch-Site": "cross-site"}}, 403, "Cross-site"),
    ({"json": [{"id": "x", "text": "planted"}], "headers": {"Sec-Fetch-Site": "same-site"}}, 403, "Cross-site"),
])
def test_cross_site_writes_are_refused(client, kwargs, status, message) -> None:
    response = client.request("POST", "/v1/collections/slice/documents", **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_a_form_post_cannot_start_a_build_but_a_same_origin_json_post_can(client) -> None:
    form = client.request("POST", "/v1/collections/slice/indexes/bm25:build",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    own = client.request("POST", "/v1/collections", json={"name": "same-origin"},
                         headers={"Origin": "http://127.0.0.1", "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 201, own.text
    assert client.request("DELETE", "/v1/collections/same-origin").status_code == 204


def test_foreign_host_headers_are_refused_and_allowed_hosts_configurable(built_slice, settings_env) -> None:
    rebound = Client(base_url="http://attacker.example")
    assert rebound.request("GET", "/v1/collections").status_code == 400
    rebound.close()
    settings_env.setenv("SIFTRAG_ALLOWED_HOSTS", '["search.internal"]')
    get_settings.cache_clear()
    named = Client(base_url="http://search.internal")
    assert named.request("GET", "/v1/collections").status_code == 200
    named.close()


# 2. model names from requests
@pytest.mark.parametrize("model", ["/etc/shadow", "/etc", "../../models", "HuggingFaceTB/SmolLM2-360M-Instruct"])
def test_requests_cannot_name_paths_or_hub_models(client, model) -> None:
    for url, body in [("/v1/rerank", {"query": "x", "documents": [{"id": "1", "content": "y"}], "model": model}),
                      ("/v1/answer", {"collection": "slice", "question": "x", "model": model})]:
        response = client.request("POST", url, json=body)
        assert response.status_code == 422, response.text
        assert "SIFTRAG_ALLOWED_MODELS" in response.json()["detail"] and "is a file" not in response.text


def test_operators_allow_list_lets_requests_name_a_model(settings_env) -> None:
    from pydantic import ValidationError

    from api.schemas import RerankRequest

    body = {"query": "x", "documents": [{"id": "1", "content": "y"}], "method": "icr",
            "model": "HuggingFaceTB/SmolLM2-360M-Instruct"}
    with pytest.raises(ValidationError):
        RerankRequest.model_validate(body)
    settings_env.setenv("SIFTRAG_ALLOWED_MODELS", '["HuggingFaceTB/SmolLM2-360M-Instruct"]')
    get_settings.cache_clear()
    assert RerankRequest.model_validate(body).model == "HuggingFaceTB/SmolLM2-360M-Instruct"


# 3. one request must not freeze the server
def test_oversized_search_is_413_with_the_limit(client) -> None:
    response = client.request("POST", "/v1/search", json={"collection": "slice", "queries": ["cancer"] * 256,
                                                          "top_k": 1000})
    assert response.status_code == 413 and str(get_settings().max_search_results) in response.json()["detail"]


def test_values_over_a_published_maximum_are_422_and_explicit_nulls_are_accepted(client) -> None:
    over = get_settings().max_rerank_documents + 1
    for path, body in (("/v1/search", {"collection": "slice", "query": "cancer", "rerank": "embedding",
                                       "candidates": over}),
                       ("/v1/rerank", {"collection": "slice", "query": "cancer", "method": "embedding",
                                       "candidates": over})):
        response = client.request("POST", path, json=body)
        assert response.status_code == 422 and "rerank limit" in response.json()["detail"], response.text
    for path, body in (("/v1/search", {"collection": "slice", "query": "cancer", "deadline_ms": None}),
                       ("/v1/rerank", {"collection": "slice", "query": "cancer", "method": "embedding",
                                       "deadline_ms": None, "top_k": 2})):
        assert client.request("POST", path, json=body).status_code == 200
    for field in ("passage_words", "translator"):
        response = client.request("POST", "/v1/answer", json={"collection": "nowhere", "question": "q", field: None})
        assert response.status_code == 404, response.text  # validated (null = the default), then the lookup


def test_healthz_answers_fast_while_a_maximal_search_runs(client) -> None:
    limit = get_settings().max_search_results
    queries = [f"cell protein cancer risk {i}" for i in range(limit // 100)]  # queries × top_k 100 = the limit

    async def scenario() -> tuple[list[float], int, int]:
        search = asyncio.ensure_future(client.inner.post("/v1/search", json={
            "collection": "slice", "queries": queries, "top_k": 100}))
        await asyncio.sleep(0.05)
        probes = []
        while not search.done():
            began = time.perf_counter()
            assert (await client.inner.get("/healthz")).status_code == 200
            probes.append(time.perf_counter() - began)
            await asyncio.sleep(0.02)
        response = await search
        return probes, len(response.content), response.status_code

    probes, size, status = client.loop.run_until_complete(scenario())
    assert status == 200 and size > 1_000_000
    assert len(probes) >= 3, "the search held the event loop: /healthz could not even be asked while it ran"
    assert max(probes) < 0.2, f"/healthz took {max(probes) * 1000:.0f} ms while the search ran"


# 4. evaluations never replace a collection they did not make
def test_evaluation_refuses_a_collection_it_did_not_create(client, tmp_path: Path) -> None:
    folder = tmp_path / "tenant-data"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "one document"}) + "\n")
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "document"}) + "\n")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert client.request("POST", "/v1/collections", json={"name": "beir-tenant-data"}).status_code == 201
    job = _wait(client, client.request("POST", "/v1/collections/beir-tenant-data/documents",
                                       json=[{"id": "mine", "text": "my own data"}]).json()["id"])
    assert job["state"] == "succeeded"
    response = client.request("POST", "/v1/evaluations", json={"dataset": str(folder)})
    assert response.status_code == 409 and "never replaces" in response.json()["detail"]
    assert client.request("GET", "/v1/collections/beir-tenant-data").json()["documents"] == 1
    assert client.request("DELETE", "/v1/collections/beir-tenant-data").status_code == 204


# 5. a delete fences a running build
def test_a_build_running_when_its_collection_is_deleted_publishes_nothing(data_dir) -> None:
    from haystack import Document

    from core.errors import ConflictError
    from indexes.retriever import collection_manager

    manager = collection_manager()
    texts = [f"fenced build document {i} about topic {i * 7}" for i in range(40)]
    manager.create("fenced").store.upsert([Document(id=str(i), content=t) for i, t in enumerate(texts)])

    def delete_and_recreate(done: int, total: int | None = None) -> None:
        if manager.names().count("fenced") and manager.get("fenced").store.count():
            manager.delete("fenced")
            manager.create("fenced")

    with pytest.raises(ConflictError, match="deleted during"):
        manager.get("fenced").build("dense", progress=delete_and_recreate)
    reborn = manager.get("fenced")
    assert reborn.store.count() == 0 and reborn.status()["indexes"]["dense"]["live_version"] is None
    manager.delete("fenced")


# 6 and 11. embedded jobs never stay queued forever
def test_embedded_runner_fails_jobs_left_queued_by_a_dead_process_and_at_shutdown(tmp_path: Path) -> None:
    import socket

    from workers.job_store import SqliteJobStore
    from workers.runner import EmbeddedRunner

    store = SqliteJobStore(tmp_path / "jobs.sqlite")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    orphan = store.create("build", {"collection": "x", "kind": "bm25"}, runner=f"embedded:{socket.gethostname()}:{gone.pid}")
    runner = EmbeddedRunner(store)
    job = store.get(orphan.id)
    assert job.state.value == "failed" and "stopped before it ran" in job.error
    pending = store.create("build", {"collection": "x", "kind": "bm25"}, runner=runner.runner_id)
    runner.shutdown()
    job = store.get(pending.id)
    assert job.state.value == "failed" and "shut down" in job.error


# 7, 8 and 15. malformed input gets a 4xx with a sentence
@pytest.mark.parametrize("url, kwargs, status, message", [
    ("/v1/search", {"json": {"collection": "slice", "query": "cancer",
                             "filters": {"field": "meta.title", "operator": "$regex", "value": ".*"}}}, 422, "operator"),
    ("/v1/search", {"json": {"collection": "slice", "query": "cancer",
                             "filters": {"field": "meta.title", "operator": "in", "value": "abc"}}}, 422, "list"),
    ("/v1/search", {"json": {"collection": "slice", "query": "cancer",
                             "filters": {"field": "meta.title", "operator": ">", "value": "abc"}}}, 422, "compare"),
    ("/v1/search", {"json": {"collection": "slice", "queries": []}}, 422, "queries"),
    ("/v1/search", {"json": {"collection": "slice", "query": "x", "rerank": "icr", "candidates": 5000}}, 422,
     "candidates: 5000"),
    ("/v1/collections/slice/documents", {"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}},
     422, "nested too deeply"),
    ("/v1/collections/slice/documents", {"content": b'[{"id": "nan-doc", "text": "x", "meta": {"v": NaN}}]',
                                         "headers": {"Content-Type": "application/json"}}, 422, "nan-doc"),
    ("/v1/collections/slice/documents", {"content": b'[{"id": "inf-doc", "text": "x", "meta": {"v": [1, Infinity]}}]',
                                         "headers": {"Content-Type": "application/json"}}, 422, "NaN or Infinity"),
])
def test_malformed_requests_are_4xx_with_a_sentence(client, url, kwargs, status, message) -> None:
    response = client.request("POST", url, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_deeply_nested_filters_are_422(client) -> None:
    condition: dict = {"field": "meta.title", "operator": "==", "value": "x"}
    for _ in range(300):
        condition = {"operator": "NOT", "conditions": [condition]}
    response = client.request("POST", "/v1/search", json={"collection": "slice", "query": "x", "filters": condition})
    assert response.status_code == 422 and "levels deep" in response.json()["detail"]


def test_non_ascii_api_key_is_401_not_500(built_slice, settings_env) -> None:
    for keys in ("[]", SCOPED_KEYS):
        settings_env.setenv("SIFTRAG_API_KEYS", keys)
        get_settings.cache_clear()
        client = Client()
        response = client.request("GET", "/v1/collections", headers={"X-API-Key": "ключ".encode()})
        assert response.status_code == 401 and "matches no configured key" in response.json()["detail"]
        client.close()


# 9. keys with roles and collection scopes
def test_scoped_keys_are_enforced_on_every_route(built_slice, settings_env) -> None:
    settings_env.setenv("SIFTRAG_API_KEYS", SCOPED_KEYS)
    settings_env.setenv("SIFTRAG_PROTECT_QUERIES", "true")
    get_settings.cache_clear()
    client = Client(client_host="203.0.113.9")
    admin, reader, writer = ({"X-API-Key": key} for key in (ADMIN, READ_A, WRITE_A))

    def status(method: str, url: str, headers: dict, **kwargs) -> int:
        return client.request(method, url, headers=headers, **kwargs).status_code

    assert status("POST", "/v1/collections", reader, json={"name": "tenant-a-docs"}) == 403
    assert status("POST", "/v1/collections", writer, json={"name": "tenant-b-docs"}) == 403
    assert status("POST", "/v1/collections", writer, json={"name": "tenant-a-docs"}) == 201
    assert status("POST", "/v1/collections", admin, json={"name": "tenant-b-docs"}) == 201
    job = client.request("POST", "/v1/collections/tenant-a-docs/documents", headers=writer,
                         json=[{"id": "1", "text": "tenant a knows mitochondria"}]).json()
    assert _wait(client, job["id"], headers=writer)["state"] == "succeeded"
    assert status("POST", "/v1/collections/tenant-a-docs/indexes/bm25:build", reader) == 403
    build = client.request("POST", "/v1/collections/tenant-a-docs/indexes/bm25:build", headers=writer).json()
    assert _wait(client, build["id"], headers=writer)["state"] == "succeeded"
    search = {"collection": "tenant-a-docs", "query": "mitochondria"}
    assert status("POST", "/v1/search", {}, json=search) == 401
    assert status("POST", "/v1/search", reader, json=search) == 200
    assert status("POST", "/v1/search", reader, json={**search, "collection": "tenant-b-docs"}) == 403
    assert status("POST", "/v1/answer", reader, json={"collection": "tenant-b-docs", "question": "x"}) == 403
    assert client.request("GET", "/v1/collections", headers=reader).json()["collections"] == ["tenant-a-docs"]
    assert status("GET", "/v1/collections/tenant-b-docs", reader) == 403
    assert status("DELETE", "/v1/collections/tenant-a-docs", writer) == 403
    assert status("GET", "/v1/jobs", reader) == 403
    seen = client.request("GET", "/v1/jobs", headers=writer).json()["jobs"]
    assert seen and {j["params"]["collection"] for j in seen} == {"tenant-a-docs"}
    assert all("upload" not in j["params"] and j["runner"] is None for j in seen)
    assert status("GET", f"/v1/jobs/{job['id']}", admin) == 200
    assert status("POST", "/v1/evaluations", writer, json={"dataset": "/tmp"}) == 403
    assert status("GET", "/metrics", {}) == 401 and status("GET", "/metrics", reader) == 403
    assert status("GET", "/metrics", admin) == 200
    assert client.request("GET", "/readyz").json().keys() == {"ready"}
    assert "checks" in client.request("GET", "/readyz", headers=admin).json()
    for name in ("tenant-a-docs", "tenant-b-docs"):
        assert status("DELETE", f"/v1/collections/{name}", admin) == 204
    client.close()


# 10. a crashed ingest leaves no staging file behind
def test_orphaned_upload_files_are_removed_on_start(data_dir, tmp_path: Path) -> None:
    import os

    from workers.job_store import SqliteJobStore
    from workers.runner import EmbeddedRunner
    from workers.upload_staging import new_upload_path

    store = SqliteJobStore(tmp_path / "jobs.sqlite")
    orphan, pending = new_upload_path(), new_upload_path()
    for path in (orphan, pending):
        path.write_text('{"id": "1", "text": "x"}\n')
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    store.create("ingest", {"collection": "x", "upload": str(pending)})
    EmbeddedRunner(store)
    assert not orphan.exists() and pending.exists()
    pending.unlink()


def test_ingest_lands_in_one_transaction(client) -> None:
    assert client.request("POST", "/v1/collections", json={"name": "one-tx"}).status_code == 201
    before = client.request("GET", "/v1/collections/one-tx").json()["revision"]
    job = _wait(client, client.request("POST", "/v1/collections/one-tx/documents",
                                       json=[{"id": str(i), "text": f"doc {i}"} for i in range(1200)]).json()["id"])
    assert job["result"]["upserted"] == 1200 and job["result"]["revision"] == before + 1
    assert client.request("DELETE", "/v1/collections/one-tx").status_code == 204


# 12. body limits before the body is read
def test_bodies_over_the_limit_are_413_declared_or_chunked(built_slice, settings_env) -> None:
    settings_env.setenv("SIFTRAG_MAX_BODY_BYTES", "1000")
    settings_env.setenv("SIFTRAG_MAX_INGEST_BODY_BYTES", "1000")
    get_settings.cache_clear()
    client = Client()
    declared = client.request("POST", "/v1/search", content=b"{" + b" " * 2000 + b"}",
                              headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "1000 bytes" in declared.json()["detail"]

    async def chunks():
        for _ in range(10):
            yield b" " * 500

    chunked = client.request("POST", "/v1/collections/slice/documents", content=chunks(),
                             headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413 and "1000 bytes" in chunked.json()["detail"]
    client.close()


# 13. an empty key refuses to start
def test_serve_refuses_to_start_with_an_empty_key(data_dir) -> None:
    env = {"PATH": "/usr/bin:/bin", "SIFTRAG_DATA_DIR": str(data_dir), "SIFTRAG_API_KEYS": '[""]'}
    result = subprocess.run([sys.executable, str(REPO / "cli.py"), "serve", "--port", "8977"], env=env, check=False,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "empty key" in result.stderr and "Traceback" not in result.stderr


# 14. observability: request ids, access log, shed requests, deleted collections' gauges
def test_request_id_access_log_shed_count_and_gauges(client, caplog) -> None:
    from api.metrics import REQUESTS_SHED
    from api.observe import ObserveAndShed

    with caplog.at_level(logging.INFO, logger="siftrag.access"):
        response = client.request("GET", "/healthz", headers={"X-Request-ID": "trace-42"})
    assert response.headers["X-Request-ID"] == "trace-42"
    assert any("request_id=trace-42" in r.getMessage() and "/healthz 200" in r.getMessage() for r in caplog.records)
    assert len(client.request("GET", "/healthz", headers={"X-Request-ID": "bad id\n"}).headers["X-Request-ID"]) == 32

    shed_before = REQUESTS_SHED._value.get()
    full = ObserveAndShed(create_app(), max_in_flight=0)
    busy = asyncio.run(_get(full, "/healthz"))
    assert busy.status_code == 503 and REQUESTS_SHED._value.get() == shed_before + 1

    assert client.request("POST", "/v1/collections", json={"name": "gauged"}).status_code == 201
    assert 'collection="gauged"' in client.request("GET", "/metrics").text
    assert client.request("DELETE", "/v1/collections/gauged").status_code == 204
    assert 'collection="gauged"' not in client.request("GET", "/metrics").text


async def _get(app, url: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        return await client.get(url)
