"""Greedy decoding over a llama.cpp decoder with transformers' rules, step by step.

Each step reads the raw next-token logits, records the chosen token's log-prob and the distribution's entropy (as
``LLMBackend.generate`` does from ``output_logits``), applies transformers' ``repetition_penalty`` (over the prompt
and the answer, each distinct token once) and ``no_repeat_ngram_size`` (no n-gram of the whole sequence twice),
and takes the argmax. The caller decides when to stop: it stops iterating.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from core.deadline import check_deadline
from core.llama_cpp_decoder import LlamaCppDecoder


@dataclass(frozen=True)
class Step:
    token_id: int
    logprob: float
    entropy: float


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - float(logits.max())
    return shifted - np.log(np.exp(shifted).sum())


def _penalize_repeats(logits: np.ndarray, sequence: list[int], penalty: float) -> None:
    seen = np.fromiter(set(sequence), dtype=np.int64)
    values = logits[seen]
    logits[seen] = np.where(values < 0, values * penalty, values / penalty)


def _ban_repeated_ngrams(logits: np.ndarray, sequence: list[int], size: int) -> None:
    if len(sequence) + 1 < size:
        return
    tail = tuple(sequence[len(sequence) - size + 1:])
    banned = [sequence[i + size - 1] for i in range(len(sequence) - size + 1)
              if tuple(sequence[i:i + size - 1]) == tail]
    logits[banned] = -np.inf


def greedy_steps(decoder: LlamaCppDecoder, prompt_ids: list[int], max_new_tokens: int,
                 repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                 prompt_tokens_read: Callable[[int], None] | None = None) -> Iterator[Step]:
    """Greedy tokens after ``prompt_ids``, at most ``max_new_tokens``; the request's deadline is checked before
    each step. ``prompt_tokens_read`` is told how many prompt tokens the model read (the rest came from its
    cache)."""
    check_deadline()
    logits, read = decoder.start(prompt_ids)
    if prompt_tokens_read:
        prompt_tokens_read(read)
    sequence = list(prompt_ids)
    for step in range(max_new_tokens):
        if step:
            check_deadline()
            logits = decoder.advance(sequence[-1])
        distribution = _log_softmax(logits)
        if repetition_penalty != 1.0:
            _penalize_repeats(logits, sequence, repetition_penalty)
        if no_repeat_ngram_size:
            _ban_repeated_ngrams(logits, sequence, no_repeat_ngram_size)
        token = int(np.argmax(logits))
        sequence.append(token)
        yield Step(token, float(distribution[token]), float(-(np.exp(distribution) * distribution).sum()))
