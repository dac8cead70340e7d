"""Bi-encoder reranking baseline: cosine between the query and each candidate (bundled MiniLM)."""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from core.settings import get_settings
from indexes.document_store import indexable_text
from indexes.encoder import get_encoder


@component
class EmbeddingReranker:
    """Scores candidates by embedding cosine; the result meta reports latency and forward passes."""

    def __init__(self, model: str | None = None, top_k: int = 10) -> None:
        self.model = model or get_settings().embedding_model
        self.top_k = top_k

    def warm_up(self) -> None:
        """Load the sentence encoder into the cache ``run`` reads, before the first ``run``."""
        get_encoder(self.model)

    @property
    def tokenizer(self) -> Any:
        """The sentence encoder's tokenizer (what long documents are chunked by)."""
        return get_encoder(self.model).model.tokenizer

    @property
    def max_input_tokens(self) -> int:
        """Tokens of a passage the encoder reads (it cuts the rest)."""
        return int(get_encoder(self.model).model.max_seq_length)

    @component.output_types(documents=list[Document], meta=dict)
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        began = time.perf_counter()
        encoder = get_encoder(self.model)
        if not documents:
            return {"documents": [], "meta": {"latency_ms": 0.0, "forward_passes": 0}}
        vectors = encoder.encode([query] + [indexable_text(d) for d in documents])
        scores = vectors[1:] @ vectors[0]
        order = np.argsort(-scores, kind="stable")[: top_k or self.top_k]
        ranked = [Document(id=documents[i].id, content=documents[i].content, meta=documents[i].meta,
                           score=float(scores[i])) for i in order]
        meta = {"latency_ms": 1000 * (time.perf_counter() - began),
                "forward_passes": -(-len(vectors) // get_settings().embedding_batch_size),
                "prompt_tokens": 0, "generated_tokens": 0}
        return {"documents": ranked, "meta": meta}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, top_k=self.top_k)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddingReranker:
        return default_from_dict(cls, data)
