"""Cross-request batching of next-token log-probs on the bundled SmolLM2: concurrent requests share forward
passes and get the rows they would get alone; rankings do not change; deadlines still apply."""
from __future__ import annotations

import threading
import time

import pytest
import torch
from haystack import Document

from core.deadline import DeadlineExceeded, run_within
from core.llm_backend import CallCounter, get_llm
from core.next_token_batcher import NextTokenBatcher
from rerankers.registry import make_reranker

MODEL = "smollm2-135m-instruct"
QUERIES = ["vitamin D and bone health", "the capital of France", "how plants make sugar", "ocean tides and the moon"]
PASSAGES = ["Vitamin D deficiency lowers bone mineral density.", "Paris is the capital and largest city of France.",
            "Photosynthesis turns light, water and carbon dioxide into sugar.", "The moon's gravity raises the tides.",
            "The Eiffel Tower was finished in 1889.", "Calcium and vitamin D supplements reduce fractures in the old."]


@pytest.fixture(scope="module")
def llm():
    return get_llm(MODEL)


def _counting_batcher(llm, wait_ms: float, calls: list[int], max_tokens: int = 8192) -> NextTokenBatcher:
    def forward(prompt_ids: list[list[int]]):
        calls.append(len(prompt_ids))
        return llm.forward_next_token(prompt_ids)

    return NextTokenBatcher(forward, llm.encode_prompts, MODEL, wait_ms, max_tokens)


def _lengths(llm, prompts: list[str]) -> list[int]:
    return [len(ids) for ids in llm.encode_prompts(prompts)]


def _concurrently(work, arguments: list) -> list:
    results: list = [None] * len(arguments)
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, work(arguments[i])))
               for i in range(len(arguments))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_requests_share_forward_passes_and_get_their_own_rows(llm) -> None:
    requests = [[llm.chat_prompt(f"Passage: {p}\nQuery: {q}\nRelevant? Yes or No.") for p in PASSAGES] for q in QUERIES]
    alone = [llm.forward_next_token(llm.encode_prompts([prompt]))[0][0] for prompts in requests for prompt in prompts]
    calls: list[int] = []
    batcher = _counting_batcher(llm, wait_ms=200, calls=calls)
    results = _concurrently(batcher.logprobs, requests)
    rows = [row for logprobs, _, _ in results for row in logprobs]
    assert len(rows) == len(alone) == 24
    for row, single in zip(rows, alone):
        assert torch.allclose(row, single, atol=2e-3) and row.argmax() == single.argmax()
    assert sum(calls) == 24 and len(calls) < 4, f"4 requests of 6 prompts ran as {calls}, not shared passes"
    assert all(tokens == sum(_lengths(llm, prompts)) for (_, _, tokens), prompts in zip(results, requests))


def test_forward_passes_respect_the_token_budget(llm) -> None:
    prompts = [llm.chat_prompt("Hi."), llm.chat_prompt("Hello there."), llm.chat_prompt(" ".join(["word"] * 200))]
    lengths = _lengths(llm, prompts)
    batcher = _counting_batcher(llm, 0, [], max_tokens=2 * max(lengths[:2]) + 1)
    groups = batcher.chunks(lengths)
    assert sorted(i for group in groups for i in group) == [0, 1, 2]
    assert all(len(group) * max(lengths[i] for i in group) <= batcher.max_tokens or len(group) == 1
               for group in groups)
    assert groups[-1] == [2], "the long prompt runs in its own pass"


def test_rankings_under_concurrency_equal_rankings_alone() -> None:
    """FIRST and pointwise with 4 concurrent clients (the shared backend batches them) rank as each does alone."""
    documents = [Document(id=str(i), content=p) for i, p in enumerate(PASSAGES)]
    for method in ("pointwise", "first"):
        reranker = make_reranker(method, model=MODEL, top_k=len(documents), passage_words=30)
        alone = [[d.id for d in reranker.run(query=q, documents=documents)["documents"]] for q in QUERIES]
        together = _concurrently(lambda q: [d.id for d in reranker.run(query=q, documents=documents)["documents"]],
                                 QUERIES)
        assert together == alone, method


def test_a_request_past_its_deadline_stops_and_its_lone_pass_is_skipped(llm) -> None:
    calls: list[int] = []
    batcher = _counting_batcher(llm, wait_ms=300, calls=calls)
    prompts = [llm.chat_prompt("Say hello.")]
    began = time.monotonic()
    assert run_within(lambda: batcher.logprobs(prompts), deadline_ms=50) is None
    assert time.monotonic() - began < 0.25
    time.sleep(0.4)  # the batch closes after its 300 ms wait: its only request has gone, so nothing runs
    assert calls == []
    raised: list[type] = []

    def late() -> None:  # still running after its deadline: it must not queue its prompts
        time.sleep(0.1)
        try:
            batcher.logprobs(prompts)
        except DeadlineExceeded as error:
            raised.append(type(error))

    assert run_within(late, deadline_ms=10) is None
    time.sleep(0.2)
    assert raised == [DeadlineExceeded] and calls == []
    counter = CallCounter()
    llm.next_token_logprobs(prompts, counter)
    assert counter.forward_passes == 1 and counter.prompt_tokens == _lengths(llm, prompts)[0]
