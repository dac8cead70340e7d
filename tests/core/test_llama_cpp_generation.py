"""Generation on llama.cpp (issue 40) with the bundled SmolLM2 GGUF and the shipped reader adapter: the same
next-token distributions as transformers (up to quantization), the adapter merged like PEFT merges it, the
decoding rules of ``generate`` (stop strings and patterns, the token cap, loop guards, deadlines), the stream, the
prompt-prefix cache, the AMX hand-over, and which engine each path reports."""
from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from core.deadline import run_within
from core.errors import ModelUnavailableError
from core.generation_engine import LLAMA_CPP, llama_cpp_decoder
from core.llama_cpp_decoder import LlamaCppDecoder, _bindings, has_amx
from core.llm_backend import CallCounter, Decoding, LLMBackend
from core.settings import get_settings

MODEL = "smollm2-135m-instruct"
READER = f"{MODEL}+reader-2wiki"
QUESTIONS = ["Which city was the capital of Japan before Tokyo?", "Who wrote Hamlet?",
             "What is the boiling point of water?", "Name a famous painter.", "Why is the sky blue?",
             "Who directed the film Jaws, and when was he born?", "List three fruits.",
             "Which river flows through Paris?"]


def _backend(monkeypatch: pytest.MonkeyPatch, name: str, engine: str) -> LLMBackend:
    monkeypatch.setenv("SIFTRAG_LLM_ENGINE", engine)
    get_settings.cache_clear()
    try:
        return LLMBackend(name)
    finally:
        monkeypatch.delenv("SIFTRAG_LLM_ENGINE")
        get_settings.cache_clear()


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[LLMBackend, LLMBackend]]:
    """(llama.cpp-generating backend, transformers-only backend) of the base model."""
    with pytest.MonkeyPatch.context() as patch:
        yield _backend(patch, MODEL, LLAMA_CPP), _backend(patch, MODEL, "transformers")


@pytest.fixture(scope="module")
def reader_pair() -> Iterator[tuple[LLMBackend, LLMBackend]]:
    with pytest.MonkeyPatch.context() as patch:
        yield _backend(patch, READER, LLAMA_CPP), _backend(patch, READER, "transformers")


def _next_token_logprobs(fast: LLMBackend, slow: LLMBackend, prompt: str) -> tuple[np.ndarray, np.ndarray]:
    ids = slow.encode(prompt)
    fast_logits, _ = fast.fast.start(ids)
    with torch.no_grad():
        slow_logits = slow.model(torch.tensor([ids])).logits[0, -1].numpy()
    return (torch.log_softmax(torch.from_numpy(fast_logits).double(), -1).numpy(),
            torch.log_softmax(torch.from_numpy(slow_logits).double(), -1).numpy())


def _kl(p_log: np.ndarray, q_log: np.ndarray) -> float:
    return float((np.exp(p_log) * (p_log - q_log)).sum())


def test_next_token_distributions_match_transformers(pair: tuple[LLMBackend, LLMBackend]) -> None:
    fast, slow = pair
    for question in QUESTIONS:
        fast_lp, slow_lp = _next_token_logprobs(fast, slow, slow.chat_prompt(question))
        assert int(fast_lp.argmax()) == int(slow_lp.argmax()), question
        assert _kl(slow_lp, fast_lp) < 0.05, question  # Q8_0 weights and activations vs fp32


def test_the_adapter_is_merged_as_peft_merges_it(pair: tuple[LLMBackend, LLMBackend],
                                                  reader_pair: tuple[LLMBackend, LLMBackend]) -> None:
    """Engines agree on the adapter's distribution far more closely than the adapter differs from the base: a
    wrong name map, scale or q/k row order would put llama.cpp's merged model far from PEFT's."""
    fast, slow = reader_pair
    base_fast, _ = pair
    engine_gap, adapter_gap = [], []
    for question in QUESTIONS:
        prompt = slow.chat_prompt(question)
        fast_lp, slow_lp = _next_token_logprobs(fast, slow, prompt)
        base_lp, _ = _next_token_logprobs(base_fast, slow, prompt)
        assert int(fast_lp.argmax()) == int(slow_lp.argmax()), question
        engine_gap.append(_kl(slow_lp, fast_lp))
        adapter_gap.append(_kl(slow_lp, base_lp))
    assert max(engine_gap) < 0.05
    assert np.mean(adapter_gap) > 10 * np.mean(engine_gap)


