"""Safe to expose, second round (issue 41): models named inside options, translators, index builds, the model
list, conflicting models, rerank models, lone surrogates and deep meta — each against the real app."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import get_settings
from tests.api.test_security import ADMIN, READ_A, SCOPED_KEYS, Client, _wait, client, settings_env  # noqa: F401


def _post_raw(client: Client, url: str, text: str, content_type: str = "application/json"):
    """POST a body as written (httpx would refuse to encode a lone surrogate itself)."""
    return client.request("POST", url, content=text.encode(), headers={"Content-Type": content_type})


def _uploads() -> set[Path]:
    folder = get_settings().data_dir / "uploads"
    return set(folder.glob("*")) if folder.is_dir() else set()


# 4. the model list shows only the collections the key reaches
def test_models_list_only_collections_the_key_may_read(built_slice, settings_env) -> None:
    settings_env.setenv("SIFTRAG_API_KEYS", SCOPED_KEYS)
    settings_env.setenv("SIFTRAG_PROTECT_QUERIES", "true")
    get_settings.cache_clear()
    client = Client(client_host="203.0.113.9")
    admin, reader = {"X-API-Key": ADMIN}, {"X-API-Key": READ_A}
    for name in ("tenant-a-listed", "tenant-b-hidden"):
        assert client.request("POST", "/v1/collections", headers=admin, json={"name": name}).status_code == 201
    assert client.request("GET", "/v1/models").status_code == 401
    seen = {m["id"] for m in client.request("GET", "/v1/models", headers=reader).json()["data"]}
    assert "rag:tenant-a-listed" in seen and not {s for s in seen if s.startswith("rag:tenant-b")}
    assert "rag:slice" not in seen and "smollm2-135m-instruct" in seen
    everything = {m["id"] for m in client.request("GET", "/v1/models", headers=admin).json()["data"]}
    assert {"rag:tenant-a-listed", "rag:tenant-b-hidden", "rag:slice"} <= everything
    for name in ("tenant-a-listed", "tenant-b-hidden"):
        assert client.request("DELETE", f"/v1/collections/{name}", headers=admin).status_code == 204
    client.close()


# 8. lone surrogates are a 422 naming the field, everywhere
@pytest.mark.parametrize("url, body, field", [
    ("/v1/search", '{"collection": "slice", "query": "x\\ud800"}', "query"),
    ("/v1/search", '{"collection": "slice", "queries": ["ok", "\\udfff"]}', "queries.1"),
    ("/v1/rerank", '{"query": "\\ud800", "method": "embedding", "documents": [{"id": "1", "content": "y"}]}', "query"),
    ("/v1/rerank", '{"query": "q", "method": "embedding", "documents": [{"id": "1", "content": "y\\ud800"}]}',
     "documents.0.content"),
    ("/v1/answer", '{"collection": "slice", "question": "\\ud800?"}', "question"),
    ("/v1/answer/stream", '{"collection": "slice", "question": "\\ud800?"}', "question"),
    ("/v2/rerank", '{"model": "embedding", "query": "q", "documents": ["\\ud800"]}', "documents.0"),
    ("/rerank", '{"query": "\\ud800", "texts": ["a"]}', "query"),
    ("/v1/chat/completions", '{"model": "rag:slice", "messages": [{"role": "user", "content": "\\ud800"}]}',
     "messages.0.content"),
])
def test_lone_surrogates_are_422_naming_the_field(client, url, body, field) -> None:
    response = _post_raw(client, url, body)
    assert response.status_code == 422, response.text
    assert f"{field} contains a lone UTF-16 surrogate" in response.text


@pytest.mark.parametrize("body, content_type", [
    ('[{"id": "s1", "text": "a\\ud800b"}]', "application/json"),
    ('{"id": "s2", "text": "ok", "meta": {"\\udc00": 1}}\n', "application/x-ndjson"),
])
def test_ingest_refuses_lone_surrogates_and_stages_nothing(client, body, content_type) -> None:
    before = _uploads()
    response = _post_raw(client, "/v1/collections/slice/documents", body, content_type)
    assert response.status_code == 422 and "lone UTF-16 surrogate" in response.json()["detail"], response.text
    assert _uploads() == before


def test_a_failed_ingest_job_removes_its_staged_upload(client) -> None:
    from workers.runner import job_runner
    from workers.upload_staging import new_upload_path

    upload = new_upload_path()
    upload.write_text('{"id": "bad", "text": "written by hand \\ud800"}\n')
    job = job_runner().submit("ingest", {"collection": "slice", "upload": str(upload)})
    assert _wait(client, job.id)["state"] == "failed" and not upload.exists()


# 7. one depth limit for meta, at ingest
def _nested(levels: int) -> dict:
    meta: dict = {"leaf": 1}
    for _ in range(levels - 1):
        meta = {"a": meta}
    return meta


@pytest.mark.parametrize("levels", [33, 250, 450])
def test_meta_deeper_than_the_limit_is_422_at_ingest(client, levels) -> None:
    text = json.dumps([{"id": f"deep-{levels}", "text": "deep meta", "meta": _nested(levels)}])
    response = _post_raw(client, "/v1/collections/slice/documents", text)
    assert response.status_code == 422, response.text
    assert "'meta' is nested more than 32 levels deep" in response.json()["detail"]


def test_meta_at_the_limit_is_stored_and_searchable(client) -> None:
    assert client.request("POST", "/v1/collections", json={"name": "deep-meta"}).status_code == 201
    job = client.request("POST", "/v1/collections/deep-meta/documents",
                         json=[{"id": "d", "text": "deep meta", "meta": _nested(32)}]).json()
    assert _wait(client, job["id"])["state"] == "succeeded"
    assert _wait(client, client.request("POST", "/v1/collections/deep-meta/indexes/bm25:build").json()["id"])[
        "state"] == "succeeded"
    search = client.request("POST", "/v1/search", json={"collection": "deep-meta", "query": "deep"})
    assert search.status_code == 200 and search.json()["results"][0]["documents"][0]["id"] == "d"
    assert client.request("DELETE", "/v1/collections/deep-meta").status_code == 204
