"""Tuning a collection (``POST /v1/collections/{name}:tune``, ``siftrag tune``): real queries written by the bundled
LLM from the collection's passages, a real round-trip filter over its BM25 index, a real fine-tuning of MiniLM, the
held-out check, the collection-scoped publish that search and rerank then use (with the relevance calibration it
inherits), the revert, and bad input."""
from __future__ import annotations

import time

import pytest

from rerankers.ranked_documents import MODEL_SCORE
from rerankers.relevance_calibration import find_calibration, served_probabilities
from tests.api.test_api_embedded import client  # noqa: F401  (the in-process API fixture)
from tests.test_cli import siftrag

NAME = "tunable"
TUNE = {"passages": 40, "training": {"batch_size": 8}}
FORCED = {**TUNE, "force": True}  # published whatever the check finds (40 passages make a noisy check)


def _wait(client, job_id: str, until=lambda job: job["state"] in ("succeeded", "failed", "cancelled"),  # noqa: F811
          timeout: float = 900) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if until(job):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not get there in {timeout} s")


@pytest.fixture(scope="module")
def tunable(scifact_slice, data_dir, client):  # noqa: F811
    """A second collection made from the SciFact slice, with bm25 and dense indexes."""
    from evals.dataset_collection import ensure_dataset_collection
    from indexes.retriever import collection_manager

    ensure_dataset_collection(collection_manager(), scifact_slice, ["bm25", "dense"], name=NAME)
    return NAME


def _status(client, name: str) -> dict:  # noqa: F811
    return client.get(f"/v1/collections/{name}").json()


def test_a_tuned_encoder_is_published_for_the_collection_serves_it_and_reverts(client, tunable) -> None:  # noqa: F811
    response = client.post(f"/v1/collections/{tunable}:tune", json=FORCED)
    assert response.status_code == 202, response.text
    job = _wait(client, response.json()["id"])
    assert job["state"] == "succeeded", job["error"]
    result = job["result"]
    assert result["passages_sampled"] == 40
    assert result["queries_generated"] + result["dropped_empty"] == 40
    assert result["kept"] + result["dropped_round_trip"] == result["queries_generated"]
    assert 0 < result["heldout_queries"] and result["training_queries"] + result["heldout_queries"] <= result["kept"]
    check = result["check"]
    assert check["queries"] == result["heldout_queries"] and check["delta"] == pytest.approx(
        check["tuned"] - check["live"], abs=1e-3)
    assert check["publish"] == (check["delta"] >= 0) and result["published"]
    assert result["trainer"]["steps"] >= 1 and result["trainer"]["loss_curve"]

    status = _status(client, tunable)
    tuned = status["tuned_models"]["dense"]
    assert tuned["live_version"] == result["model_version"] and tuned["training"]["check"] == check
    assert status["indexes"]["dense"]["manifest"]["model"].startswith("tuned:")  # a name, never a server path
    assert status["indexes"]["dense"]["live_version"] == result["dense_version"]

    rerank = client.post("/v1/rerank", json={"query": "vitamin D and bone health", "collection": tunable,
                                             "method": "embedding", "candidates": 20, "top_k": 5}).json()
    assert rerank["meta"]["model"] == status["indexes"]["dense"]["manifest"]["model"]
    assert rerank["meta"]["passages_from_index"] == 20  # the tuning job embedded the whole collection
    calibration = check["calibration"]  # the base's calibration is inherited unless the tuned scores drifted
    assert calibration["inherited"] == (calibration["held_out_ece"]["tuned"]
                                        <= calibration["held_out_ece"]["live"] + calibration["tolerance"])
    assert rerank["meta"]["calibrated"] is calibration["inherited"]
    scores = [d["score"] for d in rerank["documents"]]
    if calibration["inherited"]:  # the tuned model's own cosines through the base model's calibration
        base = find_calibration("embedding", "all-minilm-l6-v2")
        assert scores == pytest.approx(served_probabilities(base, [d["meta"][MODEL_SCORE] for d in rerank["documents"]]))
    else:
        assert scores[:2] == [1.0, 0.5]
    searched = client.post("/v1/search", json={"collection": tunable, "query": "vitamin D and bone health",
                                               "retriever": "dense", "rerank": "embedding", "top_k": 3}).json()
    assert searched["rerank"]["meta"][0]["model"].startswith("tuned:") and len(searched["results"][0]["documents"]) == 3

    reverted = client.delete(f"/v1/collections/{tunable}/tuned-models/dense").json()
    assert reverted["reverted_version"] == result["model_version"]
    assert _wait(client, reverted["reindex_job"]["id"])["state"] == "succeeded"
    status = _status(client, tunable)
    assert status["tuned_models"]["dense"]["live_version"] is None
    assert status["indexes"]["dense"]["manifest"]["model"] == "all-minilm-l6-v2"
    rerank = client.post("/v1/rerank", json={"query": "vitamin D and bone health", "collection": tunable,
                                             "method": "embedding", "candidates": 20, "top_k": 5}).json()
    assert rerank["meta"]["model"] == "all-minilm-l6-v2" and rerank["meta"]["calibrated"] is True


