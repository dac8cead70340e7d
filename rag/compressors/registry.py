"""Compressors by name (what /v1/answer, the CLI and the answer evaluation accept)."""
from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from core.errors import InvalidInputError

COMPRESSORS = ("tcra-summary", "tcra-semantic", "crag")


def _component_class(name: str) -> type:
    if name == "tcra-summary":
        from rag.compressors.tcra_summary import SummaryCompressor

        return SummaryCompressor
    if name == "tcra-semantic":
        from rag.compressors.tcra_semantic import SemanticCompressor

        return SemanticCompressor
    if name == "crag":
        from rag.compressors.crag_clusters import ClusterCompressor

        return ClusterCompressor
    raise InvalidInputError(f"Unknown compressor '{name}': choose one of {', '.join(COMPRESSORS)}.")


def check_compressor_options(name: str, options: dict[str, Any]) -> None:
    """InvalidInputError for an unknown compressor or an option it does not take (nothing is loaded)."""
    if "summarizer" in options:
        raise InvalidInputError("The summarizer is a Python object: pass it to the component, not as an option.")
    try:
        inspect.signature(_component_class(name).__init__).bind(None, **options)
    except TypeError as error:
        raise InvalidInputError(f"Invalid options for compressor '{name}': {error}.") from error


def make_compressor(name: str, **options: Any) -> Any:
    check_compressor_options(name, options)
    return _component_class(name)(**options)


@lru_cache(maxsize=16)
def compressor(name: str, model: str | None = None, options: tuple[tuple[str, Any], ...] = ()) -> Any:
    """A shared instance per configuration (what the API uses)."""
    return make_compressor(name, **({"model": model} if model else {}), **dict(options))
