"""What every LLM reranker shares: validation, passage truncation, timing and cost in the result meta."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from core.errors import InvalidInputError
from core.llm_backend import CallCounter, LLMBackend, get_llm
from indexes.document_store import indexable_text
from rerankers.ranked_documents import ranked_documents
from rerankers.registry import trained_defaults
from rerankers.score_fusion import check_first_stage_weight, with_first_stage

Ranking = list[tuple[int, float]]  # (index into the candidates, score), best first


@dataclass
class RerankCounter(CallCounter):
    """A request's model cost and, where prompts are shortened to fit the context (ICR, windowed listwise), the
    fewest words any prompt kept per passage: ``passage_words_used`` in the meta."""

    passage_words_used: int | None = None

    def note_passage_words(self, words: int) -> None:
        """Record one prompt's words per passage."""
        self.passage_words_used = words if self.passage_words_used is None else min(self.passage_words_used, words)

    def as_dict(self) -> dict[str, int]:
        counts = CallCounter.as_dict(self)
        return counts if self.passage_words_used is None else {**counts, "passage_words_used": self.passage_words_used}


def truncate_words(text: str, words: int) -> str:
    """The first ``words`` whitespace-separated words (the documented passage budget)."""
    parts = text.split()
    return " ".join(parts[:words])


class LLMReranker:
    """Base of the LLM rerankers. Subclasses implement ``_rank`` and are Haystack components."""

    method = "llm"
    default_passage_words = 100  # words per passage when neither the caller nor the model's adapter sets them

    def __init__(self, model: str | None = None, top_k: int = 10, passage_words: int | None = None,
                 first_stage_weight: float | None = None) -> None:
        """Defaults are the API's (``registry.trained_defaults``): no ``model`` runs the shipped adapter trained for
        the method (else the settings' LLM), and ``passage_words`` and ``first_stage_weight`` not given are what
        the adapter was trained and measured with (else ``default_passage_words`` and 0). ``first_stage_weight``
        > 0 interpolates the min-max normalized scores (rank positions for the permutation methods) with the
        candidates' first-stage scores (``score_fusion``)."""
        self.model, trained = trained_defaults(self.method, model)
        if passage_words is None:
            passage_words = int(trained.get("passage_words", self.default_passage_words))
        if passage_words < 1:
            raise InvalidInputError("passage_words must be at least 1.")
        self.top_k = top_k
        self.passage_words = passage_words
        self.first_stage_weight = check_first_stage_weight(
            trained.get("first_stage_weight", 0.0) if first_stage_weight is None else first_stage_weight)

    @property
    def llm(self) -> LLMBackend:
        return get_llm(self.model)

    def warm_up(self) -> None:
        """Load the LLM backend into the cache ``run`` reads, before the first ``run``."""
        get_llm(self.model)

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the LLM (what long documents are chunked by)."""
        return self.llm.tokenizer

    @property
    def max_input_tokens(self) -> int:
        """A passage of this many tokens has at most ``passage_words`` words, so the prompt keeps all of it."""
        return self.passage_words

    def passages(self, documents: list[Document]) -> list[str]:
        return [truncate_words(indexable_text(d).replace("\n", " "), self.passage_words) for d in documents]

    def _rank(self, query: str, documents: list[Document], counter: RerankCounter) -> Ranking:
        raise NotImplementedError

    @component.output_types(documents=list[Document], meta=dict)
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """Reorder ``documents`` for ``query``; meta carries latency, forward passes and tokens."""
        self.validate(query, documents)
        counter = RerankCounter()
        began = time.perf_counter()
        ranking = self._rank(query, documents, counter)
        return self.package(documents, ranking, counter, time.perf_counter() - began, top_k)

    def validate(self, query: str, documents: list[Document]) -> None:
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("Query must be a non-empty string.")
        if not documents:
            raise InvalidInputError("No candidate documents to rerank.")

    def package(self, documents: list[Document], ranking: Ranking, counter: RerankCounter, seconds: float,
                top_k: int | None) -> dict[str, Any]:
        model_scores = self.all_scores(ranking, len(documents))
        ranked = ranked_documents(documents, self.fused(ranking, documents)[: top_k or self.top_k], model_scores)
        meta = {"method": self.method, "model": self.model, "latency_ms": round(1000 * seconds, 3),
                "candidates": len(documents), **counter.as_dict()}
        return {"documents": ranked, "meta": meta}

    def fused(self, ranking: Ranking, documents: list[Document]) -> Ranking:
        """``ranking`` re-sorted by its scores interpolated with the first stage's (unchanged at weight 0); a
        candidate the ranking left out counts as scoring below all the others."""
        if self.first_stage_weight <= 0:
            return ranking
        fused = with_first_stage(self.all_scores(ranking, len(documents)), documents, self.first_stage_weight)
        return sorted(((i, float(s)) for i, s in enumerate(fused)), key=lambda pair: (-pair[1], pair[0]))

    @staticmethod
    def all_scores(ranking: Ranking, candidates: int) -> np.ndarray:
        """Every candidate's score in ``ranking``; one it left out scores below all the others."""
        scores = np.full(candidates, min((s for _, s in ranking), default=0.0) - 1.0)
        for index, score in ranking:
            scores[index] = score
        return scores

    def init_parameters(self) -> dict[str, Any]:
        return {"model": self.model, "top_k": self.top_k, "passage_words": self.passage_words,
                "first_stage_weight": self.first_stage_weight}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self.init_parameters())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LLMReranker:
        return default_from_dict(cls, data)


def scores_from_order(order: list[int]) -> Ranking:
    """A permutation, best first → (index, score) with scores descending from len(order)."""
    return [(index, float(len(order) - rank)) for rank, index in enumerate(order)]
