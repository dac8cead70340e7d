"""The ``dense`` kind on Milvus: the same sentence embeddings (cached by content hash) in a FLOAT_VECTOR field,
FLAT (exact) inner product by default, HNSW as an option."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.errors import InvalidInputError
from core.settings import get_settings
from indexes.contract import Hits, ProgressCallback
from indexes.dense_index import INDEX_TYPES, embedding_cache_path, encode_with_cache
from indexes.encoder import get_encoder
from indexes.milvus_build import fill_collection, id_schema
from indexes.milvus_connection import milvus_client


class LoadedMilvusDense:
    """One physical Milvus collection of embeddings and the model that made them."""

    def __init__(self, name: str, model_name: str, search_params: dict[str, Any]) -> None:
        self.name = name
        self.model_name = model_name
        self.search_params = search_params
        self.client = milvus_client()

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        vectors = get_encoder(self.model_name).encode_queries(list(queries))
        return self.search_vectors(vectors, top_k)

    def search_where(self, queries: Sequence[str], top_k: int, expression: str) -> list[Hits]:
        vectors = get_encoder(self.model_name).encode_queries(list(queries))
        return self.search_vectors(vectors, top_k, expression)

    def search_vectors(self, vectors: np.ndarray, top_k: int, expression: str = "") -> list[Hits]:
        params = self.search_params
        if "params" in params:  # HNSW: the candidate list must hold at least top_k
            params = {**params, "params": {"ef": max(params["params"]["ef"], top_k)}}
        results = self.client.search(self.name, data=np.asarray(vectors, dtype=np.float32).tolist(),
                                     anns_field="vector", limit=top_k, search_params=params, filter=expression,
                                     output_fields=["id"])
        return [[(hit["id"], float(hit["distance"])) for hit in hits] for hits in results]


class MilvusDenseKind:
    name = "dense"

    def build(self, ids: Sequence[str], texts: Sequence[str], metas: Sequence[dict[str, Any]], target: str,
              progress: ProgressCallback | None, options: dict[str, Any]) -> dict[str, Any]:
        from pymilvus import DataType

        model_name = self.model_for(options)
        index_type = options.get("index_type", "flat")
        if index_type not in INDEX_TYPES:
            raise InvalidInputError(f"Unknown dense index_type '{index_type}': use one of {', '.join(INDEX_TYPES)}.")
        vectors = encode_with_cache(texts, model_name, embedding_cache_path(model_name), progress)
        client = milvus_client()
        schema = id_schema(client)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(vectors.shape[1]))
        index_params = client.prepare_index_params()
        if index_type == "hnsw":
            index_params.add_index("vector", index_type="HNSW", metric_type="IP",
                                   params={"M": int(options.get("hnsw_m", 32)),
                                           "efConstruction": int(options.get("ef_construction", 200))})
        else:
            index_params.add_index("vector", index_type="FLAT", metric_type="IP")
        fill_collection(client, target, schema, index_params, ids, metas, lambda i: {"vector": vectors[i].tolist()}, None)
        return {"model": model_name, "dim": int(vectors.shape[1]), "index_type": index_type, "documents": len(ids),
                "ef_search": int(options.get("ef_search", 128)), "backend": "milvus", "milvus_collection": target}

    def model_for(self, options: dict[str, Any]) -> str:
        return options.get("model") or get_settings().embedding_model

    def load(self, target: str, manifest: dict[str, Any]) -> LoadedMilvusDense:
        milvus_client().load_collection(target)
        params: dict[str, Any] = {"metric_type": "IP"}
        if manifest.get("index_type") == "hnsw":
            params["params"] = {"ef": int(manifest.get("ef_search", 128))}
        return LoadedMilvusDense(target, manifest["model"], params)