def test_generation_follows_generates_rules(pair: tuple[LLMBackend, LLMBackend]) -> None:
    fast, _ = pair
    prompt = fast.chat_prompt("Write a long story about a cat who travels the world.")
    counter = CallCounter()
    capped = fast.generate(prompt, 12, counter)
    assert capped.engine == LLAMA_CPP and capped.finish_reason == "length"
    assert len(capped.token_ids) == len(capped.logprobs) == len(capped.entropies) == 12
    assert all(lp <= 0 for lp in capped.logprobs) and all(e >= 0 for e in capped.entropies)
    assert counter.as_dict()["generation_engine"] == LLAMA_CPP and counter.generated_tokens == 12
    words = capped.text.split()
    stop = words[2]
    stopped = fast.generate(prompt, 40, stop_strings=[stop])
    assert stopped.finish_reason == "stop" and stop in stopped.text and len(stopped.token_ids) < 12
    cut = fast.generate(prompt, 40, decoding=Decoding(stop=re.compile(re.escape(words[1]))))
    assert cut.finish_reason == "stop" and cut.text.endswith(words[1])
    looping = fast.generate(prompt, 120, decoding=Decoding(no_repeat_ngram_size=2))
    pairs = list(zip(looping.token_ids, looping.token_ids[1:]))
    assert len(pairs) == len(set(pairs))  # no bigram twice in the answer
    ended = fast.generate(fast.chat_prompt("Say only the word yes."), 60)
    assert ended.finished and ended.finish_reason == "stop" and len(ended.token_ids) < 60
    stopped_early = CallCounter()
    assert run_within(lambda: fast.generate(prompt, 400, stopped_early), 100) is None
    with fast.lock:  # the generation gave the model back at its next step after the deadline
        assert 0 < stopped_early.generated_tokens < 400


def test_repetition_penalty_matches_transformers_rule(pair: tuple[LLMBackend, LLMBackend]) -> None:
    fast, slow = pair
    prompt = slow.chat_prompt("Repeat the word cat ten times.")
    plain = fast.generate(prompt, 16)
    penalized = fast.generate(prompt, 16, decoding=Decoding(repetition_penalty=1.8))
    reference = slow.generate(prompt, 16, decoding=Decoding(repetition_penalty=1.8))
    assert penalized.text != plain.text
    assert penalized.token_ids[:4] == reference.token_ids[:4]


def test_the_stream_yields_what_generate_returns(pair: tuple[LLMBackend, LLMBackend]) -> None:
    fast, _ = pair
    prompt = fast.chat_prompt("Who wrote Hamlet?")
    whole = fast.generate(prompt, 40)
    counter = CallCounter()
    stream = fast.stream(prompt, 40, threading.Event(), counter)
    pieces = []
    try:
        while True:
            pieces.append(next(stream))
    except StopIteration as done:
        reason = done.value
    assert "".join(pieces) == whole.text and reason == whole.finish_reason
    assert len(pieces) > 3 and counter.as_dict()["generation_engine"] == LLAMA_CPP
    cancel = threading.Event()
    cancelled = fast.stream(fast.chat_prompt("Write a long story about a dog."), 200, cancel)
    next(cancelled)
    cancel.set()
    with pytest.raises(StopIteration) as done:
        for _ in range(200):
            next(cancelled)
    assert done.value.value == "cancelled"


def test_a_shared_prompt_prefix_is_read_once(pair: tuple[LLMBackend, LLMBackend]) -> None:
    fast, _ = pair
    passages = " ".join(f"Passage {n}: the river Seine flows through Paris and Rouen." for n in range(20))
    first, second = CallCounter(), CallCounter()
    fast.generate(fast.chat_prompt(passages + " Which river flows through Paris?"), 4, first)
    again = fast.generate(fast.chat_prompt(passages + " Which city lies on the Seine?"), 4, second)
    assert second.prompt_tokens < first.prompt_tokens / 3
    fast.fast.start([1])  # forget the cache: the same prompt read whole gives the same answer
    assert fast.generate(fast.chat_prompt(passages + " Which city lies on the Seine?"), 4).text == again.text


@pytest.mark.skipif(not has_amx(_bindings()), reason="AMX decoding runs only on CPUs with AMX")
def test_amx_decoding_gives_the_distributions_of_one_copy(pair: tuple[LLMBackend, LLMBackend]) -> None:
    """Teacher-forced on the same tokens, the AMX copy and a single copy predict alike at every step."""
    fast, _ = pair
    one_copy = LlamaCppDecoder(fast.fast.gguf_path, fast.fast.context_length, torch.get_num_threads(),
                               amx_decoding=False)
    ids = fast.encode(fast.chat_prompt("Write a long story about a cat who travels the world."))
    amx_logits, _ = fast.fast.start(ids)
    plain_logits, _ = one_copy.start(ids)
    gaps, agreed = [], 0
    for _ in range(60):
        amx_lp = torch.log_softmax(torch.from_numpy(amx_logits).double(), -1).numpy()
        plain_lp = torch.log_softmax(torch.from_numpy(plain_logits).double(), -1).numpy()
        gaps.append(_kl(plain_lp, amx_lp))
        token = int(amx_lp.argmax())
        agreed += token == int(plain_lp.argmax())
        amx_logits, plain_logits = fast.fast.advance(token), one_copy.advance(token)
    one_copy.close()
    assert max(gaps) < 0.05 and agreed >= 57


def test_the_engine_setting_is_obeyed(pair: tuple[LLMBackend, LLMBackend]) -> None:
    _, slow = pair
    assert slow.fast is None
    generation = slow.generate(slow.chat_prompt("Who wrote Hamlet?"), 4)
    assert generation.engine == "transformers"
    with pytest.raises(ModelUnavailableError, match="not a local GGUF model"):
        llama_cpp_decoder("someone/some-model", slow.config, 2048, 1, LLAMA_CPP)
    assert llama_cpp_decoder("someone/some-model", slow.config, 2048, 1, "auto") is None
