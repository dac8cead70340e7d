"""OpenAI-compatible chat on a real uvicorn, through the real `openai` SDK, LangChain's ChatOpenAI and Haystack's
OpenAIChatGenerator: a RAG answer with citations (also as footnotes), streamed as deltas that join to the final
message; stop strings; OpenAI options that are not applied named in a header; follow-up questions retrieved for with
the turn they follow; the oldest turns dropped when the prompt would not fit; unknown citation markers reported;
/v1/models; OpenAI-shaped errors."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from tests.service_processes import API_KEY, start_api, stop

PORT = 8734
QUESTION = "Does vitamin D deficiency affect bone health?"
YES_NO = {"top_k": 2, "answer_format": "yes-no"}
SHORT = {"top_k": 2, "answer_format": "short"}  # the model writes it all (a yes/no head writes the answer's start)
DISCOVERIES = {  # "when" is a BM25 stopword: "When?" alone finds nothing here
    "penicillin": ("Penicillin", ("Penicillin was discovered in 1928 by the Scottish physician Alexander Fleming at "
                                  "St Mary's Hospital in London: a mould had killed the bacteria in a culture dish.")),
    "insulin": ("Insulin", ("Insulin was discovered in 1921 by Frederick Banting and Charles Best at the University "
                            "of Toronto, who extracted it from the pancreas of dogs.")),
    "streptomycin": ("Streptomycin", ("Streptomycin, the first antibiotic against tuberculosis, was isolated in 1943 "
                                      "by Albert Schatz in the laboratory of Selman Waksman.")),
    "fleming-life": ("Alexander Fleming", ("Alexander Fleming was born in 1881 at Lochfield farm near Darvel in "
                                           "Ayrshire, Scotland, and died in London in 1955.")),
}


@pytest.fixture(scope="module")
def discoveries(data_dir: Path) -> str:
    """A small collection where searching a follow-up alone and with its conversation find different passages."""
    from haystack import Document

    from indexes.retriever import collection_manager

    collection = collection_manager().create("discoveries", exist_ok=True)
    collection.store.upsert([Document(id=key, content=text, meta={"title": title})
                             for key, (title, text) in DISCOVERIES.items()])
    collection.build("bm25")
    return "discoveries"


@pytest.fixture(scope="module")
def server(built_slice, discoveries: str, data_dir: Path):
    process = start_api(data_dir, PORT, SIFTRAG_MODEL_ALIASES='{"gpt-4o-mini": "rag:slice"}')
    yield f"http://127.0.0.1:{PORT}"
    stop(process)


@pytest.fixture(scope="module")
def client(server: str):
    import openai

    return openai.OpenAI(base_url=f"{server}/v1", api_key=API_KEY)


def _chat(server: str, **body) -> httpx.Response:
    response = httpx.post(f"{server}/v1/chat/completions", json=body, headers={"X-API-Key": API_KEY}, timeout=300)
    assert response.status_code == 200, response.text
    return response


def test_chat_completion_answers_from_the_collection_with_citations(client) -> None:
    completion = client.chat.completions.create(
        model="rag:slice", messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}],
        max_tokens=48, extra_body=YES_NO)
    message = completion.choices[0].message
    assert message.role == "assistant" and message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    citations = message.model_extra["citations"]
    assert all({"n", "id", "title", "source_ids"} <= set(c) and 1 <= c["n"] <= 2 for c in citations)
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert completion.model_extra["siftrag"]["retrieval_query"] == QUESTION  # a first question is searched as asked


def test_streamed_deltas_join_to_the_answer_and_the_last_chunk_cites(client) -> None:
    options = {"model": "rag:slice", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 48,
               "extra_body": YES_NO}
    whole = client.chat.completions.create(**options).choices[0].message
    chunks = list(client.chat.completions.create(stream=True, **options))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == whole.content  # deltas only, nothing repeated, nothing past the answer's end
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length") and all(
        c.choices[0].finish_reason is None for c in chunks[:-1])
    assert last.choices[0].delta.model_extra["citations"] == whole.model_extra["citations"]


def _stop_inside(text: str) -> str:
    """Two words from the middle of ``text``: a stop string that the answer reaches only after a few tokens."""
    words = text.split()
    assert len(words) >= 4, text
    return " ".join(words[len(words) // 2:len(words) // 2 + 2])


def test_openai_sdk_stop_seed_and_not_applied_options(client) -> None:
    """``stop`` ends the answer before the string (also streamed, the deltas still joining to the message); any
    ``seed`` gives the same (greedy) answer; tools, JSON mode, sampling and fields we do not know are accepted and
    named in X-Siftrag-Ignored, ``response_format: text`` is not."""
    options = {"model": "rag:slice", "messages": [{"role": "user", "content": QUESTION}], "max_tokens": 64}
    raw_full = client.chat.completions.with_raw_response.create(**options, seed=1, response_format={"type": "text"},
                                                                extra_body=SHORT)
    full = raw_full.parse()
    assert "X-Siftrag-Ignored" not in raw_full.headers and full.model_extra["siftrag"]["ignored"] == []
    expected = full.choices[0].message.content
    cut = _stop_inside(expected)
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}}
    raw = client.chat.completions.with_raw_response.create(
        **options, stop=[cut, "\u2603never"], seed=2, response_format={"type": "json_object"}, tools=[tool],
        tool_choice="auto", temperature=0.7, logprobs=True, presence_penalty=0.5, metadata={"team": "a"},
        extra_body={**SHORT, "brand_new_option": {"x": 1}})
    stopped = raw.parse()
    assert stopped.choices[0].message.content == expected[:expected.index(cut)].strip()
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.usage.completion_tokens < full.usage.completion_tokens  # the model stopped there
    ignored = raw.headers["X-Siftrag-Ignored"].split(", ")
    assert {"response_format", "tools", "tool_choice", "temperature", "logprobs", "presence_penalty", "metadata",
            "brand_new_option"} == set(ignored) == set(stopped.model_extra["siftrag"]["ignored"])
    reseeded = client.chat.completions.create(**options, seed=99, extra_body=SHORT)
    assert reseeded.choices[0].message.content == expected
    streamed = list(client.chat.completions.create(**options, stop=cut, stream=True, extra_body=SHORT))
    assert "".join(c.choices[0].delta.content or "" for c in streamed) == stopped.choices[0].message.content


def test_refusals_that_remain(server: str) -> None:
    """``n`` > 1, a fifth stop string, an empty one, and a badly typed option are 422s in OpenAI's shape."""
    base = {"model": "rag:slice", "messages": [{"role": "user", "content": QUESTION}]}
    for extra, field in (({"n": 2}, "n"), ({"stop": list("abcde")}, "stop"), ({"stop": [""]}, "stop"),
                         ({"tools": "lookup"}, "tools"), ({"citation_style": "endnotes"}, "citation_style"),
                         ({"query_rewrite": "llm"}, "query_rewrite")):
        response = httpx.post(f"{server}/v1/chat/completions", json={**base, **extra})
        assert response.status_code == 422, (extra, response.text)
        assert response.json()["error"]["message"].startswith(field), response.text


