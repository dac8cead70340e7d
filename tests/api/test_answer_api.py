"""/v1/answer and its server-sent-event stream: in-process, and a real uvicorn for client disconnects."""
from __future__ import annotations

import json
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from core.device import torch_device
from rag.answer_formats import find_format
from tests.service_processes import API_KEY, start_api, stop

QUESTION = "Does vitamin D deficiency affect bone health?"


@pytest.fixture(scope="module")
def client(built_slice):
    from api.app import create_app

    return TestClient(create_app(), base_url="http://localhost")


def _events(lines) -> list[tuple[str, dict]]:
    events, name = [], None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: "):]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: "):])))
    return events


def test_answer_route_returns_answer_citations_timings_and_tokens(client):
    response = client.post("/v1/answer", json={"collection": "slice", "question": QUESTION, "top_k": 2,
                                               "max_new_tokens": 12})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] and len(body["passages"]) == 2 and body["tokens"]["prompt"] > 0
    assert body["timings_ms"]["total"] >= body["timings_ms"]["generate"]
    assert body["finish_reason"] == "length" and body["answer"] == find_format("short").answer_span(body["output"])
    assert body["engine"] == ("llama.cpp" if torch_device() == "cpu" else "transformers")  # SIFTRAG_LLM_ENGINE=auto


def test_answers_report_their_format_output_and_finish(client):
    body = client.post("/v1/answer", json={"collection": "slice", "question": QUESTION, "top_k": 2,
                                           "answer_format": "yes-no", "passage_words": 40,
                                           "max_new_tokens": 60}).json()
    assert body["answer"] == find_format("yes-no").answer_span(body["output"])
    assert (body["finish_reason"] == "length") == (body["tokens"]["generated"] == 60)
    # the shipped yes/no head decides; the model only adds the citation
    assert body["decision"]["head"] == "yes-no-strategyqa" and 0 <= body["decision"]["p_yes"] <= 1
    assert body["output"].startswith(f"So the answer is: {body['answer']}") and body["answer"] in ("yes", "no")
    assert set(body["unknown_citations"]).isdisjoint({1, 2})


def test_stream_sends_context_tokens_then_done(client):
    with client.stream("POST", "/v1/answer/stream", json={"collection": "slice", "question": QUESTION,
                                                          "top_k": 2, "max_new_tokens": 10}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.iter_lines())
    names = [name for name, _ in events]
    assert names[0] == "context" and names[-1] == "done" and names.count("token") >= 1
    done = events[-1][1]
    assert "".join(d["text"] for n, d in events if n == "token").strip().startswith(done["output"])
    assert done["finish_reason"] in ("stop", "length")
    assert done["engine"] == ("llama.cpp" if torch_device() == "cpu" else "transformers")


@pytest.mark.parametrize("body, status, message", [
    ({"collection": "slice", "question": "  "}, 422, "question"),
    ({"collection": "slice", "question": QUESTION, "compressor": "zip"}, 422, "compressor"),
    ({"collection": "slice", "question": QUESTION, "compressor": "crag", "compressor_options": {"k": 2}}, 422, "k"),
    ({"collection": "nope", "question": QUESTION}, 404, "nope"),
    ({"collection": "slice", "question": QUESTION, "retriever": "tilde"}, 404, "tilde"),
    ({"collection": "slice", "question": QUESTION, "top_k": 100}, 413, "compress"),
    ({"collection": "slice", "question": QUESTION, "rerank": "zzz", "candidates": 5000}, 422, "zzz"),  # 422 before 413
    ({"collection": "slice", "question": QUESTION, "rerank": "icr", "candidates": 5000}, 413, "passages per question"),
    ({"collection": "slice", "question": QUESTION, "answer_format": "essay"}, 422, "answer_format"),
    ({"collection": "slice", "question": QUESTION, "top_k": 2, "min_passages": 3}, 422, "min_passages"),
    ({"collection": "slice", "question": QUESTION, "passage_words": 0}, 422, "passage_words"),
    ({"collection": "slice", "question": "zzqxv", "top_k": 3, "min_passages": 1}, 422, "min_passages=1"),
])
@pytest.mark.parametrize("route", ["/v1/answer", "/v1/answer/stream"])
def test_bad_input_is_a_clear_4xx_on_both_routes(client, route, body, status, message):
    response = client.post(route, json=body)
    assert response.status_code == status, response.text
    assert message in response.json()["detail"]


def test_client_disconnect_stops_generation(built_slice, data_dir):
    api = start_api(data_dir, 8733)
    try:
        base = "http://127.0.0.1:8733"
        with httpx.Client(timeout=120) as http:
            with http.stream("POST", f"{base}/v1/answer/stream", json={
                    "collection": "slice", "question": QUESTION, "top_k": 2, "max_new_tokens": 1500}) as response:
                for line in response.iter_lines():
                    if line.startswith("event: token"):
                        break  # leaving the block closes the connection mid-answer
            began = time.perf_counter()
            quick = http.post(f"{base}/v1/answer", json={"collection": "slice", "question": QUESTION, "top_k": 0,
                                                         "max_new_tokens": 1})
            waited = time.perf_counter() - began
            assert quick.status_code == 200
            assert waited < 20, f"the abandoned stream kept the model busy for {waited:.0f} s"
            metrics = http.get(f"{base}/metrics", headers={"X-API-Key": API_KEY}).text
            assert 'siftrag_answer_streams_total{outcome="disconnected"} 1.0' in metrics
    finally:
        stop(api)


def test_dynamic_answers_report_their_retrievals(client):
    response = client.post("/v1/answer", json={"collection": "slice", "question": QUESTION, "dynamic": "single",
                                               "top_k": 2, "max_new_tokens": 16})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["dynamic"]["retrieval_calls"] == 1 and body["dynamic"]["queries"] == [QUESTION]
    assert len(body["passages"]) == 2 and body["dynamic"]["lm_calls"] >= 1
    streamed = client.post("/v1/answer/stream", json={"collection": "slice", "question": QUESTION, "dynamic": "dragin"})
    assert streamed.status_code == 422 and "not streamed" in streamed.json()["detail"]
    mixed = client.post("/v1/answer", json={"collection": "slice", "question": QUESTION, "dynamic": "flare",
                                            "compressor": "crag"})
    assert mixed.status_code == 422 and "does not combine" in mixed.json()["detail"]


def test_dyprag_answers_need_a_trained_translator(client):
    untrained = client.post("/v1/answer", json={"collection": "slice", "question": QUESTION, "dynamic": "dyprag",
                                                "translator": "never-trained"})
    assert untrained.status_code == 404 and "siftrag train dyprag" in untrained.json()["detail"]
    stray = client.post("/v1/answer", json={"collection": "slice", "question": QUESTION, "dynamic": "single",
                                            "translator": "never-trained"})
    assert stray.status_code == 422 and "translator applies to" in stray.json()["detail"]
