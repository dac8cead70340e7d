"""Hybrid retrieval: reciprocal-rank fusion of BM25 and dense results (a Haystack component)."""
from __future__ import annotations

from typing import Any

from haystack import Document, component, default_from_dict, default_to_dict

from indexes.retriever import SiftragRetriever

RRF_K = 60


def reciprocal_rank_fusion(rankings: list[list[Document]], k: int = RRF_K,
                           weights: list[float] | None = None) -> list[Document]:
    """Fuse ranked lists: score(d) = Σ_lists w / (k + rank(d)), rank from 1 (Cormack et al., 2009)."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[str, float] = {}
    first_seen: dict[str, Document] = {}
    for weight, ranking in zip(weights, rankings):
        for rank, document in enumerate(ranking, start=1):
            scores[document.id] = scores.get(document.id, 0.0) + weight / (k + rank)
            first_seen.setdefault(document.id, document)
    fused = sorted(scores, key=lambda doc_id: (-scores[doc_id], doc_id))
    return [
        Document(id=doc_id, content=first_seen[doc_id].content, meta=first_seen[doc_id].meta, score=scores[doc_id])
        for doc_id in fused
    ]


@component
class HybridRetriever:
    """BM25 + dense, each fetching ``candidates`` documents, fused with RRF and cut to ``top_k``."""

    def __init__(self, collection: str, top_k: int = 10, candidates: int = 100, rrf_k: int = RRF_K,
                 weights: list[float] | None = None, data_dir: str | None = None) -> None:
        self.collection = collection
        self.top_k = top_k
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.weights = weights
        self.data_dir = data_dir
        self._retrievers = [SiftragRetriever(collection, kind, candidates, data_dir) for kind in ("bm25", "dense")]

    def warm_up(self) -> None:
        """Open the bm25 and dense indexes now rather than on the first ``run``."""
        for retriever in self._retrievers:
            retriever.warm_up()

    @component.output_types(documents=list[Document])
    def run(self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"documents": self.run_batch([query], top_k, filters)[0]}

    def run_batch(self, queries: list[str], top_k: int | None = None,
                  filters: dict[str, Any] | None = None) -> list[list[Document]]:
        limit = top_k or self.top_k
        per_kind = [r.run_batch(queries, max(self.candidates, limit), filters) for r in self._retrievers]
        return [
            reciprocal_rank_fusion([lists[i] for lists in per_kind], self.rrf_k, self.weights)[:limit]
            for i in range(len(queries))
        ]

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, collection=self.collection, top_k=self.top_k, candidates=self.candidates,
                               rrf_k=self.rrf_k, weights=self.weights, data_dir=self.data_dir)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "HybridRetriever":
        return default_from_dict(cls, data)
