"""Reranker methods by name: the one table (name → component, fixed options, LLM or not, indexes read) that
/v1/rerank, the API schemas, the CLI help and the evaluation read, and the components built from it."""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from core.adapters import Adapter, shipped_adapters, split_model_name
from core.errors import InvalidInputError
from core.lazy_class import import_class
from core.settings import get_settings


@dataclass(frozen=True)
class MethodSpec:
    """One rerank method: the component that implements it and what its callers need to know."""

    component: str  # "module:Class", imported on first use
    fixed: dict[str, Any] = field(default_factory=dict)  # constructor options the name stands for
    llm: bool = False  # takes an LLM or BASE+ADAPTER ``model`` and ``passage_words``; shipped adapters apply
    objective: str | None = None  # the training objective whose adapters serve it
    index_kinds: tuple[str, ...] = ()  # the collection's indexes it reads (it then takes ``collection``)
    ignores: tuple[str, ...] = ()  # evaluation-wide rerank options it does not take
    cached_by: tuple[str, ...] = ()  # indexes whose build caches what it computes (an evaluation builds them first)
    tuned_kind: str | None = None  # on a collection, a model tuned for it of this kind serves when none is named


_FULL_RANKING = "rerankers.full_ranking:FullRankingReranker"
RERANK_METHODS: dict[str, MethodSpec] = {
    "first": MethodSpec("rerankers.first:FirstReranker", llm=True, objective="first"),
    "listwise": MethodSpec("rerankers.listwise_generation:GenerationListwiseReranker", llm=True,
                           objective="first"),
    "icr": MethodSpec("rerankers.icr:ICRReranker", llm=True),
    "fullrank": MethodSpec(_FULL_RANKING, {"mode": "generate"}, llm=True, objective="fullrank"),
    "fullrank-logits": MethodSpec(_FULL_RANKING, {"mode": "logits"}, llm=True),
    "pointwise": MethodSpec("rerankers.pointwise:PointwiseReranker", llm=True, objective="pointwise"),
    # reads passage vectors from the embedding cache that a dense build fills
    "embedding": MethodSpec("rerankers.embedding_reranker:EmbeddingReranker", cached_by=("dense",),
                            tuned_kind="dense"),
    # its ``model`` is a trained cross-encoder (``siftrag train cross-encoder``), not an LLM
    "cross-encoder": MethodSpec("rerankers.cross_encoder:CrossEncoderReranker", ignores=("model", "passage_words")),
    # its ``model`` is a TILDEv2 scorer, not the LLM an evaluation's shared options name
    "tilde": MethodSpec("rerankers.tilde_reranker:TildeReranker", index_kinds=("tilde",),
                        ignores=("model", "passage_words")),
}
METHODS = tuple(RERANK_METHODS)
LLM_METHODS = tuple(name for name, spec in RERANK_METHODS.items() if spec.llm)
OBJECTIVES = tuple(dict.fromkeys(spec.objective for spec in RERANK_METHODS.values() if spec.objective))
SERVES = {objective: tuple(name for name, spec in RERANK_METHODS.items() if spec.objective == objective)
          for objective in OBJECTIVES}  # the methods an adapter trained with the objective serves


def served_methods() -> list[str]:
    """The methods that can run with no model named: all of them, but ``cross-encoder`` only once a cross-encoder
    has been trained or shipped (what the API schema offers)."""
    from rerankers.cross_encoder_models import any_cross_encoder

    return [name for name in METHODS if name != "cross-encoder" or any_cross_encoder()]


def method_spec(method: str) -> MethodSpec:
    """The table's entry for ``method``; InvalidInputError naming the choices for an unknown one."""
    if method not in RERANK_METHODS:
        raise InvalidInputError(f"Unknown rerank method '{method}': choose one of {', '.join(METHODS)}.")
    return RERANK_METHODS[method]


def method_name(component_class: type, **options: Any) -> str:
    """The method ``component_class`` implements when built with ``options`` (full ranking's ``mode``)."""
    path = f"{component_class.__module__}:{component_class.__qualname__}"
    return next(name for name, spec in RERANK_METHODS.items()
                if spec.component == path and all(options.get(k) == v for k, v in spec.fixed.items()))


def make_reranker(method: str, **options: Any) -> Any:
    """A new reranker component for ``method`` with ``options`` (model, passage_words, window, …); what is not given
    is the component's default, which for the LLM methods is the trained one (``trained_defaults``)."""
    check_options(method, options)
    return _component_class(method)(**options, **_fixed_options(method))


def trained_defaults(method: str, model: str | None) -> tuple[str, dict[str, Any]]:
    """(the LLM an LLM method runs, the options its adapter was trained and measured with). With no ``model``: the
    shipped adapter trained for ``method`` on the settings' LLM, as ``BASE+ADAPTER``, else that LLM. The options: an
    adapter's ``passage_words`` (the prompt it was trained on) and its ``serving_defaults`` (e.g. a pointwise
    adapter's ``first_stage_weight``); none for a base model. Every LLM reranker resolves its defaults here, so one
    built with no arguments (in a user's Haystack pipeline) is the one the API serves."""
    if model is None:
        base = get_settings().llm_model
        adapter = default_adapter(method, base)
        model = f"{adapter.base}+{adapter.name}" if adapter else base
    adapter = split_model_name(model)[1]
    if adapter is None:
        return model, {}
    return model, {"passage_words": int(adapter.training["passage_words"]),
                   **adapter.training.get("serving_defaults", {})}


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
    return dict(method_spec(method).fixed)


def _component_class(method: str) -> type:
    return import_class(method_spec(method).component)


def collection_options(method: str, collection: str, options: dict[str, Any], tuned: bool = True) -> dict[str, Any]:
    """``options`` for reranking candidates of ``collection``: a method that reads its indexes (``tilde``: the stored
    impacts) gets ``collection``; with no model named, a model tuned for it (``siftrag tune``) serves (unless
    ``tuned`` is False: options checked before the collection exists)."""
    from indexes.retriever import tuned_model

    spec = method_spec(method)
    if spec.index_kinds:
        options = {"collection": collection} | options
    if tuned and spec.tuned_kind and not options.get("model"):
        folder = tuned_model(collection, spec.tuned_kind)
        options = {**options, "model": folder} if folder else options
    return options


def shared_reranker(method: str, model: str | None = None, passage_words: int | None = None,
                    collection: str | None = None) -> Any:
    """A shared instance per configuration (what the API uses); None means the method's default, or, on a
    ``collection``, the model tuned for it. ``collection`` also lets ``tilde`` score indexed candidates from the
    collection's stored impacts."""
    options = collection_options(method, collection, {"model": model} if model else {}) if collection else {}
    return _shared_reranker(method, options.get("model") or model, passage_words, options.get("collection"))


@lru_cache(maxsize=16)
def _shared_reranker(method: str, model: str | None, passage_words: int | None, collection: str | None) -> Any:
    options: dict[str, Any] = {"model": model} if model else {}
    spec = method_spec(method)
    if passage_words is not None and spec.llm:
        options["passage_words"] = passage_words
    if collection is not None:
        options["collection"] = collection
    return make_reranker(method, **options)
