"""Cohere-, Jina- and TEI-compatible rerank routes on a real uvicorn: the Cohere SDKs (v2 and v1) rerank through
/v2/rerank and /v1/rerank with an operator's alias for the model name, scores are calibrated probabilities, long
documents are cut at max_tokens_per_doc and score their best chunk, unknown fields are named in a header, and errors
come in each API's own shape."""
from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.service_processes import API_KEY, start_api, stop

PORT = 8733
BASE = f"http://127.0.0.1:{PORT}"
RELEVANT = "Vitamin D deficiency lowers bone mineral density and raises the risk of fractures."
OTHERS = ["The Eiffel Tower is a wrought-iron lattice tower in Paris.",
          "Photosynthesis converts light energy into chemical energy in plants."]
ALIASES = {"rerank-v3.5": "embedding", "jina-reranker-v2-base-multilingual": "embedding"}
MAX_TOKENS = 20_000
FILLER = " ".join(f"The committee met on day {n} to discuss the harbour budget and the ferry timetable." for n in
                  range(25))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    data_dir: Path = tmp_path_factory.mktemp("compat-data")
    process = start_api(data_dir, PORT, SIFTRAG_MODEL_ALIASES=json.dumps(ALIASES),
                        SIFTRAG_MAX_RERANK_TOKENS=str(MAX_TOKENS))
    yield BASE
    stop(process)


def test_cohere_sdk_reranks_through_v2(server: str) -> None:
    import cohere

    client = cohere.ClientV2(api_key=API_KEY, base_url=server)  # sent as Authorization: Bearer
    response = client.rerank(model="embedding", query="Does vitamin D affect bone health?",
                             documents=[OTHERS[0], RELEVANT, OTHERS[1]], top_n=2)
    assert [r.index for r in response.results][0] == 1 and len(response.results) == 2
    assert response.results[0].relevance_score > response.results[1].relevance_score
    tilde = client.rerank(model="tilde", query="vitamin D bone fractures", documents=[OTHERS[0], RELEVANT])
    assert tilde.results[0].index == 1


def test_long_document_is_chunked_and_scores_its_best_chunk(server: str) -> None:
    long_document = FILLER + " " + RELEVANT  # the relevant part is at its very end, past one chunk
    body = {"model": "embedding", "query": "Does vitamin D deficiency cause fractures?",
            "documents": [OTHERS[1], long_document], "return_documents": True}
    response = httpx.post(f"{server}/v2/rerank", json=body, timeout=120)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["index"] == 1 and results[0]["chunks"] > 1 and results[0]["truncated"] is False
    assert results[0]["document"] == {"text": long_document} and results[1]["chunks"] == 1
    assert response.json()["usage"]["total_tokens"] > 256 and "X-Siftrag-Truncated" not in response.headers
    cut = httpx.post(f"{server}/v2/rerank", json=body | {"max_chunks_per_doc": 1}, timeout=120)
    assert next(r for r in cut.json()["results"] if r["index"] == 1)["truncated"] is True
    assert cut.headers["X-Siftrag-Truncated"] == "1"
    v1 = httpx.post(f"{server}/v2/rerank", timeout=120, json={
        "model": "embedding", "query": "vitamin D", "rank_fields": ["title", "body"],
        "documents": [{"title": "Tower", "body": OTHERS[0]}, {"title": "Vitamin D", "body": RELEVANT}]})
    assert v1.status_code == 200 and v1.json()["results"][0]["index"] == 1


def test_answer_at_word_4500_is_read_within_max_tokens_per_doc(server: str) -> None:
    """As Cohere: a document is read up to max_tokens_per_doc (default 4,096) tokens, all of its chunks scored;
    the limit of a request is on the tokens scored in all, not on a count of chunks."""
    words = (FILLER + " ") * 20
    document = " ".join(words.split()[:4500]) + " " + RELEVANT + " " + " ".join(words.split()[:500])
    body = {"model": "embedding", "query": "Does vitamin D deficiency cause fractures?",
            "documents": [OTHERS[0] + " " + OTHERS[1], document]}
    default = httpx.post(f"{server}/v2/rerank", json=body, timeout=300)
    assert default.status_code == 200, default.text
    cut = next(r for r in default.json()["results"] if r["index"] == 1)
    assert cut["truncated"] is True and default.headers["X-Siftrag-Truncated"] == "1"
    assert default.json()["meta"]["siftrag"]["scored_tokens"] <= 4096 + 64
    whole = httpx.post(f"{server}/v2/rerank", json=body | {"max_tokens_per_doc": 8192}, timeout=300)
    first = whole.json()["results"][0]
    assert first["index"] == 1 and first["truncated"] is False and first["chunks"] > 16
    assert first["relevance_score"] > cut["relevance_score"]
    too_many = httpx.post(f"{server}/v2/rerank", json=body | {"documents": [document] * 5, "max_tokens_per_doc":
                                                                   8192}, timeout=300)
    assert too_many.status_code == 413 and "max_rerank_tokens" in too_many.json()["message"]


