"""The shared LLM backend on the bundled SmolLM2-135M-Instruct."""
from __future__ import annotations

import re
import threading

import pytest
import torch

from core.llm_backend import CallCounter, Decoding, get_llm

MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def llm():
    return get_llm(MODEL)


def test_query_span_attention_equals_full_eager_rows(llm) -> None:
    ids = llm.encode("Paris is the capital of France. Berlin is the capital of Germany. Which city is in France?")
    split = 12
    full = llm.full_attention(ids)
    rows = llm.query_attention(ids[:split], [ids[split:], ids[split:split + 3]])
    assert rows[0].shape == (len(full), full[0].shape[0], len(ids) - split, len(ids))
    for layer in (0, 14, len(full) - 1):
        assert torch.allclose(rows[0][layer], full[layer][:, split:, :], atol=1e-4)
    # the second span reuses the same prefix cache (cropped back after the first span)
    assert torch.allclose(rows[1][3], full[3][:, split:split + 3, : split + 3], atol=1e-4)


def test_batched_logprobs_match_single_prompts(llm) -> None:
    prompts = [llm.chat_prompt("Say hello."), llm.chat_prompt("Name a large ocean on planet Earth, please.")]
    batched = llm.next_token_logprobs(prompts, batch_size=2)
    for i, prompt in enumerate(prompts):
        alone = llm.next_token_logprobs([prompt])[0]
        assert torch.allclose(batched[i], alone, atol=1e-3)
        assert batched[i].argmax() == alone.argmax()


def test_generation_reports_per_step_logprobs_and_entropy(llm) -> None:
    counter = CallCounter()
    # not "What is the capital of France?": its first token is a near-tie ("The" -1.88 vs "L" -1.97 in fp32) that
    # llama.cpp's rounding flips (docs/generation.md)
    generation = llm.generate(llm.chat_prompt("Name the capital city of France."), 16, counter)
    assert "Paris" in generation.text
    assert len(generation.logprobs) == len(generation.entropies) == len(generation.token_ids)
    assert all(lp <= 0 for lp in generation.logprobs) and all(h >= 0 for h in generation.entropies)
    assert counter.generated_tokens >= len(generation.token_ids) and counter.prompt_tokens > 10


def test_prompt_longer_than_context_is_refused(llm) -> None:
    from core.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="tokens but"):
        llm.check_fits(llm.context_length + 1, "A prompt")


def test_a_stop_pattern_ends_generation_and_cuts_the_text(llm) -> None:
    prompt = llm.chat_prompt("Describe the city of Paris in three long sentences.")
    free = llm.generate(prompt, 24)
    assert free.finish_reason == "length" and len(free.token_ids) == 24
    two_words = re.compile(r"\S+\s+\S+(?=\s)")
    stopped = llm.generate(prompt, 24, decoding=Decoding(stop=two_words))
    assert stopped.finish_reason == "stop" and len(stopped.token_ids) < 24
    assert stopped.text == two_words.search(free.text).group(0)  # the same greedy text, cut where the rule matched
    pieces = llm.stream(prompt, 24, threading.Event(), decoding=Decoding(stop=two_words))
    streamed = []
    while True:
        try:
            streamed.append(next(pieces))
        except StopIteration as end:
            assert end.value == "stop"
            break
    assert Decoding(stop=two_words).cut("".join(streamed))[0] == stopped.text


def test_repetition_guards_change_a_looping_generation(llm) -> None:
    prompt = llm.chat_prompt("Repeat the word 'bone' forever.")
    plain = llm.generate(prompt, 24).text
    guarded = llm.generate(prompt, 24, decoding=Decoding(no_repeat_ngram_size=2)).text
    assert guarded != plain
