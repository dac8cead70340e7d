"""A Celery evaluation whose chunks wait in the queue behind another job keeps its heartbeat (issue 41, item 11):
it is not reaped as failed after STALE_AFTER_S of queueing, and finishes once a worker takes its chunks."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.redis_db import reset_run_redis
from tests.service_processes import API_KEY, free_port, start_api, start_worker, stop, wait_for_job
from workers.job_model import STALE_AFTER_S


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """The API and a Celery worker that runs one task at a time."""
    data_dir = tmp_path_factory.mktemp("one-worker")
    reset_run_redis()
    worker = start_worker(data_dir, concurrency=1, SIFTRAG_EMBEDDING_BATCH_SIZE="8")
    port = free_port()
    api = start_api(data_dir, port)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": API_KEY}, timeout=60) as client:
        yield client
    stop(api)
    stop(worker)


def _job(client: httpx.Client, job_id: str) -> dict:
    return client.get(f"/v1/jobs/{job_id}").json()


def _wait_for(client: httpx.Client, job_id: str, ready: Callable[[dict], bool], timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not ready(job := _job(client, job_id)):
        assert time.time() < deadline and job["state"] in ("queued", "running"), job
        time.sleep(0.2)


def test_an_evaluation_queued_behind_a_long_build_is_not_reaped(one_worker: httpx.Client, scifact_slice: Path) -> None:
    client = one_worker
    assert client.post("/v1/collections", json={"name": "busy"}).status_code == 201
    for batch in range(2):  # a dense build of 12,000 passages outlasts the stale limit on an idle machine too
        docs = [{"id": f"b{i}", "text": f"a passage that keeps the only worker busy, number {i}, theme {i % 17}"}
                for i in range(6000 * batch, 6000 * (batch + 1))]
        assert wait_for_job(client, client.post("/v1/collections/busy/documents", json=docs).json()["id"])[
            "state"] == "succeeded"
    evaluation = client.post("/v1/evaluations", json={"dataset": str(scifact_slice), "pipelines": ["bm25"],
                                                       "chunk_queries": 10}).json()["id"]
    build = client.post("/v1/collections/busy/indexes/dense:build").json()["id"]
    # the evaluation is prepared and its chunks are queued behind the build, which has the only worker
    _wait_for(client, evaluation, lambda job: job["state"] == "running" and job["total"] == 40)
    _wait_for(client, build, lambda job: job["state"] == "running")
    waited_from = time.time()
    while time.time() - waited_from < STALE_AFTER_S + 6:
        job = _job(client, evaluation)
        assert job["state"] == "running" and job["done"] == 0, job
        time.sleep(0.5)
    assert _job(client, build)["state"] == "running"  # the chunks really waited all that time
    assert client.delete(f"/v1/jobs/{build}").status_code == 200
    finished = wait_for_job(client, evaluation, timeout=300)
    assert finished["state"] == "succeeded" and finished["done"] == finished["total"] == 40, finished
    assert wait_for_job(client, build)["state"] == "cancelled"
