"""Two API hosts and one worker that share no filesystem: each has its own data directory, and they share only
Redis (jobs), PostgreSQL (collections, documents, staged uploads) and Milvus (indexes). Ingest through host A, build
on the worker, search through host B; kill the worker mid-build and the alias still serves the previous version."""
from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.redis_db import reset_run_redis
from tests.service_processes import (
    API_KEY,
    free_port,
    milvus_lite_server,
    postgres_database,
    start_api,
    start_worker,
    stop,
    wait_for_job,
)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    reset_run_redis()
    with milvus_lite_server(tmp_path_factory.mktemp("milvus")) as milvus_uri, postgres_database() as database_url:
        shared = {"SIFTRAG_INDEX_BACKEND": "milvus", "SIFTRAG_MILVUS_URI": milvus_uri,
                  "SIFTRAG_DATABASE_URL": database_url}
        worker = start_worker(tmp_path_factory.mktemp("worker-host"), concurrency=1, **shared)
        ports = free_port(), free_port()
        apis = [start_api(tmp_path_factory.mktemp(f"api-host-{i}"), port, **shared) for i, port in enumerate(ports)]
        clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}, timeout=60)
                   for port in ports]
        state = {"a": clients[0], "b": clients[1], "worker": worker, "milvus_uri": milvus_uri}
        yield state
        for client in clients:
            client.close()
        for api in apis:
            stop(api)
        stop(state["worker"])


def _search(client: httpx.Client, query: str) -> list[tuple[str, float]]:
    response = client.post("/v1/search", json={"collection": "shared", "query": query, "top_k": 5})
    assert response.status_code == 200, response.text
    return [(hit["id"], round(hit["score"], 4)) for hit in response.json()["results"][0]["documents"]]


def _build(client: httpx.Client) -> dict:
    response = client.post("/v1/collections/shared/indexes/bm25:build")
    assert response.status_code == 202, response.text
    return response.json()


def test_ingest_on_a_build_on_the_worker_search_on_b(hosts: dict) -> None:
    a, b = hosts["a"], hosts["b"]
    assert a.post("/v1/collections", json={"name": "shared"}).status_code == 201
    assert "shared" in b.get("/v1/collections").json()["collections"]
    documents = [{"id": f"d{i}", "text": f"passage {i} about {['apples', 'rivers', 'stars'][i % 3]}"}
                 for i in range(300)]
    job = wait_for_job(a, a.post("/v1/collections/shared/documents", json=documents).json()["id"])
    assert job["state"] == "succeeded" and job["result"]["upserted"] == 300, job
    job = wait_for_job(b, _build(a)["id"])  # host B follows the job host A submitted
    assert job["state"] == "succeeded", job
    on_a, on_b = _search(a, "rivers passage 7"), _search(b, "rivers passage 7")
    assert on_b == on_a and on_b[0][0] == "d7"
    assert b.get("/v1/collections/shared").json()["documents"] == 300
    ready = b.get("/readyz").json()
    assert ready["ready"] and ready["checks"]["postgres"] is True and ready["checks"]["milvus"] is True
    assert ready["checks"]["indexes"]["shared/bm25"]


def test_a_killed_worker_leaves_the_alias_on_the_previous_version(hosts: dict, tmp_path: Path) -> None:
    from pymilvus import MilvusClient

    a, b = hosts["a"], hosts["b"]
    live = b.get("/v1/collections/shared").json()["indexes"]["bm25"]["live_version"]
    before = _search(b, "stars passage 11")
    for start in range(0, 30_000, 10_000):  # a request holds at most 10,000 documents
        more = [{"id": f"x{i}", "text": f"stars passage {i} extra"} for i in range(start, start + 10_000)]
        job = wait_for_job(a, a.post("/v1/collections/shared/documents", json=more).json()["id"])
        assert job["state"] == "succeeded", job
    milvus = MilvusClient(uri=hosts["milvus_uri"])
    physical = set(milvus.list_collections())
    _build(a)
    deadline = time.time() + 120
    while not set(milvus.list_collections()) - physical:  # the new version's collection is being filled
        assert time.time() < deadline, "the build never created its Milvus collection"
        time.sleep(0.02)
    stop(hosts["worker"], signal.SIGKILL)
    assert b.get("/v1/collections/shared").json()["indexes"]["bm25"]["live_version"] == live
    assert _search(b, "stars passage 11") == before == _search(a, "stars passage 11")