def test_scores_are_probabilities_and_raw_scores_stay_available(server: str) -> None:
    """Calibrated relevance in [0, 1], non-increasing in rank, comparable across requests: a relevant passage
    scores high and an off-topic best passage scores low, though each is the best of its request."""
    relevant = httpx.post(f"{server}/v2/rerank", timeout=120, json={
        "model": "embedding", "query": "Does vitamin D deficiency cause fractures?",
        "documents": [RELEVANT, OTHERS[0]]}).json()
    off_topic = httpx.post(f"{server}/v2/rerank", timeout=120, json={
        "model": "embedding", "query": "Does vitamin D deficiency cause fractures?", "documents": OTHERS}).json()
    assert relevant["meta"]["siftrag"]["calibrated"] is True
    best, worst = relevant["results"][0]["relevance_score"], off_topic["results"][0]["relevance_score"]
    assert 0.5 < best <= 1 and 0 <= worst < 0.2, (best, worst)
    assert relevant["results"][1]["relevance_score"] <= best
    tei = {"query": "vitamin D and bones", "texts": [OTHERS[0], RELEVANT], "model": "embedding"}
    calibrated = httpx.post(f"{server}/rerank", json=tei, timeout=120).json()
    raw = httpx.post(f"{server}/rerank", json=tei | {"raw_scores": True}, timeout=120).json()
    assert [r["index"] for r in raw] == [r["index"] for r in calibrated]
    assert all(0 <= r["score"] <= 1 for r in calibrated) and raw[0]["score"] != calibrated[0]["score"]
    ours = httpx.post(f"{server}/v1/rerank", timeout=120, headers={"Authorization": f"Bearer {API_KEY}"}, json={
        "query": "Does vitamin D deficiency cause fractures?", "method": "embedding",
        "documents": [{"id": "a", "content": OTHERS[0]}, {"id": "b", "content": RELEVANT}]}).json()
    assert ours["meta"]["calibrated"] is True and [d["id"] for d in ours["documents"]] == ["b", "a"]
    assert 0.5 < ours["documents"][0]["score"] <= 1 and "raw_score" in ours["documents"][0]["meta"]


def test_cohere_v1_client_and_jina_shape_on_v1_rerank_with_aliases(server: str) -> None:
    """Cohere's v1 client and Jina's clients post to /v1/rerank: recognized by shape, answered in theirs, with
    the operator's alias table mapping their model names; our own shape keeps working on the same path."""
    import cohere

    client = cohere.Client(api_key=API_KEY, base_url=server)
    response = client.rerank(model="rerank-v3.5", query="Does vitamin D affect bone health?",
                             documents=[OTHERS[0], RELEVANT, OTHERS[1]], top_n=2, return_documents=True)
    assert [r.index for r in response.results][0] == 1 and len(response.results) == 2
    assert response.results[0].document.text == RELEVANT and 0 <= response.results[1].relevance_score <= 1
    jina = httpx.post(f"{server}/v1/rerank", timeout=120, headers={"Authorization": f"Bearer {API_KEY}"}, json={
        "model": "jina-reranker-v2-base-multilingual", "query": "vitamin D and bones",
        "documents": [OTHERS[0], RELEVANT], "top_n": 1, "return_documents": True})
    assert jina.status_code == 200, jina.text
    assert jina.json()["model"] == "jina-reranker-v2-base-multilingual" and jina.json()["usage"]["total_tokens"] > 0
    assert jina.json()["results"] == [{**jina.json()["results"][0], "index": 1, "document": {"text": RELEVANT}}]
    unaliased = httpx.post(f"{server}/v1/rerank", headers={"Authorization": f"Bearer {API_KEY}"},
                           json={"model": "rerank-english-v3.0", "query": "q", "documents": ["d"]})
    assert unaliased.status_code == 422 and "SIFTRAG_MODEL_ALIASES" in unaliased.text


