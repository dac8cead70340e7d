"""Cross-request batching of next-token log-probs, the scoring primitive of FIRST, pointwise and full-ranking
logits: the prompts of concurrent requests are sorted by length and run as padded forward passes of at most
``max_tokens`` tokens (padding included), then each request gets its rows back.

A request's deadline still applies: it is checked before the prompts are queued and after the rows come back,
and a forward pass whose requests have all passed their deadlines is skipped.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.deadline import DeadlineScope, check_deadline, current_deadline, expired
from core.micro_batcher import MicroBatcher

Forward = Callable[[list[list[int]]], tuple[torch.Tensor, list[int]]]  # token ids → ([n, vocab] log-probs, counts)
SKIPPED = torch.empty(0)  # the row of a prompt whose request has gone (its caller raises before reading it)


@dataclass(frozen=True)
class ScoredPrompt:
    logprobs: torch.Tensor  # [vocab] log-probs of the next token
    tokens: int  # the prompt's own tokens (no padding)
    forward: int  # which forward pass computed it (a request counts the distinct ones)


class NextTokenBatcher:
    """Next-token log-probs for the prompts of concurrent callers, in shared padded forward passes."""

    def __init__(self, forward: Forward, encode: Callable[[list[str]], list[list[int]]], name: str,
                 max_wait_ms: float, max_tokens: int, max_prompts: int = 256) -> None:
        self.forward = forward
        self.encode = encode
        self.max_tokens = max_tokens
        self._forwards = itertools.count()
        self._batcher: MicroBatcher[tuple[str, DeadlineScope | None], ScoredPrompt] = MicroBatcher(
            self._run, max_wait_ms, max_prompts, f"next-token {name}")

    def logprobs(self, prompts: Sequence[str]) -> tuple[torch.Tensor, int, int]:
        """([len(prompts), vocab] log-probs, forward passes that held them, prompt tokens)."""
        check_deadline()
        scope = current_deadline()
        results = self._batcher.run([(prompt, scope) for prompt in prompts])
        check_deadline()
        return (torch.stack([r.logprobs for r in results]), len({r.forward for r in results}),
                sum(r.tokens for r in results))

    def _run(self, items: list[tuple[str, DeadlineScope | None]]) -> list[ScoredPrompt]:
        prompt_ids = self.encode([prompt for prompt, _ in items])  # tokenized once: grouped, then run
        lengths = [len(ids) for ids in prompt_ids]
        results: list[ScoredPrompt | None] = [None] * len(items)
        for chunk in self.chunks(lengths):
            forward = next(self._forwards)
            if all(expired(items[i][1]) for i in chunk):
                for i in chunk:
                    results[i] = ScoredPrompt(SKIPPED, lengths[i], forward)
                continue
            rows, tokens = self.forward([prompt_ids[i] for i in chunk])
            for i, row, count in zip(chunk, rows, tokens):
                results[i] = ScoredPrompt(row, count, forward)
        return [r for r in results if r is not None]

    def chunks(self, lengths: list[int]) -> list[list[int]]:
        """``token_groups`` of the prompts under this batcher's ``max_tokens``."""
        return token_groups(lengths, self.max_tokens)


def token_groups(lengths: list[int], max_tokens: int) -> list[list[int]]:
    """Indexes of the prompts of ``lengths`` tokens, shortest first, grouped so that rows × longest ≤ ``max_tokens``
    (a prompt longer than that forms its own group)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for index in order:
        if groups and (len(groups[-1]) + 1) * lengths[index] <= max_tokens:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups
