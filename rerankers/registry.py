"""Reranker methods by name (what /v1/rerank and evaluation pipelines accept)."""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from core.adapters import Adapter, shipped_adapters, split_model_name
from core.errors import InvalidInputError
from core.settings import get_settings

METHODS = ("first", "listwise", "icr", "fullrank", "fullrank-logits", "pointwise", "embedding", "tilde")
LLM_METHODS = METHODS[:6]


def make_reranker(method: str, **options: Any) -> Any:
    """A new reranker component for ``method`` with ``options`` (model, passage_words, window, …)."""
    check_options(method, options)
    return _component_class(method)(**with_trained_defaults(method, options), **_fixed_options(method))


def with_trained_defaults(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """With no model named, an LLM method runs the shipped adapter trained for it on the default LLM; an
    adapter's recorded ``passage_words`` is the default (the prompt it was trained on)."""
    if method not in LLM_METHODS:
        return options
    options = dict(options)
    if options.get("model") is None:
        adapter = default_adapter(method, get_settings().llm_model)
        if adapter is None:
            return options
        options["model"] = f"{adapter.base}+{adapter.name}"
    _, adapter = split_model_name(options["model"])
    if adapter is not None and options.get("passage_words") is None:
        options["passage_words"] = int(adapter.training["passage_words"])
    return options


def default_adapter(method: str, base: str) -> Adapter | None:
    """The first shipped reranker adapter (by name) trained on ``base`` that serves ``method``."""
    return next((a for a in shipped_adapters("rerankers") if a.base == base and method in a.training["serves"]),
                None)


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
