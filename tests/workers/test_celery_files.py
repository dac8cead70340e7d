"""File uploads on the real service: multipart over HTTP to uvicorn, the ``ingest_files`` job on a Celery worker
over the real Redis, the key header as the cross-site guard's proof; then a re-upload that replaces the source."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests import source_files as files
from tests.redis_db import reset_run_redis
from tests.service_processes import API_KEY, start_api, start_worker, stop, wait_for_job

PORT = 8771


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):
    data_dir: Path = tmp_path_factory.mktemp("files-service")
    reset_run_redis()
    worker = start_worker(data_dir, concurrency=1)
    api = start_api(data_dir, PORT)
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", headers={"X-API-Key": API_KEY}, timeout=120) as client:
        yield client
    stop(api)
    stop(worker)


def upload(client: httpx.Client, parts: list[tuple[str, bytes]]) -> dict:
    response = client.post("/v1/collections/docs/files", files=[("files", part) for part in parts])
    assert response.status_code == 202, response.text
    job = wait_for_job(client, response.json()["id"])
    assert job["state"] == "succeeded", job
    return job["result"]


def test_upload_through_a_celery_worker_and_replace(client) -> None:
    assert client.post("/v1/collections", json={"name": "docs"}).status_code == 201
    first = upload(client, [("report.pdf", files.three_page_report()), ("bees.md", files.MARKDOWN.encode()),
                            ("locked.pdf", files.encrypted_pdf())])
    assert (first["added"], first["failed"]) == (2, 1)
    report = next(f for f in first["files"] if f["name"] == "report.pdf")
    newer = upload(client, [("report.pdf", files.pdf_bytes(["A single page now."]))])
    assert newer["files"][0]["status"] == "replaced" and newer["files"][0]["chunks"] == 1
    sources = {s["name"]: s for s in client.get("/v1/collections/docs/sources").json()["sources"]}
    assert sources["report.pdf"]["chunks"] == 1 and sources["report.pdf"]["id"] == report["source_id"]
    assert client.get("/v1/collections/docs").json()["documents"] == 1 + sources["bees.md"]["chunks"]
