"""Full ranking: every candidate in one long-context prompt, no sliding windows.

``mode="generate"`` writes the whole permutation in one pass (Sliding Windows Are Not the End);
``mode="logits"`` reads the ranking of all candidates from the first identifier's logits (one forward).
"""
from __future__ import annotations

from typing import Any

import torch
from haystack import Document, component

from core.errors import InvalidInputError
from core.llm_backend import CallCounter
from rerankers.identifiers import single_token_identifiers
from rerankers.listwise_generation import TOKENS_PER_IDENTIFIER
from rerankers.listwise_prompt import SYSTEM, listwise_user_message
from rerankers.llm_reranker import LLMReranker, Ranking, scores_from_order
from rerankers.permutation import parse_permutation

MODES = ("generate", "logits")


@component
class FullRankingReranker(LLMReranker):
    """All candidates at once; a prompt that cannot fit the context is an error, never a cut list."""

    method = "fullrank"

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int = 100,
                 mode: str = "generate") -> None:
        if mode not in MODES:
            raise InvalidInputError(f"Unknown full-ranking mode '{mode}': use one of {', '.join(MODES)}.")
        LLMReranker.__init__(self, model, top_k, passage_words)
        self.mode = mode
        self.method = "fullrank" if mode == "generate" else "fullrank-logits"

    def init_parameters(self) -> dict[str, Any]:
        return {**LLMReranker.init_parameters(self), "mode": self.mode}

    def _rank(self, query: str, documents: list[Document], counter: CallCounter) -> Ranking:
        identifiers = single_token_identifiers(self.llm.tokenizer, len(documents))
        labels = list(identifiers.labels)
        user = listwise_user_message(query, self.passages(documents), labels)
        if self.mode == "logits":
            prompt = self.llm.chat_prompt(user, SYSTEM, identifiers.primer)
            row = self.llm.next_token_logprobs([prompt], counter)[0]
            scores = row[torch.tensor(identifiers.token_ids)]
            return sorted(((i, float(scores[i])) for i in range(len(documents))), key=lambda x: (-x[1], x[0]))
        prompt = self.llm.chat_prompt(user, SYSTEM)
        generation = self.llm.generate(prompt, TOKENS_PER_IDENTIFIER * len(documents) + 8, counter)
        return scores_from_order(parse_permutation(generation.text, labels))
