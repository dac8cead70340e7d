"""Generation-based listwise reranking (RankGPT-style): the model writes the whole permutation."""
from __future__ import annotations

from haystack import component

from rerankers.permutation import parse_permutation
from rerankers.windowed_listwise import WindowedListwiseReranker, WindowJob

TOKENS_PER_IDENTIFIER = 4  # "[", "A", "]", " >"


@component
class GenerationListwiseReranker(WindowedListwiseReranker):
    """Same prompt and windows as FIRST, but the permutation is generated greedily and parsed."""

    method = "listwise"

    def _order_windows(self, jobs: list[WindowJob]) -> list[list[int]]:
        orders = []
        for query, documents, counter in jobs:
            prompt, identifiers = self.prompt(query, documents, counter=counter)
            generation = self.llm.generate(prompt, TOKENS_PER_IDENTIFIER * len(documents) + 8, counter)
            orders.append(parse_permutation(generation.text, list(identifiers.labels)))
        return orders
