"""The ``tilde`` kind on Milvus: each passage's TILDEv2 impacts as a SPARSE_FLOAT_VECTOR (token id → weight).
Retrieval is Milvus's inner product with the query's token counts (the sum of impacts over the query tokens, as
the local kind computes it); reranking fetches the candidates' vectors by id and takes the same sum."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from indexes.contract import Hits, ProgressCallback
from indexes.milvus_build import fill_collection, id_schema
from indexes.milvus_connection import milvus_client
from indexes.tilde.scorer import PassageImpacts
from indexes.tilde_index import TildeKind, encode_impacts, load_query_tokenizer, query_vector

FETCH_BATCH = 1000


def sparse_row(impacts: PassageImpacts) -> dict[int, float]:
    """A passage's impacts as Milvus's sparse vector (zero weights left out)."""
    token_ids, weights = impacts
    return {int(t): float(w) for t, w in zip(token_ids, weights) if w > 0}


class LoadedMilvusTilde:
    """One physical Milvus collection of impact vectors and the scorer that made them."""

    def __init__(self, name: str, scorer_path: str, expansion_top_k: int) -> None:
        self.name = name
        self.scorer_path = scorer_path
        self.expansion_top_k = expansion_top_k
        self.tokenizer, self.scorable = load_query_tokenizer(scorer_path)
        self.client = milvus_client()

    def _query_sparse(self, query: str) -> dict[int, float]:
        token_ids, counts = query_vector(self.tokenizer, self.scorable, query)
        return {int(t): float(c) for t, c in zip(token_ids, counts)}

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        return self.search_where(queries, top_k, "")

    def search_where(self, queries: Sequence[str], top_k: int, expression: str) -> list[Hits]:
        vectors = [self._query_sparse(query) for query in queries]
        asked = [i for i, vector in enumerate(vectors) if vector]
        results: list[Hits] = [[] for _ in queries]
        if asked:
            found = self.client.search(self.name, data=[vectors[i] for i in asked], anns_field="impacts",
                                       limit=top_k, search_params={"metric_type": "IP"}, filter=expression,
                                       output_fields=["id"])
            for i, hits in zip(asked, found):
                results[i] = [(hit["id"], float(hit["distance"])) for hit in hits if hit["distance"] > 0]
        return results

    def score(self, query: str, doc_ids: Sequence[str]) -> np.ndarray:
        """TILDEv2 scores of the given indexed passages (NaN for ids not in this index)."""
        weights = self._query_sparse(query)
        stored: dict[str, dict[int, float]] = {}
        unique = list(dict.fromkeys(doc_ids))
        for start in range(0, len(unique), FETCH_BATCH):
            for row in self.client.query(self.name, ids=unique[start:start + FETCH_BATCH],
                                         output_fields=["impacts"]):
                stored[row["id"]] = row["impacts"]
        return np.array([sum(vector.get(t, 0.0) * c for t, c in weights.items()) if (vector := stored.get(d)) is not None
                         else np.nan for d in doc_ids], dtype=np.float32)


class MilvusTildeKind:
    name = "tilde"

    def build(self, ids: Sequence[str], texts: Sequence[str], metas: Sequence[dict[str, Any]], target: str,
              progress: ProgressCallback | None, options: dict[str, Any]) -> dict[str, Any]:
        from pymilvus import DataType

        scorer_path = Path(self.model_for(options))
        expansion_top_k = int(options.get("expansion_top_k", 200))
        impacts = encode_impacts(texts, scorer_path, expansion_top_k, progress)
        client = milvus_client()
        schema = id_schema(client)
        schema.add_field("impacts", DataType.SPARSE_FLOAT_VECTOR)
        index_params = client.prepare_index_params()
        index_params.add_index("impacts", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
        fill_collection(client, target, schema, index_params, ids, metas, lambda i: {"impacts": sparse_row(impacts[i])},
                        None)
        return {"model": str(scorer_path), "expansion_top_k": expansion_top_k, "documents": len(ids),
                "postings": int(sum(ids_.size for ids_, _ in impacts)), "backend": "milvus",
                "milvus_collection": target}

    def model_for(self, options: dict[str, Any]) -> str:
        return TildeKind().model_for(options)

    def load(self, target: str, manifest: dict[str, Any]) -> LoadedMilvusTilde:
        milvus_client().load_collection(target)
        return LoadedMilvusTilde(target, manifest["model"], int(manifest["expansion_top_k"]))
