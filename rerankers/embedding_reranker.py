"""Bi-encoder reranking: cosine between the query and each candidate (bundled MiniLM), interpolated with the
first stage's score, or, for candidates that come without one (inline documents), with BM25 over the candidate
list itself. Passage vectors come from the collection's dense index when it holds them (the shared embedding
cache), so reranking indexed candidates encodes only the query."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from core.settings import get_settings
from indexes.bm25_index import bm25_scores
from indexes.document_store import indexable_text
from indexes.encoder import get_encoder
from indexes.passage_vectors import passage_vectors
from rerankers.ranked_documents import ranked_documents
from rerankers.score_fusion import check_first_stage_weight, interpolated, with_first_stage


def model_label(model: str) -> str:
    """How responses name the model: a registry name as it is, a folder (a collection's tuned encoder) by its name
    only, never the server path."""
    return f"tuned:{Path(model).name}" if Path(model).is_absolute() else model


# Chosen on SciFact *train* (809 queries, BM25 top-100, grid 0–0.6; docs/rerankers.md), never on a test split.
FIRST_STAGE_WEIGHT = 0.3


@component
class EmbeddingReranker:
    """Scores candidates by embedding cosine interpolated (``first_stage_weight``; 0 = cosine alone) with their
    first-stage scores when every candidate has one, else with BM25 over the candidates; the result meta reports
    latency, forward passes, the lexical side used and how many passage vectors came from the index."""

    def __init__(self, model: str | None = None, top_k: int = 10, first_stage_weight: float | None = None) -> None:
        self.model = model or get_settings().embedding_model
        self.top_k = top_k
        self.first_stage_weight = check_first_stage_weight(
            FIRST_STAGE_WEIGHT if first_stage_weight is None else first_stage_weight)

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
        if not documents:
            return {"documents": [], "meta": {"latency_ms": 0.0, "forward_passes": 0}}
        query_vector = get_encoder(self.model).encode_queries([query])[0]
        texts = [indexable_text(d) for d in documents]
        passages, from_index = passage_vectors(texts, self.model)
        cosine = passages @ query_vector
        weight = self.first_stage_weight
        if weight and any(d.score is None for d in documents):
            lexical = "bm25 over the candidates"
            scores = interpolated(cosine, bm25_scores(query, texts), weight)
        else:
            lexical = "first stage" if weight else None
            scores = with_first_stage(cosine, documents, weight)
        order = np.argsort(-scores, kind="stable")[: top_k or self.top_k]
        ranked = ranked_documents(documents, ((i, scores[i]) for i in order), cosine)
        passage_passes = -(-(len(documents) - from_index) // get_settings().embedding_batch_size)
        meta = {"latency_ms": 1000 * (time.perf_counter() - began),
                "forward_passes": 1 + passage_passes,  # the query's, then the passages the index lacked
                "prompt_tokens": 0, "generated_tokens": 0, "model": model_label(self.model),
                "passages_from_index": from_index, "first_stage_weight": weight,
                "lexical_scores": lexical}
        return {"documents": ranked, "meta": meta}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, top_k=self.top_k, first_stage_weight=self.first_stage_weight)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddingReranker:
        return default_from_dict(cls, data)
