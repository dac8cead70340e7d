"""Every "decide while answering" method by name: DRAGIN and its baselines (when and what to retrieve while
writing) and DyPRAG (the retrieved documents become parameters)."""
from __future__ import annotations

from typing import Any

from core.errors import InvalidInputError
from rag.dynamic.loop import DynamicAnswerer
from rag.dynamic.policies import POLICIES
from rag.parametric.dyprag_answerer import MODES, DypragAnswerer

DYNAMIC_METHODS = POLICIES + MODES


def make_dynamic_answerer(collection: str, method: str, retriever: str = "bm25", top_k: int = 3,
                          model: str | None = None, max_new_tokens: int = 96, translator: str | None = None,
                          **options: Any) -> DynamicAnswerer | DypragAnswerer:
    """An answerer with ``run(question) -> DynamicResult`` and ``use_collection(name)``."""
    if method in MODES:
        return DypragAnswerer(collection, method, retriever, top_k=top_k, model=model, translator=translator,
                              max_new_tokens=max_new_tokens, **options)
    if translator:
        raise InvalidInputError("A translator applies to the DyPRAG methods only (dyprag, dyprag-combine).")
    if method not in POLICIES:
        raise InvalidInputError(f"Unknown dynamic method '{method}': choose one of {', '.join(DYNAMIC_METHODS)}.")
    return DynamicAnswerer(collection, method, retriever, top_k=top_k, model=model, max_new_tokens=max_new_tokens,
                           **options)
