"""The real service: a Celery worker over the real Redis and the API over HTTP (uvicorn)."""
from __future__ import annotations

import gzip
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO
from tests.redis_db import reset_run_redis
from tests.service_processes import (
    API_KEY,
    service_env,
    start_api,
    start_worker,
    stop,
    wait_for_job,
)

PORT = 8765


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    data_dir = tmp_path_factory.mktemp("service-data")
    reset_run_redis()
    worker = start_worker(data_dir, SIFTRAG_EMBEDDING_BATCH_SIZE="8")
    api = start_api(data_dir, PORT)
    state = {"worker": worker, "data_dir": data_dir}
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"X-API-Key": API_KEY}, timeout=60) as client:
        yield client, state
    stop(api)
    stop(state["worker"])


def _slice_jsonl(scifact_slice: Path) -> str:
    with gzip.open(scifact_slice / "corpus.jsonl.gz", "rt") as handle:
        return handle.read()


def test_admin_routes_need_the_key(service) -> None:
    client, _ = service
    response = httpx.post(f"http://127.0.0.1:{PORT}/v1/collections", json={"name": "x"})
    assert response.status_code == 401
    assert "X-API-Key" in response.json()["detail"]


def test_ingest_build_search_through_workers(service, scifact_slice: Path) -> None:
    client, _ = service
    assert client.post("/v1/collections", json={"name": "sf"}).status_code == 201
    assert client.post("/v1/collections", json={"name": "sf"}).status_code == 409
    response = client.post("/v1/collections/sf/documents", content=_slice_jsonl(scifact_slice),
                           headers={"Content-Type": "application/x-ndjson"})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["state"] == "succeeded", job
    assert job["done"] == job["total"] == job["result"]["upserted"] > 300
    for kind in ("bm25", "dense"):
        response = client.post(f"/v1/collections/sf/indexes/{kind}:build")
        assert response.status_code == 202
        job = wait_for_job(client, response.json()["id"])
        assert job["state"] == "succeeded", job
        assert job["done"] == job["total"] > 0
    for retriever in ("bm25", "dense", "hybrid"):
        response = client.post("/v1/search", json={"collection": "sf", "query": "vitamin D and bone fractures",
                                                   "retriever": retriever, "top_k": 5})
        assert response.status_code == 200, response.text
        assert len(response.json()["results"][0]["documents"]) == 5
    # a new version is picked up by the running API without a restart
    new_doc = [{"id": "new-1", "text": "Zyxoplasmin is a hypothetical enzyme that degrades quorax."}]
    wait_for_job(client, client.post("/v1/collections/sf/documents", json=new_doc).json()["id"])
    wait_for_job(client, client.post("/v1/collections/sf/indexes/bm25:build").json()["id"])
    hits = client.post("/v1/search", json={"collection": "sf", "query": "zyxoplasmin quorax"}).json()
    assert hits["results"][0]["documents"][0]["id"] == "new-1"


def test_tilde_build_through_the_worker_then_search_and_rerank(service, tilde_scorer: Path) -> None:
    client, state = service
    # a request names a scorer, never a path: the one trained for the tests is put where training would publish it
    shutil.copytree(tilde_scorer.resolve(), state["data_dir"] / "models" / "tilde" / "slice-scorer")
    response = client.post("/v1/collections/sf/indexes/tilde:build",
                           json={"options": {"model": "slice-scorer", "expansion_top_k": 0}})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"], timeout=300)
    assert job["state"] == "succeeded", job
    status = client.get("/v1/collections/sf").json()["indexes"]["tilde"]
    assert status["live_version"] == job["result"]["version"]
    assert status["manifest"]["postings"] > 0
    query = "vitamin D and bone fractures"
    hits = client.post("/v1/search", json={"collection": "sf", "query": query, "retriever": "tilde", "top_k": 5})
    assert hits.status_code == 200 and len(hits.json()["results"][0]["documents"]) == 5
    reranked = client.post("/v1/rerank", json={"collection": "sf", "query": query, "method": "tilde",
                                               "candidates": 30, "top_k": 5}).json()
    assert reranked["meta"]["encoded_passages"] == 0 and len(reranked["documents"]) == 5
    empty = client.post("/v1/search", json={"collection": "sf", "query": "the of and", "retriever": "tilde"})
    assert empty.status_code == 200 and empty.json()["results"][0]["documents"] == []


