"""TILDEv2 reranking: exact query-term matching against contextualized passage-token impacts.

Candidates indexed in the collection's ``tilde`` index are scored from their stored impacts (no model
call; the query is only tokenized). Other candidates (inline documents, or ones added since the
build) are expanded and encoded on the fly with the same scorer, then scored by the same formula.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from core.errors import NotFoundError
from indexes.contract import ImpactIndex
from indexes.document_store import indexable_text
from indexes.retriever import collection_manager
from indexes.tilde.scorer import score_passage
from indexes.tilde.scorer_store import resolve_scorer
from indexes.tilde_index import encode_impacts, load_expander, load_scorer
from rerankers.ranked_documents import ranked_documents
from rerankers.score_fusion import check_first_stage_weight, with_first_stage


@component
class TildeReranker:
    """Reorders candidates by TILDEv2 score; meta reports latency and how many passages needed encoding."""

    def __init__(self, collection: str | None = None, model: str | None = None, expansion_top_k: int = 200,
                 first_stage_weight: float = 0.0, top_k: int = 10) -> None:
        """``expansion_top_k`` expands unindexed candidates when the collection has no ``tilde`` index (with
        one, they are expanded as the index was built). ``first_stage_weight`` > 0 interpolates min-max normalized TILDEv2 and first-stage scores (the
        candidates' incoming ``score``), as TILDE (v1) does with BM25; 0, the default, is pure TILDEv2."""
        self.collection = collection
        self.model = model
        self.expansion_top_k = expansion_top_k
        self.first_stage_weight = check_first_stage_weight(first_stage_weight)
        self.top_k = top_k

    def _index(self) -> ImpactIndex | None:
        if self.collection is None:
            return None
        try:
            _, index = collection_manager().get(self.collection).loaded("tilde")
        except NotFoundError:
            return None
        return index if isinstance(index, ImpactIndex) else None

    @property
    def tokenizer(self) -> Any:
        """The scorer's tokenizer (what long documents are chunked by)."""
        return self._scorer().tokenizer

    @property
    def max_input_tokens(self) -> int:
        """Tokens of a passage the scorer's encoder reads (it cuts the rest)."""
        return int(self._scorer().max_length)

    def _scorer(self) -> Any:
        index = self._index()
        return load_scorer(index.scorer_path if index else str(resolve_scorer(self.model)))

    def warm_up(self) -> None:
        """Load the scorer (the index's, else ``model``) before the first ``run``, and the expander when there is
        no ``tilde`` index (then every candidate is expanded)."""
        self._scorer()
        if self._index() is None and self.expansion_top_k > 0:
            load_expander(self.expansion_top_k)

    @component.output_types(documents=list[Document], meta=dict)
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        began = time.perf_counter()
        index = self._index()
        scores = index.score(query, [d.id for d in documents]) if index else np.full(len(documents), np.nan)
        unindexed = [i for i, score in enumerate(scores) if np.isnan(score)]
        if unindexed:  # encoded the way the index was built, so one candidate list is scored one way
            scorer_path = index.scorer_path if index else str(resolve_scorer(self.model))
            expansion_top_k = index.expansion_top_k if index else self.expansion_top_k
            scorer = load_scorer(scorer_path)
            impacts = encode_impacts([indexable_text(documents[i]) for i in unindexed], scorer_path, expansion_top_k)
            counts = scorer.query_counts(query)
            for i, passage in zip(unindexed, impacts):
                scores[i] = score_passage(counts, passage)
        model_scores, scores = scores, with_first_stage(scores, documents, self.first_stage_weight)
        order = np.argsort(-scores, kind="stable")[: top_k or self.top_k]
        ranked = ranked_documents(documents, ((i, scores[i]) for i in order), model_scores)
        meta = {"latency_ms": 1000 * (time.perf_counter() - began), "forward_passes": 0 if not unindexed else 1,
                "encoded_passages": len(unindexed), "prompt_tokens": 0, "generated_tokens": 0}
        return {"documents": ranked, "meta": meta}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, collection=self.collection, model=self.model,
                               expansion_top_k=self.expansion_top_k, first_stage_weight=self.first_stage_weight,
                               top_k=self.top_k)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TildeReranker:
        return default_from_dict(cls, data)
