"""Cohere- and TEI-compatible rerank routes on a real uvicorn: the Cohere SDK reranks through /v2/rerank, long
documents are chunked and score their best chunk, and errors come in each API's own shape."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.service_processes import API_KEY, start_api, stop

PORT = 8733
BASE = f"http://127.0.0.1:{PORT}"
RELEVANT = "Vitamin D deficiency lowers bone mineral density and raises the risk of fractures."
OTHERS = ["The Eiffel Tower is a wrought-iron lattice tower in Paris.",
          "Photosynthesis converts light energy into chemical energy in plants."]
FILLER = " ".join(f"The committee met on day {n} to discuss the harbour budget and the ferry timetable." for n in
                  range(25))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    data_dir: Path = tmp_path_factory.mktemp("compat-data")
    process = start_api(data_dir, PORT)
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
    long_document = FILLER + " " + RELEVANT  # the relevant part is at its very end
    body = {"model": "embedding", "query": "Does vitamin D deficiency cause fractures?",
            "documents": [OTHERS[1], long_document], "max_tokens_per_doc": 64, "return_documents": True}
    response = httpx.post(f"{server}/v2/rerank", json=body, timeout=120)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["index"] == 1 and results[0]["chunks"] > 1 and results[0]["truncated"] is False
    assert results[0]["document"] == {"text": long_document} and results[1]["chunks"] == 1
    assert response.json()["usage"]["total_tokens"] > 64
    cut = httpx.post(f"{server}/v2/rerank", json=body | {"max_chunks_per_doc": 1}, timeout=120).json()["results"]
    assert next(r for r in cut if r["index"] == 1)["truncated"] is True
    v1 = httpx.post(f"{server}/v2/rerank", timeout=120, json={
        "model": "embedding", "query": "vitamin D", "rank_fields": ["title", "body"],
        "documents": [{"title": "Tower", "body": OTHERS[0]}, {"title": "Vitamin D", "body": RELEVANT}]})
    assert v1.status_code == 200 and v1.json()["results"][0]["index"] == 1


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
