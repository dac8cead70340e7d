"""FIRST: listwise ranking from the logits of the first generated identifier (one forward per window)."""
from __future__ import annotations

import torch
from haystack import component

from rerankers.windowed_listwise import WindowedListwiseReranker, WindowJob


@component
class FirstReranker(WindowedListwiseReranker):
    """The assistant turn is primed up to the identifier ("[" for most tokenizers); the next-token
    log-probs of the identifier tokens A, B, … order the window (Reddy et al., 2024)."""

    method = "first"

    def _order_windows(self, jobs: list[WindowJob]) -> list[list[int]]:
        prompts, token_ids = [], []
        for query, documents, counter in jobs:
            prompt, identifiers = self.prompt(query, documents, primed=True, counter=counter)
            prompts.append(prompt)
            token_ids.append(list(identifiers.token_ids))
        logprobs = self.llm.next_token_logprobs(prompts, batch_size=self.batch_size)
        orders = []
        for prompt, row, ids, (_, _, counter) in zip(prompts, logprobs, token_ids, jobs):
            counter.forward_passes += 1
            counter.prompt_tokens += self.llm.count_tokens(prompt)
            scores = row[torch.tensor(ids)]
            orders.append(sorted(range(len(ids)), key=lambda i: (-float(scores[i]), i)))
        return orders
