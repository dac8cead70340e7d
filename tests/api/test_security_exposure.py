"""Safe to expose, second round (issue 41): body limits and large bodies off the event loop, and what responses
tell a caller (job views, server paths, key bytes, ids, the metrics schema, deep JSON) — against the real app."""
from __future__ import annotations

import asyncio
import json
import time

import pytest

from api.body_limit import default_body_limit
from core.settings import get_settings
from tests.api.test_security import ADMIN, Client, _wait, client, settings_env  # noqa: F401


# 6. a body limit the request limits imply, and large bodies parsed off the event loop
def test_healthz_answers_fast_while_a_large_body_is_parsed(client) -> None:
    settings = get_settings()
    count = settings.max_rerank_documents
    chars = settings.max_rerank_chars // count + 1  # one character per document over the total: a 413 after parsing
    body = json.dumps({"query": "q", "method": "embedding", "documents": [
        {"id": str(i), "content": "ö" * chars, "meta": {"n": i}} for i in range(count)]}).encode()
    assert 10_000_000 < len(body) <= default_body_limit(settings)

    async def scenario() -> tuple[list[float], int, str]:
        rerank = asyncio.ensure_future(client.inner.post("/v1/rerank", content=body,
                                                         headers={"Content-Type": "application/json"}))
        ticks = []  # a pause of the event loop (the body parsed on it) shows in the tick it falls into
        while not rerank.done():
            began = time.perf_counter()
            await asyncio.sleep(0.002)
            assert (await client.inner.get("/healthz")).status_code == 200
            ticks.append(time.perf_counter() - began)
        response = await rerank
        return ticks, response.status_code, response.json()["detail"]

    ticks, status, detail = client.loop.run_until_complete(scenario())
    assert status == 413 and "max_rerank_chars" in detail
    assert max(ticks) < 0.2, f"/healthz waited {max(ticks) * 1000:.0f} ms while the body was parsed"


