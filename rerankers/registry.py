"""Reranker methods by name (what /v1/rerank and evaluation pipelines accept)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from core.errors import InvalidInputError

METHODS = ("embedding",)


@lru_cache(maxsize=8)
def reranker(method: str) -> Any:
    """A shared instance of the reranker component called ``method``."""
    if method == "embedding":
        from rerankers.embedding_reranker import EmbeddingReranker

        return EmbeddingReranker()
    raise InvalidInputError(f"Unknown rerank method '{method}': choose one of {', '.join(METHODS)}.")
