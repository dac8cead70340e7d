"""Pointwise LLM relevance: P(Yes) for each query–passage pair, batched (cross-encoder-style baseline)."""
from __future__ import annotations

from typing import Any

import torch
from haystack import Document, component

from core.llm_backend import CallCounter
from rerankers.llm_reranker import LLMReranker, Ranking


@component
class PointwiseReranker(LLMReranker):
    """score = log P(Yes) − log(P(Yes) + P(No)) after "Does the passage answer the query?"."""

    method = "pointwise"

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int = 100,
                 batch_size: int = 8) -> None:
        LLMReranker.__init__(self, model, top_k, passage_words)
        self.batch_size = batch_size

    def init_parameters(self) -> dict[str, Any]:
        return {**LLMReranker.init_parameters(self), "batch_size": self.batch_size}

    def prompt(self, query: str, passage: str) -> str:
        """The chat prompt for one pair; the next token is read as "Yes" or "No" (training uses it too)."""
        return self.llm.chat_prompt(f"Passage: {passage}\nQuery: {query}\n"
                                    "Does the passage answer the query? Answer 'Yes' or 'No'.")

    def answer_token_ids(self) -> tuple[int, int]:
        """The first token of "Yes" and of "No"."""
        return self.llm.encode("Yes")[0], self.llm.encode("No")[0]

    def _rank(self, query: str, documents: list[Document], counter: CallCounter) -> Ranking:
        yes, no = self.answer_token_ids()
        prompts = [self.prompt(query, passage) for passage in self.passages(documents)]
        logprobs = self.llm.next_token_logprobs(prompts, counter, batch_size=self.batch_size)
        pair = logprobs[:, [yes, no]]
        scores = pair[:, 0] - torch.logsumexp(pair, dim=1)
        return sorted(((i, float(s)) for i, s in enumerate(scores)), key=lambda x: (-x[1], x[0]))