def test_a_cancel_while_generating_publishes_nothing_and_keeps_the_queries(client, tunable, data_dir) -> None:  # noqa: F811
    from indexes.content_cache import ContentCache

    cache_path = data_dir / "cache" / "synthetic-queries-smollm2-135m-instruct.sqlite"

    def cached() -> int:
        cache = ContentCache(cache_path, "queries", ("query",))
        try:
            return cache._connection.execute("SELECT COUNT(*) FROM queries").fetchone()[0]
        finally:
            cache.close()

    before = cached() if cache_path.exists() else 0
    live = _status(client, tunable)["tuned_models"]["dense"]["live_version"]
    job_id = client.post(f"/v1/collections/{tunable}:tune", json={**TUNE, "passages": 60, "seed": 7}).json()["id"]
    _wait(client, job_id, lambda job: job["stage"] == "generate" and job["done"] >= 16 or job["state"] != "running"
          and job["state"] != "queued", timeout=300)
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    job = _wait(client, job_id)
    assert job["state"] == "cancelled" and job["stage"] == "generate"
    assert _status(client, tunable)["tuned_models"]["dense"]["live_version"] == live
    assert cached() >= before + 16  # what was generated stays cached: a rerun starts from there


def test_bad_tune_requests_get_a_clear_4xx(client, tunable) -> None:  # noqa: F811
    from workers.job_model import JobState
    from workers.runner import job_runner

    assert client.post("/v1/collections/nope:tune", json=TUNE).status_code == 404
    assert client.post("/v1/collections", json={"name": "unindexed"}).status_code == 201
    response = client.post("/v1/collections/unindexed:tune", json=TUNE)
    assert response.status_code == 422 and "no bm25 index" in response.json()["detail"]
    response = client.post(f"/v1/collections/{tunable}:tune", json={"passages": 5000})
    assert response.status_code == 422 and "smaller --passages" in response.json()["detail"]
    for body in ({"examples": ["one example"]}, {"passages": 5}, {"heldout_share": 0.9}, {"model": "/etc"},
                 {"training": {"learning_rate": -1}}):
        response = client.post(f"/v1/collections/{tunable}:tune", json=body)
        assert response.status_code == 422, (body, response.text)
    running = job_runner().store.create("tune", {"collection": tunable})
    try:
        response = client.post(f"/v1/collections/{tunable}:tune", json=TUNE)
        assert response.status_code == 409 and running.id in response.json()["detail"]
    finally:
        job_runner().store.finish(running.id, JobState.cancelled)


def test_the_cli_refuses_a_sample_larger_than_the_collection_with_a_sentence(tunable, data_dir) -> None:
    done = siftrag("tune", tunable, "--passages", "5000", data_dir=data_dir)
    assert done.returncode == 2 and done.stderr.startswith("error: Collection 'tunable' has ")
    assert "Traceback" not in done.stderr


def test_the_check_refuses_an_encoder_that_ranks_worse_and_passes_an_equal_one(tunable, tmp_path) -> None:
    import torch

    from core.model_loading import load_sentence_embedder
    from evals.tuning_check import tuned_vs_live
    from indexes.document_store import indexable_text
    from indexes.retriever import collection_manager
    from rag.tuning.passage_sample import sample_passages
    from rag.tuning.round_trip import SyntheticExample

    collection = collection_manager().get(tunable)
    examples = [SyntheticExample(d.meta["title"], d.id, indexable_text(d)) for d in sample_passages(collection, 10, 3)]
    scrambled = load_sentence_embedder("all-minilm-l6-v2")
    torch.manual_seed(0)
    with torch.no_grad():  # the same shapes, random weights
        for parameter in scrambled.parameters():
            parameter.normal_(0.0, 0.02)
    scrambled.save(str(tmp_path / "scrambled-minilm"))

    worse = tuned_vs_live(collection, examples, "all-minilm-l6-v2", str(tmp_path / "scrambled-minilm"))
    assert worse["queries"] == 10 and worse["tuned"] < worse["live"] and worse["publish"] is False
    assert worse["delta"] < 0 and worse["wins_ties_losses"][2] > 0
    same = tuned_vs_live(collection, examples, "all-minilm-l6-v2", "all-minilm-l6-v2")
    assert same["delta"] == 0 and same["p_value"] == 1.0 and same["publish"] is True


def test_a_405_on_the_tune_route_allows_only_post(client) -> None:  # noqa: F811
    """``/collections/x:tune`` fits the template ``/collections/{name}`` too; Allow names the tune resource's only."""
    response = client.request("OPTIONS", "/v1/collections/x:tune")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert client.request("OPTIONS", "/v1/collections/x").headers["allow"] == "DELETE, GET"