def test_unknown_optional_fields_are_ignored_with_a_header(server: str) -> None:
    body = {"model": "rerank-v3.5", "query": "vitamin D", "documents": [RELEVANT], "priority": 5,
            "bad\nname": 1}
    response = httpx.post(f"{server}/v2/rerank", json=body, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["X-Siftrag-Ignored"] == "priority, 1 more"
    tei = httpx.post(f"{server}/rerank", json={"query": "q", "texts": ["d"], "new_field": True}, timeout=120)
    assert tei.status_code == 200 and tei.headers["X-Siftrag-Ignored"] == "new_field"
    missing = httpx.post(f"{server}/v2/rerank", json={"model": "embedding", "documents": ["d"], "priority": 1})
    assert missing.status_code == 422 and "query" in missing.json()["message"]
    plain = httpx.post(f"{server}/v2/rerank", json={"model": "embedding", "query": "q", "documents": ["d"]})
    assert "X-Siftrag-Ignored" not in plain.headers
    ours = httpx.post(f"{server}/v1/rerank", headers={"Authorization": f"Bearer {API_KEY}"},
                      json={"query": "q", "method": "embedding", "documents": [{"id": "a", "content": "d"}],
                            "priority": 1})
    assert ours.status_code == 422  # our own shape stays strict


def test_tei_shape_with_truncation(server: str) -> None:
    texts = [OTHERS[0], RELEVANT]
    response = httpx.post(f"{server}/rerank", json={"query": "vitamin D and bones", "texts": texts,
                                                    "return_text": True, "model": "embedding"}, timeout=120)
    assert response.status_code == 200, response.text
    results = response.json()
    assert [r["index"] for r in results] == [1, 0] and results[0]["text"] == RELEVANT and "score" in results[0]
    long_text = FILLER * 3 + " " + RELEVANT
    right = httpx.post(f"{server}/rerank", json={"query": "vitamin D", "texts": [long_text], "truncate": True,
                                                 "model": "embedding"}, timeout=120).json()[0]
    assert right["chunks"] == 1 and right["truncated"] is True


def test_errors_come_in_each_apis_shape(server: str) -> None:
    unknown = httpx.post(f"{server}/v2/rerank", json={"model": "gpt-9", "query": "q", "documents": ["d"]})
    assert unknown.status_code == 422 and "names no rerank method" in unknown.json()["message"]
    path = httpx.post(f"{server}/v2/rerank", json={"model": "icr:/etc/passwd", "query": "q", "documents": ["d"]})
    assert path.status_code == 422 and "only the LLM methods" in path.json()["message"]
    missing = httpx.post(f"{server}/v2/rerank", json={"model": "embedding", "query": "q", "documents": [{"x": 1}]})
    assert missing.status_code == 422 and "no text field 'text'" in missing.json()["message"]
    tei = httpx.post(f"{server}/rerank", json={"query": "q", "texts": []})
    assert tei.status_code == 422 and tei.json()["error_type"] == "Validation" and "texts" in tei.json()["error"]
    long_query = httpx.post(f"{server}/v2/rerank", json={"model": "embedding", "query": "q" * 5000, "documents": ["d"]})
    assert long_query.status_code == 413 and "characters exceeds the limit" in long_query.json()["message"]
    ours = httpx.post(f"{server}/v1/rerank", json={"query": "q", "documents": []})
    assert ours.status_code == 422 and "detail" in ours.json()


def test_haystack_cohere_ranker_reranks_through_v2(server: str) -> None:
    """Haystack's own Cohere integration (cohere-haystack), pointed at our base URL."""
    from haystack import Document
    from haystack.utils import Secret
    from haystack_integrations.components.rankers.cohere import CohereRanker

    ranker = CohereRanker(model="tilde", top_k=2, api_key=Secret.from_token(API_KEY), api_base_url=server)
    documents = [Document(content=OTHERS[0]), Document(content=RELEVANT), Document(content=OTHERS[1])]
    ranked = ranker.run(query="vitamin D bone fractures", documents=documents)["documents"]
    assert [d.content for d in ranked][0] == RELEVANT and len(ranked) == 2
    assert ranked[0].score > ranked[1].score
    default = CohereRanker(api_key=Secret.from_token(API_KEY), api_base_url=server)  # model rerank-v3.5, aliased
    ranked = default.run(query="vitamin D bone fractures", documents=documents)["documents"]
    assert ranked[0].content == RELEVANT and all(0 <= d.score <= 1 for d in ranked)