def test_a_follow_up_is_searched_with_the_question_it_follows(client, server: str) -> None:
    """"Who discovered penicillin?" then "When?": the second turn retrieves for both (the passage on penicillin);
    searched alone, "When?" finds nothing; a follow-up that stands alone is searched as asked."""
    first = client.chat.completions.create(
        model="rag:discoveries", messages=[{"role": "user", "content": "Who discovered penicillin?"}], max_tokens=48,
        extra_body={"top_k": 1, "answer_format": "free"})
    reply = first.choices[0].message.content
    assert first.model_extra["siftrag"]["passages"][0]["id"] == "penicillin"
    conversation = [{"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": "Who discovered penicillin?"}, {"role": "assistant", "content": reply},
                    {"role": "user", "content": "When?"}]
    raw = client.chat.completions.with_raw_response.create(
        model="rag:discoveries", messages=conversation, max_tokens=48, extra_body={"top_k": 1, "answer_format": "free"})
    follow_up = raw.parse().model_extra["siftrag"]
    assert follow_up["retrieval_query"].startswith("Who discovered penicillin?")
    assert follow_up["retrieval_query"].endswith("When?")
    assert unquote(raw.headers["X-Siftrag-Retrieval-Query"]) == follow_up["retrieval_query"]
    assert [p["id"] for p in follow_up["passages"]] == ["penicillin"]
    assert follow_up["history_turns"] == {"given": 1, "used": 1}
    alone = _chat(server, model="rag:discoveries", messages=conversation, max_tokens=8, top_k=1,
                  answer_format="free", query_rewrite="none").json()["siftrag"]
    assert alone["retrieval_query"] == "When?" and alone["passages"] == []
    standalone = [*conversation[:3], {"role": "user", "content": "Who discovered insulin?"}]
    other = _chat(server, model="rag:discoveries", messages=standalone, max_tokens=8, top_k=1,
                  answer_format="free").json()["siftrag"]
    assert other["retrieval_query"] == "Who discovered insulin?" and other["passages"][0]["id"] == "insulin"


def test_headers_carry_any_request_text_safely(server: str) -> None:
    """A retrieval query with a newline and characters beyond Latin-1 comes percent-encoded; an ignored field whose
    name a header cannot carry is listed in the body only."""
    question = [{"role": "user", "content": "Who discovered\npenicillin (青霉素, pénicilline)?"}]
    response = _chat(server, model="rag:discoveries", messages=question, max_tokens=8, top_k=1,
                     answer_format="free", **{"odd name\n": 1, "plain_name": 2})
    body = response.json()["siftrag"]
    assert body["retrieval_query"] == question[0]["content"]
    assert unquote(response.headers["X-Siftrag-Retrieval-Query"]) == body["retrieval_query"]
    assert response.headers["X-Siftrag-Ignored"] == "plain_name, 1 more"
    assert body["ignored"] == ["odd name\n", "plain_name"]