def test_the_default_body_limit_is_what_the_request_limits_allow(client) -> None:
    settings = get_settings()
    limit = default_body_limit(settings)
    assert limit == 6 * settings.max_rerank_chars + 2**20 < 16 * 2**20
    response = client.request("POST", "/v1/search", content=b" " * (limit + 1),
                              headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and f"limit of {limit} bytes" in response.json()["detail"]


def test_uploads_have_their_own_body_limit(built_slice, settings_env) -> None:
    settings_env.setenv("SIFTRAG_MAX_BODY_BYTES", "1000")
    get_settings.cache_clear()
    client = Client()
    upload = json.dumps([{"id": f"big-{i}", "text": "an upload over the body limit " * 20} for i in range(4)])
    accepted = client.request("POST", "/v1/collections/slice/documents", content=upload,
                              headers={"Content-Type": "application/json"})
    assert accepted.status_code == 202 and _wait(client, accepted.json()["id"])["state"] == "succeeded"
    settings_env.setenv("SIFTRAG_MAX_INGEST_BODY_BYTES", "1000")
    get_settings.cache_clear()
    refused = client.request("POST", "/v1/collections/slice/documents", content=upload,
                             headers={"Content-Type": "application/json"})
    assert refused.status_code == 413 and "limit of 1000 bytes" in refused.json()["detail"]
    client.close()


@pytest.mark.parametrize("url", ["/v1/search", "/v1/rerank", "/v2/rerank", "/rerank", "/v1/answer", "/v1/collections",
                                 "/v1/chat/completions"])
def test_deeply_nested_json_is_422(client, url) -> None:
    response = client.request("POST", url, content=b"[" * 100_000, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert "nested too deeply" in response.text


# low: what responses tell a caller
def test_submissions_hide_upload_paths_and_runner_from_write_keys(built_slice, settings_env) -> None:
    settings_env.setenv("SIFTRAG_API_KEYS", json.dumps([ADMIN, {"key": "views-writer", "role": "write",
                                                                "collections": ["views-*"]}]))
    get_settings.cache_clear()
    client = Client(client_host="203.0.113.9")
    writer, admin = {"X-API-Key": "views-writer"}, {"X-API-Key": ADMIN}
    assert client.request("POST", "/v1/collections", headers=writer, json={"name": "views-a"}).status_code == 201
    for headers, shown in ((writer, False), (admin, True)):
        job = client.request("POST", "/v1/collections/views-a/documents", headers=headers,
                             json=[{"id": "1", "text": "views"}]).json()
        assert ("upload" in job["params"]) is shown and (job["runner"] is not None) is shown, job
        assert _wait(client, job["id"], headers=headers)["state"] == "succeeded"
    for response in (client.request("POST", "/v1/collections/views-a/indexes/bm25:build", headers=writer),
                     client.request("DELETE", "/v1/collections/views-a/documents", headers=writer,
                                    json={"ids": ["1"]})):
        assert response.status_code == 202 and response.json()["runner"] is None, response.text
        assert _wait(client, response.json()["id"], headers=writer)["state"] == "succeeded"
    assert client.request("DELETE", "/v1/collections/views-a", headers=admin).status_code == 204
    client.close()


def test_error_details_and_job_errors_name_no_server_path(client) -> None:
    from workers.upload_staging import new_upload_path

    data_dir = str(get_settings().data_dir)
    folder = get_settings().data_dir / "models" / "dyprag" / "corrupt"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "translator.json").write_text("not a translator")
    response = client.request("POST", "/v1/answer", json={"collection": "slice", "question": "q",
                                                          "dynamic": "dyprag", "translator": "corrupt"})
    detail = response.json()["detail"]
    assert response.status_code == 503 and "<data_dir>/models/dyprag/corrupt" in detail and data_dir not in detail

    upload = new_upload_path()
    upload.write_text('{"id": "bad", "text": "written by hand \\ud800"}\n')
    from workers.runner import job_runner

    job = _wait(client, job_runner().submit("ingest", {"collection": "slice", "upload": str(upload)}).id)
    assert job["state"] == "failed" and "<data_dir>/uploads/" in job["error"] and data_dir not in job["error"]


def test_non_ascii_keys_match_as_utf8(built_slice, settings_env) -> None:
    settings_env.setenv("SIFTRAG_API_KEYS", json.dumps(["ключ-0001", "café-0002"]))
    get_settings.cache_clear()
    client = Client(client_host="203.0.113.9")
    for key, status in (("ключ-0001".encode(), 200), ("café-0002".encode(), 200),
                        ("café-0002".encode("latin-1"), 401)):
        assert client.request("GET", "/v1/collections", headers={"X-API-Key": key}).status_code == status, key
    client.close()


def test_an_id_given_twice_in_one_upload_counts_once_and_the_last_wins(client) -> None:
    from indexes.retriever import collection_manager

    assert client.request("POST", "/v1/collections", json={"name": "twice"}).status_code == 201
    job = client.request("POST", "/v1/collections/twice/documents", json=[
        {"id": "d", "text": "first"}, {"id": "e", "text": "other"}, {"id": "d", "text": "second"}]).json()
    assert _wait(client, job["id"])["result"]["upserted"] == 2
    assert collection_manager().get("twice").store.get(["d"])["d"].content == "second"
    assert client.request("DELETE", "/v1/collections/twice").status_code == 204


@pytest.mark.parametrize("record, message", [
    ({"id": True, "text": "x"}, "document 0: 'id' must be a string or an integer, not bool"),
    ({"id": 1.5, "text": "x"}, "document 0: 'id' must be a string or an integer, not float"),
    ({"_id": 2.0, "text": "x"}, "document 0: '_id' must be a string or an integer, not float"),
    ({"id": ["a"], "text": "x"}, "document 0: 'id' must be a string or an integer, not list"),
    ({"text": "x"}, "document 0: missing 'id'"),
])
def test_ids_are_strings_or_integers(client, record, message) -> None:
    response = client.request("POST", "/v1/collections/slice/documents", json=[record])
    assert response.status_code == 422 and message in response.json()["detail"], response.text


def test_metrics_content_type_is_in_the_openapi_schema(client) -> None:
    from api.metrics import METRICS_CONTENT_TYPE

    content = client.request("GET", "/openapi.json").json()["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(content) == [METRICS_CONTENT_TYPE] and METRICS_CONTENT_TYPE.startswith("text/plain; version=")
    assert client.request("GET", "/metrics").headers["content-type"] == METRICS_CONTENT_TYPE
