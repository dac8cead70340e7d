"""Compressors by name: the one table (name → component) that /v1/answer, the API schemas, the CLI and the
answer evaluation read, and the components built from it."""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from core.errors import InvalidInputError
from core.lazy_class import import_class

COMPONENTS = {  # name → "module:Class", imported on first use
    "tcra-summary": "rag.compressors.tcra_summary:SummaryCompressor",
    "tcra-semantic": "rag.compressors.tcra_semantic:SemanticCompressor",
    "crag": "rag.compressors.crag_clusters:ClusterCompressor",
}
COMPRESSORS = tuple(COMPONENTS)


def _component_class(name: str) -> type:
    if name not in COMPONENTS:
        raise InvalidInputError(f"Unknown compressor '{name}': choose one of {', '.join(COMPRESSORS)}.")
    return import_class(COMPONENTS[name])


def check_compressor_options(name: str, options: dict[str, Any]) -> None:
    """InvalidInputError for an unknown compressor or an option it does not take (nothing is loaded)."""
    if "summarizer" in options:
        raise InvalidInputError("The summarizer is a Python object: pass it to the component, not as an option.")
    if "template" in options:
        raise InvalidInputError("The prompt template is a component parameter: pass it to the component, "
                                "not as an option.")
    try:
        inspect.signature(_component_class(name).__init__).bind(None, **options)
    except TypeError as error:
        raise InvalidInputError(f"Invalid options for compressor '{name}': {error}.") from error


def make_compressor(name: str, **options: Any) -> Any:
    check_compressor_options(name, options)
    return _component_class(name)(**options)


@lru_cache(maxsize=16)
def compressor(name: str, model: str | None = None, options: tuple[tuple[str, Any], ...] = ()) -> Any:
    """A shared instance per configuration (what the API uses); a ``model`` among the options is the compressor's
    own LLM, else ``model`` (the answering one)."""
    return make_compressor(name, **{**({"model": model} if model else {}), **dict(options)})
