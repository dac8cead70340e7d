"""Safe to expose, second round (issue 41): models named inside options, translators, index builds, the model
list, conflicting models, rerank models, lone surrogates and deep meta — each against the real app."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.settings import get_settings
from tests.api.test_security import ADMIN, READ_A, SCOPED_KEYS, Client, _wait, client, settings_env  # noqa: F401

QUESTION = "Does vitamin D deficiency affect bone health?"
GGUF = "/usr/share/siftrag/any.gguf"


def _post_raw(client: Client, url: str, text: str, content_type: str = "application/json"):
    """POST a body as written (httpx would refuse to encode a lone surrogate itself)."""
    return client.request("POST", url, content=text.encode(), headers={"Content-Type": content_type})


def _uploads() -> set[Path]:
    folder = get_settings().data_dir / "uploads"
    return set(folder.glob("*")) if folder.is_dir() else set()


# 1. every model option a request can pass goes through the allow-list
@pytest.mark.parametrize("url", ["/v1/answer", "/v1/answer/stream"])
@pytest.mark.parametrize("compressor, options, field", [
    ("tcra-semantic", {"model": GGUF}, "compressor_options.model"),
    ("tcra-semantic", {"model": "HuggingFaceTB/SmolLM2-360M-Instruct"}, "compressor_options.model"),
    ("tcra-semantic", {"model": "all-minilm-l6-v2"}, "compressor_options.model"),
    ("crag", {"embedding_model": "/etc/passwd"}, "compressor_options.embedding_model"),
    ("crag", {"embedding_model": "sentence-transformers/all-MiniLM-L6-v2"}, "compressor_options.embedding_model"),
    ("crag", {"embedding_model": "smollm2-135m-instruct"}, "compressor_options.embedding_model"),
    ("crag", {"draft_model": "/etc"}, "compressor_options.draft_model"),
])
def test_compressor_options_name_models_like_model(client, url, compressor, options, field) -> None:
    response = client.request("POST", url, json={"collection": "slice", "question": QUESTION,
                                                 "compressor": compressor, "compressor_options": options})
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"{field} must be" in detail and "SIFTRAG_ALLOWED_MODELS" in detail


def test_evaluation_options_and_rerank_models_name_models_like_model(client) -> None:
    for body, field in [({"dataset": "/tmp", "rerank_options": {"embedding_model": "/etc"}},
                         "rerank_options.embedding_model"),
                        ({"dataset": "/tmp", "pipelines": ["bm25>first:model=/etc/passwd"]}, "option.model")]:
        response = client.request("POST", "/v1/evaluations", json=body)
        assert response.status_code == 422 and field in response.json()["detail"], response.text
    response = client.request("POST", "/v1/rerank", json={"query": "x", "method": "tilde", "model":
                                                          "smollm2-135m-instruct", "documents": [{"id": "1",
                                                                                                  "content": "y"}]})
    assert response.status_code == 422 and "LLM rerank methods" in response.json()["detail"]


def test_allowed_and_registry_option_models_pass_validation(settings_env) -> None:
    from api.schemas import AnswerRequest

    body = {"collection": "slice", "question": "q", "compressor": "crag",
            "compressor_options": {"embedding_model": "all-minilm-l6-v2", "model": "smollm2-135m-instruct"}}
    assert AnswerRequest.model_validate(body).compressor_options["embedding_model"] == "all-minilm-l6-v2"
    settings_env.setenv("SIFTRAG_ALLOWED_MODELS", json.dumps([GGUF]))
    get_settings.cache_clear()
    assert AnswerRequest.model_validate({**body, "compressor_options": {"model": GGUF}}).compressor_options


# 2. translators by name only, and a 404 without server paths
@pytest.mark.parametrize("translator", ["/etc", "/tmp/x", "../dyprag", "~root"])
def test_translator_paths_are_422(client, translator) -> None:
    response = client.request("POST", "/v1/answer", json={"collection": "slice", "question": "q",
                                                          "dynamic": "dyprag", "translator": translator})
    assert response.status_code == 422 and "translator must be a name" in response.json()["detail"], response.text


def test_unknown_translator_404_names_no_server_path(client) -> None:
    response = client.request("POST", "/v1/answer", json={"collection": "slice", "question": "q",
                                                          "dynamic": "dyprag", "translator": "never-trained"})
    detail = response.json()["detail"]
    assert response.status_code == 404 and "never-trained" in detail
    assert str(get_settings().data_dir) not in detail and "/tmp" not in detail


# 3. index builds name models by the same rule
@pytest.mark.parametrize("kind, model", [("dense", "/usr/lib"), ("dense", "sentence-transformers/all-mpnet-base-v2"),
                                         ("dense", "smollm2-135m-instruct"), ("tilde", "/etc"),
                                         ("tilde", "../../models/tilde/tilde-scifact")])
def test_builds_refuse_models_outside_the_allow_list(client, kind, model) -> None:
    response = client.request("POST", f"/v1/collections/slice/indexes/{kind}:build", json={"options": {"model": model}})
    assert response.status_code == 422, response.text
    assert "options.model must be" in response.json()["detail"]


def test_builds_accept_registry_and_trained_models(client) -> None:
    assert client.request("POST", "/v1/collections", json={"name": "named-models"}).status_code == 201
    job = client.request("POST", "/v1/collections/named-models/documents",
                         json=[{"id": "1", "text": "vitamin D and bone"}, {"id": "2", "text": "statins"}]).json()
    assert _wait(client, job["id"])["state"] == "succeeded"
    for kind, model in (("dense", "all-minilm-l6-v2"), ("tilde", "tilde-scifact")):
        build = client.request("POST", f"/v1/collections/named-models/indexes/{kind}:build",
                               json={"options": {"model": model}})
        assert build.status_code == 202 and _wait(client, build.json()["id"])["state"] == "succeeded", build.text
    assert client.request("DELETE", "/v1/collections/named-models").status_code == 204


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


# 9. a model for the compressor beside the answer's, and a folder that is no model
def test_compressor_model_beside_the_answer_model_is_the_compressors(client) -> None:
    response = client.request("POST", "/v1/answer", json={
        "collection": "slice", "question": QUESTION, "top_k": 1, "max_new_tokens": 2, "model": "smollm2-135m-instruct",
        "compressor": "tcra-semantic", "compressor_options": {"model": "reader-2wiki", "ratio": 0.9}})
    assert response.status_code == 200, response.text
    assert response.json()["compression"]["model"] == "reader-2wiki"


def test_a_folder_without_a_model_is_422(built_slice, settings_env, tmp_path: Path) -> None:
    settings_env.setenv("SIFTRAG_ALLOWED_MODELS", json.dumps([str(tmp_path)]))
    get_settings.cache_clear()
    client = Client()
    response = client.request("POST", "/v1/answer", json={"collection": "slice", "question": "q", "model": str(tmp_path)})
    assert response.status_code == 422 and "is not a model that can be loaded" in response.json()["detail"]
    client.close()


# 13. the reranker gets its own model, never the answer's
def test_answer_model_is_not_the_rerankers(client) -> None:
    body = {"collection": "slice", "question": QUESTION, "top_k": 1, "candidates": 2, "max_new_tokens": 1,
            "model": "smollm2-135m-instruct"}
    tilde = client.request("POST", "/v1/answer", json={**body, "rerank": "tilde"})
    assert tilde.status_code == 200 and "latency_ms" in tilde.json()["rerank"], tilde.text
    pointwise = client.request("POST", "/v1/answer", json={**body, "rerank": "pointwise"})
    assert pointwise.json()["rerank"]["model"] == "smollm2-135m-instruct+pointwise-smollm2-scifact"
    named = client.request("POST", "/v1/answer", json={**body, "rerank": "pointwise",
                                                       "rerank_model": "smollm2-135m-instruct"})
    assert named.json()["rerank"]["model"] == "smollm2-135m-instruct"


@pytest.mark.parametrize("extra, message", [
    ({"rerank": "first", "rerank_model": "/etc/passwd"}, "rerank_model must be"),
    ({"rerank": "tilde", "rerank_model": "smollm2-135m-instruct"}, "rerank_model applies to the LLM rerank methods"),
    ({"rerank_model": "smollm2-135m-instruct"}, "rerank_model applies only with rerank"),
])
def test_rerank_model_is_checked(client, extra, message) -> None:
    response = client.request("POST", "/v1/answer", json={"collection": "slice", "question": "q", **extra})
    assert response.status_code == 422 and message in response.json()["detail"], response.text


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
