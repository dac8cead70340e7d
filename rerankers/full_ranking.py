"""Full ranking: every candidate in one long-context prompt, no sliding windows.

``mode="generate"`` writes the whole permutation in one pass (Sliding Windows Are Not the End); its prompt is
the authors' (8421BCD/fullrank ``utils.py`` + ``rerank/rank_listwise_os_llm.py``, RANK_GPT mode with variable
passages): numeric identifiers, a blank line after the task sentence, passages cut to 100 words.
``mode="logits"`` reads the ranking of all candidates from the first identifier's logits (one forward); it
needs single-token identifiers, so it uses FIRST's alphabetical rank_zephyr template.
"""
from __future__ import annotations

from typing import Any

import torch
from haystack import Document, component

from core.errors import InvalidInputError
from core.llm_backend import CallCounter
from rerankers.identifiers import single_token_identifiers
from rerankers.listwise_generation import TOKENS_PER_IDENTIFIER
from rerankers.listwise_prompt import ListwiseTemplate, fix_prompt, listwise_template, passage_content
from rerankers.llm_reranker import LLMReranker, Ranking, scores_from_order
from rerankers.permutation import parse_permutation
from rerankers.registry import method_name

MODES = ("generate", "logits")
FULLRANK_TEMPLATE = ListwiseTemplate(
    system_message="You are RankLLM, an intelligent assistant that can rank passages based on their relevancy to "
                   "the query.",
    prefix="I will provide you with {num} passages, each indicated by a numerical identifier []. Rank the passages "
           "based on their relevance to the search query: {query}.\n\n",
    suffix="Search Query: {query}.\nRank the {num} passages above based on their relevance to the search query. All "
           "the passages should be included and listed using identifiers, in descending order of relevance. The "
           "output format should be [] > [], e.g., [2] > [1], Only respond with the ranking results, do not say any "
           "word or explain.",
).model_dump()


@component
class FullRankingReranker(LLMReranker):
    """All candidates at once; a prompt that cannot fit the context is an error, never a cut list."""

    method = "fullrank"

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int | None = None,
                 mode: str = "generate", template: dict[str, str] | None = None,
                 first_stage_weight: float | None = None) -> None:
        """``template``: rank_llm-style sections; None = the authors' prompt (generate) or rank_zephyr alpha
        (logits)."""
        if mode not in MODES:
            raise InvalidInputError(f"Unknown full-ranking mode '{mode}': use one of {', '.join(MODES)}.")
        self.mode = mode
        self.method = method_name(FullRankingReranker, mode=mode)  # before the defaults, which are per method
        LLMReranker.__init__(self, model, top_k, passage_words, first_stage_weight)
        self.template = listwise_template(template if template is not None
                                          else FULLRANK_TEMPLATE if mode == "generate" else None)

    def init_parameters(self) -> dict[str, Any]:
        return {**LLMReranker.init_parameters(self), "mode": self.mode, "template": self.template.model_dump()}

    def prompt(self, query: str, documents: list[Document], labels: list[str]) -> str:
        """The chat prompt with every candidate, labelled by ``labels`` (what training uses too)."""
        passages = [passage_content(d, self.passage_words) for d in documents]
        user = self.template.user_message(query.strip(), passages, labels)
        return fix_prompt(self.llm.chat_prompt(user, self.template.system_message or None))

    def _rank(self, query: str, documents: list[Document], counter: CallCounter) -> Ranking:
        if self.mode == "logits":
            identifiers = single_token_identifiers(self.llm.tokenizer, len(documents))
            prompt = self.prompt(query, documents, list(identifiers.labels)) + identifiers.primer
            row = self.llm.next_token_logprobs([prompt], counter)[0]
            scores = row[torch.tensor(identifiers.token_ids)]
            return sorted(((i, float(scores[i])) for i in range(len(documents))), key=lambda x: (-x[1], x[0]))
        labels = [str(number) for number in range(1, len(documents) + 1)]
        prompt = self.prompt(query, documents, labels)
        generation = self.llm.generate(prompt, TOKENS_PER_IDENTIFIER * len(documents) + 8, counter)
        return scores_from_order(parse_permutation(generation.text, labels))
