"""OpenAI-compatible chat on a real uvicorn, through the real `openai` SDK: a RAG answer with citations, streamed
as deltas that join to the final message with the citations in the last chunk; /v1/models; OpenAI-shaped errors."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.service_processes import API_KEY, start_api, stop

PORT = 8734
QUESTION = "Does vitamin D deficiency affect bone health?"


@pytest.fixture(scope="module")
def server(built_slice, data_dir: Path):
    process = start_api(data_dir, PORT)
    yield f"http://127.0.0.1:{PORT}"
    stop(process)


@pytest.fixture(scope="module")
def client(server: str):
    import openai

    return openai.OpenAI(base_url=f"{server}/v1", api_key=API_KEY)


def test_chat_completion_answers_from_the_collection_with_citations(client) -> None:
    completion = client.chat.completions.create(
        model="rag:slice", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
        max_tokens=48, extra_body={"top_k": 2, "answer_format": "yes-no"})
    message = completion.choices[0].message
    assert message.role == "assistant" and message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    citations = message.model_extra["citations"]
    assert all({"n", "id", "title", "source_ids"} <= set(c) and 1 <= c["n"] <= 2 for c in citations)
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0


def test_streamed_deltas_join_to_the_answer_and_the_last_chunk_cites(client) -> None:
    options = {"model": "rag:slice", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 48,
               "extra_body": {"top_k": 2, "answer_format": "yes-no"}}
    whole = client.chat.completions.create(**options).choices[0].message
    chunks = list(client.chat.completions.create(stream=True, **options))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.content  # deltas only, nothing repeated, nothing past the answer's end
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length") and all(
        c.choices[0].finish_reason is None for c in chunks[:-1])
    assert last.choices[0].delta.model_extra["citations"] == whole.model_extra["citations"]


def test_models_and_openai_shaped_errors(client, server: str) -> None:
    import openai

    names = [m.id for m in client.models.list()]
    assert "rag:slice" in names and "smollm2-135m-instruct" in names
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="rag:nope", messages=[{"role": "user", "content": "q"}])
    assert "nope" in missing.value.body["message"]
    with pytest.raises(openai.UnprocessableEntityError) as no_collection:
        client.chat.completions.create(model="smollm2-135m-instruct", messages=[{"role": "user", "content": "q"}])
    assert "name a collection" in no_collection.value.body["message"]
    raw = httpx.post(f"{server}/v1/chat/completions", json={"model": "/etc/passwd", "collection": "slice",
                                                            "messages": [{"role": "user", "content": "q"}]})
    assert raw.status_code == 422 and raw.json()["error"]["type"] == "invalid_request_error"
    huge = httpx.post(f"{server}/v1/chat/completions", json={
        "model": "rag:slice", "rerank": "first", "candidates": 1_000_000,
        "messages": [{"role": "user", "content": "q"}]})
    assert huge.status_code == 413 and "passages per question" in huge.json()["error"]["message"]


def test_haystack_and_langchain_openai_integrations_chat_with_the_collection(server: str) -> None:
    """Haystack's OpenAIChatGenerator and LangChain's ChatOpenAI, pointed at our base URL, answer from the
    collection; the citations travel in the message (LangChain keeps the extra field in its metadata)."""
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage
    from haystack.utils import Secret
    from langchain_openai import ChatOpenAI

    options = {"max_tokens": 48, "extra_body": {"top_k": 2, "answer_format": "yes-no"}}
    generator = OpenAIChatGenerator(api_key=Secret.from_token(API_KEY), model="rag:slice",
                                    api_base_url=f"{server}/v1", generation_kwargs=options)
    reply = generator.run(messages=[ChatMessage.from_user(QUESTION)])["replies"][0]
    assert reply.text and reply.meta["finish_reason"] in ("stop", "length")
    assert reply.meta["usage"]["prompt_tokens"] > 0
    chat = ChatOpenAI(base_url=f"{server}/v1", api_key=API_KEY, model="rag:slice", max_tokens=48,
                      extra_body=options["extra_body"])
    message = chat.invoke(QUESTION)
    assert message.content == reply.text  # greedy decoding: the same answer through either client
