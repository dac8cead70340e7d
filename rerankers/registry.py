"""Reranker methods by name (what /v1/rerank and evaluation pipelines accept)."""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from core.errors import InvalidInputError

METHODS = ("first", "listwise", "icr", "fullrank", "fullrank-logits", "pointwise", "embedding", "tilde")
LLM_METHODS = METHODS[:6]


def make_reranker(method: str, **options: Any) -> Any:
    """A new reranker component for ``method`` with ``options`` (model, passage_words, window, …)."""
    check_options(method, options)
    return _component_class(method)(**options, **_fixed_options(method))


def check_options(method: str, options: dict[str, Any]) -> None:
    """InvalidInputError for an unknown method or options its component does not take (nothing is loaded)."""
    try:
        inspect.signature(_component_class(method).__init__).bind(None, **options, **_fixed_options(method))
    except TypeError as error:
        raise InvalidInputError(f"Invalid options for rerank method '{method}': {error}.") from error


def _fixed_options(method: str) -> dict[str, Any]:
    return {"mode": "generate" if method == "fullrank" else "logits"} if method.startswith("fullrank") else {}


def _component_class(method: str) -> type:
    if method == "embedding":
        from rerankers.embedding_reranker import EmbeddingReranker

        return EmbeddingReranker
    if method == "tilde":
        from rerankers.tilde_reranker import TildeReranker

        return TildeReranker
    if method == "first":
        from rerankers.first import FirstReranker

        return FirstReranker
    if method == "listwise":
        from rerankers.listwise_generation import GenerationListwiseReranker

        return GenerationListwiseReranker
    if method == "icr":
        from rerankers.icr import ICRReranker

        return ICRReranker
    if method in ("fullrank", "fullrank-logits"):
        from rerankers.full_ranking import FullRankingReranker

        return FullRankingReranker
    if method == "pointwise":
        from rerankers.pointwise import PointwiseReranker

        return PointwiseReranker
    raise InvalidInputError(f"Unknown rerank method '{method}': choose one of {', '.join(METHODS)}.")


@lru_cache(maxsize=16)
def reranker(method: str, model: str | None = None, passage_words: int | None = None,
             collection: str | None = None) -> Any:
    """A shared instance per configuration (what the API uses); None means the method's default.

    ``collection`` lets ``tilde`` score indexed candidates from the collection's stored impacts."""
    options: dict[str, Any] = {"model": model} if model else {}
    if passage_words is not None and method in LLM_METHODS:
        options["passage_words"] = passage_words
    if collection is not None and method == "tilde":
        options["collection"] = collection
    return make_reranker(method, **options)