def test_two_builds_of_one_index_never_overlap(service) -> None:
    client, _ = service
    ids = [client.post("/v1/collections/sf/indexes/bm25:build").json()["id"] for _ in range(2)]
    jobs = [wait_for_job(client, job_id) for job_id in ids]
    assert all(job["state"] == "succeeded" for job in jobs), jobs
    first, second = sorted((job["result"] for job in jobs), key=lambda r: r["locked_at"])
    assert first["released_at"] <= second["locked_at"]


def test_evaluation_job_is_split_across_workers(service, scifact_slice: Path) -> None:
    client, _ = service
    response = client.post("/v1/evaluations", json={"dataset": str(scifact_slice), "pipelines": ["bm25", "dense"],
                                                     "chunk_queries": 10})
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"], timeout=600)
    assert job["state"] == "succeeded", job
    assert job["done"] == job["total"] == 80
    assert job["result"]["systems"]["bm25"]["nDCG@10"] > 0.6
    assert Path(job["result"]["report"]).exists()


def _per_query(report_dir: Path) -> dict[tuple[str, str], list[float]]:
    lines = (report_dir / "per_query.tsv").read_text().splitlines()[1:]
    return {(row[0], row[1]): [float(v) for v in row[2:]] for row in (line.split("\t") for line in lines)}


def test_evaluation_job_gives_the_numbers_of_the_local_engine(service, scifact_slice: Path, tmp_path: Path) -> None:
    """The API → Celery chunks → merge path and the CLI's local path are one engine: same per-query scores."""
    from evals.engine import EvaluationSpec
    from evals.runner import run_evaluation

    client, _ = service
    body = {"dataset": str(scifact_slice), "pipelines": ["bm25", "bm25>embedding"], "candidates": 20,
            "max_queries": 12, "chunk_queries": 4, "baseline": "bm25", "rerank_options": {"top_k": 20}}
    response = client.post("/v1/evaluations", json=body)
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"], timeout=600)
    assert job["state"] == "succeeded", job
    reranked = job["result"]["systems"]["bm25>embedding"]
    assert reranked["rerank_latency_ms"] > 0 and reranked["statistics"]["n"] == 12
    assert reranked["statistics"]["p_holm"] is not None and job["result"]["baseline"] == "bm25"
    local = run_evaluation(EvaluationSpec(**body), out_dir=tmp_path / "local")
    remote, here = _per_query(Path(job["result"]["report"]).parent), _per_query(tmp_path / "local")
    assert remote.keys() == here.keys() and len(remote) == 2 * 12
    assert all(abs(a - b) < 1e-6 for key in remote for a, b in zip(remote[key], here[key]))
    assert local["systems"][1]["extra"]["rerank_latency_ms"] > 0


