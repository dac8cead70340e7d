"""Pointwise LLM relevance: P(Yes) for each query–passage pair, batched (cross-encoder-style baseline)."""
from __future__ import annotations

from typing import Any

import torch
from haystack import Document, component

from core.llm_backend import CallCounter
from core.prompt_template import PromptTemplate, parse_template
from rerankers.llm_reranker import LLMReranker, Ranking


class PointwiseTemplate(PromptTemplate):
    """The user turn (and an optional system message) and the two answer words whose first tokens are read."""

    system_message: str = ""
    user: str = "Passage: {passage}\nQuery: {query}\nDoes the passage answer the query? Answer 'Yes' or 'No'."
    yes: str = "Yes"
    no: str = "No"

    placeholders = {"user": (("passage", "query"), ())}

    def problems(self) -> list[str]:
        words_differ = self.yes.strip() and self.no.strip() and self.yes != self.no
        return super().problems() + ([] if words_differ else ["yes and no must be two different, non-empty "
                                                              "words"])


@component
class PointwiseReranker(LLMReranker):
    """score = log P(Yes) − log(P(Yes) + P(No)) after "Does the passage answer the query?"."""

    method = "pointwise"

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int | None = None,
                 batch_size: int = 8, template: dict[str, str] | None = None,
                 first_stage_weight: float | None = None) -> None:
        """``template``: the sections ``system_message`` (empty: none), ``user`` ({passage}, {query}), ``yes``
        and ``no``; None = the prompt the shipped pointwise adapters were trained on. ``first_stage_weight`` > 0
        interpolates the min-max normalized scores with the candidates' first-stage scores (``score_fusion``).
        With no arguments: the shipped adapter with its passage cut and first-stage weight, as the API serves."""
        LLMReranker.__init__(self, model, top_k, passage_words, first_stage_weight)
        self.batch_size = batch_size
        self.template = parse_template(PointwiseTemplate, template, "pointwise")

    def init_parameters(self) -> dict[str, Any]:
        return {**LLMReranker.init_parameters(self), "batch_size": self.batch_size,
                "template": self.template.model_dump()}

    def prompt(self, query: str, passage: str) -> str:
        """The chat prompt for one pair; the next token is read as "Yes" or "No" (training uses it too)."""
        user = self.template.user.format(passage=passage, query=query)
        return self.llm.chat_prompt(user, self.template.system_message or None)

    def answer_token_ids(self) -> tuple[int, int]:
        """The first token of the template's "Yes" and of its "No"."""
        return self.llm.encode(self.template.yes)[0], self.llm.encode(self.template.no)[0]

    def _rank(self, query: str, documents: list[Document], counter: CallCounter) -> Ranking:
        yes, no = self.answer_token_ids()
        prompts = [self.prompt(query, passage) for passage in self.passages(documents)]
        logprobs = self.llm.next_token_logprobs(prompts, counter, batch_size=self.batch_size)
        pair = logprobs[:, [yes, no]]
        scores = (pair[:, 0] - torch.logsumexp(pair, dim=1)).float().cpu().numpy()
        return sorted(((i, float(s)) for i, s in enumerate(scores)), key=lambda x: (-x[1], x[0]))