def test_the_oldest_turns_go_first_when_the_prompt_would_not_fit(server: str) -> None:
    """A history longer than the context: the answer comes, from the newest turns that fit beside the room
    ``max_tokens`` asks for."""
    turns = []
    for number in range(40):
        filler = " ".join(f"Streptomycin note {number}.{k} on tuberculosis wards." for k in range(40))
        turns += [{"role": "user", "content": f"Tell me about note {number}."},
                  {"role": "assistant", "content": filler}]
    body = {"model": "rag:discoveries", "messages": [*turns, {"role": "user", "content": "Who discovered insulin?"}],
            "max_tokens": 2000, "stop": "\n", "top_k": 1, "answer_format": "free"}  # room for the answer: less
    # history to read (a full llama.cpp window takes a minute on 2 busy cores); the stop keeps the answer short
    history = _chat(server, **body).json()["siftrag"]["history_turns"]
    assert history["given"] == 40 and 0 < history["used"] < 40


def test_footnotes_end_the_content_also_when_streamed(client) -> None:
    """citation_style footnotes: the text ends with one `[n]: title — id` line per citation (clients that drop extra
    fields still show them); streamed, they come in the last delta and the deltas join to the message."""
    options = {"model": "rag:discoveries", "messages": [{"role": "user", "content": "Who discovered insulin?"}],
               "max_tokens": 32, "extra_body": {"top_k": 2, "answer_format": "free", "citation_style": "footnotes"}}
    message = client.chat.completions.create(**options).choices[0].message
    citations = message.model_extra["citations"]
    assert citations, message.content
    lines = [f"[{c['n']}]: {c['title']} — {c['id']}" for c in citations]
    assert message.content.endswith("\n\n" + "\n".join(lines))
    assert message.content.startswith(client.chat.completions.create(
        **{**options, "extra_body": {**options["extra_body"], "citation_style": "field"}}).choices[0].message.content)
    chunks = list(client.chat.completions.create(stream=True, **options))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == message.content
    assert chunks[-1].choices[0].delta.content.endswith(lines[-1])


def test_markers_that_name_no_passage_are_reported(client) -> None:
    """A bracketed number beyond the passages given is reported beside the citations and in a header, not dropped
    silently."""
    raw = client.chat.completions.with_raw_response.create(
        model="rag:discoveries", max_tokens=24, extra_body={"top_k": 1, "answer_format": "free"},
        messages=[{"role": "user", "content": "Repeat exactly: Insulin [1] was found by Banting [4]."}])
    message = raw.parse().choices[0].message
    markers = {int(n) for n in re.findall(r"\[(\d{1,3})\]", message.content)}
    unknown = message.model_extra["unknown_markers"]
    assert unknown == sorted(n for n in markers if n != 1) and unknown, message.content
    assert raw.headers["X-Siftrag-Unknown-Markers"] == ", ".join(map(str, unknown))
    assert all(c["n"] == 1 for c in message.model_extra["citations"])


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


def test_haystack_openai_chat_generator_chats_with_the_collection(server: str) -> None:
    """Haystack's OpenAIChatGenerator pointed at our base URL, with a system message, stop and seed."""
    from haystack.components.generators.chat import OpenAIChatGenerator
    from haystack.dataclasses import ChatMessage
    from haystack.utils import Secret

    options = {"max_tokens": 64, "seed": 3, "extra_body": SHORT}
    generator = OpenAIChatGenerator(api_key=Secret.from_token(API_KEY), model="rag:slice",
                                    api_base_url=f"{server}/v1", generation_kwargs=options)
    messages = [ChatMessage.from_system("Answer from the passages."), ChatMessage.from_user(QUESTION)]
    reply = generator.run(messages=messages)["replies"][0]
    assert reply.text and reply.meta["finish_reason"] in ("stop", "length")
    assert reply.meta["usage"]["prompt_tokens"] > 0
    cut = _stop_inside(reply.text)
    stopped = generator.run(messages=messages, generation_kwargs={**options, "stop": [cut]})["replies"][0]
    assert stopped.text == reply.text[:reply.text.index(cut)].strip()


def test_langchain_chat_openai_with_only_the_base_url_and_key_changed(server: str) -> None:
    """LangChain's ChatOpenAI as a user configures it for OpenAI (``gpt-4o-mini``, which the operator's alias table
    maps to ``rag:slice``), with our base URL and key: ``invoke`` answers, ``invoke(..., stop=[...])`` ends before
    the stop string, and the extra fields survive in its metadata."""
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(base_url=f"{server}/v1", api_key=API_KEY, model="gpt-4o-mini", max_tokens=48)
    answer = chat.invoke(QUESTION)
    assert answer.content and answer.response_metadata["finish_reason"] in ("stop", "length")
    assert answer.response_metadata["model_name"] == "gpt-4o-mini"
    cut = _stop_inside(answer.content)
    stopped = chat.invoke(QUESTION, stop=[cut])
    assert stopped.content == answer.content[:answer.content.index(cut)].strip()
    streamed = "".join(chunk.content for chunk in chat.stream(QUESTION, stop=[cut]))
    assert streamed == stopped.content