def test_cli_eval_runs_its_chunks_on_the_celery_workers(service, scifact_slice: Path, tmp_path: Path) -> None:
    client, state = service
    result = subprocess.run(
        [sys.executable, str(REPO / "cli.py"), "eval", "--dataset", str(scifact_slice), "--pipeline", "bm25",
         "--max-queries", "8", "--chunk-queries", "4", "--out", str(tmp_path / "viajob")],
        cwd=REPO, env=service_env(state["data_dir"]), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "on the Celery workers" in result.stderr and "baseline bm25" in result.stdout
    report = json.loads((tmp_path / "viajob" / "report.json").read_text())
    assert report["execution"]["runner"] == "job" and report["queries"] == 8
    job = client.get(f"/v1/jobs/{report['execution']['job']}").json()
    assert job["state"] == "succeeded" and job["done"] == job["total"] == 8


def test_evaluation_request_is_validated(service, scifact_slice: Path) -> None:
    client, _ = service
    for body, message in [({"pipelines": ["bm25"], "baseline": "dense"}, "not one of the evaluated pipelines"),
                          ({"pipelines": ["bm25>tilde"], "rerank_options": {"window": 3}}, "window"),
                          ({"split": "../../etc"}, "split"),
                          ({"pipelines": ["bm25>icr"], "rerank_options": {"model": "/etc"}}, "paths and hub ids"),
                          ({"pipelines": ["bm25>tilde"], "rerank_options": {"collection": "other"}}, "collection")]:
        response = client.post("/v1/evaluations", json={"dataset": str(scifact_slice), **body})
        assert response.status_code == 422 and message in response.text, response.text


def test_cancel_a_running_build(service) -> None:
    client, _ = service
    client.post("/v1/collections", json={"name": "cancelme"})
    docs = [{"id": f"c{i}", "text": f"cancellable passage {i} on subject {i % 11}"} for i in range(3000)]
    wait_for_job(client, client.post("/v1/collections/cancelme/documents", json=docs).json()["id"])
    job_id = client.post("/v1/collections/cancelme/indexes/dense:build").json()["id"]
    _wait_until_progress(client, job_id)
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    job = wait_for_job(client, job_id)
    assert job["state"] == "cancelled"
    assert client.get("/v1/collections/cancelme").json()["indexes"]["dense"]["live_version"] is None


def _wait_until_progress(client: httpx.Client, job_id: str) -> None:
    deadline = time.time() + 120
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] == "running" and job["done"] > 0:
            return
        assert job["state"] in ("queued", "running"), job
        time.sleep(0.1)
    raise AssertionError("job never reported progress")


def test_killed_worker_leaves_old_index_serving_and_job_failed(service) -> None:
    client, state = service
    client.post("/v1/collections", json={"name": "killed"})
    docs = [{"id": f"k{i}", "text": f"durable passage {i} about theme {i % 13}"} for i in range(2500)]
    wait_for_job(client, client.post("/v1/collections/killed/documents", json=docs[:100]).json()["id"])
    live = wait_for_job(client, client.post("/v1/collections/killed/indexes/dense:build").json()["id"])
    assert live["state"] == "succeeded"
    wait_for_job(client, client.post("/v1/collections/killed/documents", json=docs[100:]).json()["id"])
    job_id = client.post("/v1/collections/killed/indexes/dense:build").json()["id"]
    _wait_until_progress(client, job_id)
    stop(state["worker"], signal.SIGKILL)
    search = client.post("/v1/search", json={"collection": "killed", "query": "theme 7", "retriever": "dense"})
    assert search.status_code == 200
    assert all(int(d["id"][1:]) < 100 for d in search.json()["results"][0]["documents"])
    assert client.get("/v1/collections/killed").json()["indexes"]["dense"]["live_version"] == live["result"]["version"]
    job = wait_for_job(client, job_id, timeout=60)
    assert job["state"] == "failed" and "stopped" in job["error"]
    state["worker"] = start_worker(state["data_dir"], SIFTRAG_EMBEDDING_BATCH_SIZE="8")
    retry = wait_for_job(client, client.post("/v1/collections/killed/indexes/dense:build").json()["id"])
    assert retry["state"] == "succeeded", retry


def test_health_readiness_metrics(service) -> None:
    client, _ = service
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["redis"] is True
    metrics = client.get("/metrics").text
    assert 'method="POST",route="/v1/search",status="200"' in metrics
    assert 'siftrag_index_documents{collection="sf",kind="bm25"}' in metrics
    assert 'siftrag_jobs{state="succeeded"}' in metrics
