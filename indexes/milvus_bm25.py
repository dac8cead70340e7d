"""The ``bm25`` kind on Milvus: Milvus's own BM25 function over the text, with bm25s's k1 and b. Build option
``analyzer``: ``standard`` (default; the standard tokenizer, lowercase, bm25s's English stop words; all Milvus Lite
supports, so no stemming) or ``english`` (a Milvus server's English analyzer, with a Snowball stemmer like bm25s)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bm25s.stopwords import STOPWORDS_EN

from core.errors import InvalidInputError
from indexes.bm25_index import DEFAULT_B, DEFAULT_K1
from indexes.contract import Hits, ProgressCallback
from indexes.milvus_build import fill_collection, id_schema
from indexes.milvus_connection import milvus_client

TEXT_MAX_BYTES = 65_535  # Milvus's VARCHAR limit: longer documents are indexed by their first 64 KiB
ANALYZERS = {
    "standard": {"tokenizer": "standard", "filter": ["lowercase", {"type": "stop", "stop_words": sorted(STOPWORDS_EN)}]},
    "english": {"type": "english"},
}


def clip_utf8(text: str, limit: int = TEXT_MAX_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    encoded = text.encode("utf-8")
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", errors="ignore")


class LoadedMilvusBm25:
    def __init__(self, name: str) -> None:
        self.name = name
        self.client = milvus_client()

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        return self.search_where(queries, top_k, "")

    def search_where(self, queries: Sequence[str], top_k: int, expression: str) -> list[Hits]:
        results = self.client.search(self.name, data=list(queries), anns_field="sparse", limit=top_k,
                                     search_params={"metric_type": "BM25"}, filter=expression, output_fields=["id"])
        # Milvus reports BM25 scores as distances; Milvus Lite negates them (best = most negative), a server does not
        return [[(hit["id"], abs(float(hit["distance"]))) for hit in hits if hit["distance"] != 0] for hits in results]


class MilvusBm25Kind:
    name = "bm25"

    def build(self, ids: Sequence[str], texts: Sequence[str], metas: Sequence[dict[str, Any]], target: str,
              progress: ProgressCallback | None, options: dict[str, Any]) -> dict[str, Any]:
        from pymilvus import DataType, Function, FunctionType

        analyzer = options.get("analyzer", "standard")
        if analyzer not in ANALYZERS:
            raise InvalidInputError(f"Unknown Milvus analyzer '{analyzer}': use one of {', '.join(ANALYZERS)}.")
        k1 = float(options.get("k1", DEFAULT_K1))
        b = float(options.get("b", DEFAULT_B))
        client = milvus_client()
        schema = id_schema(client)
        schema.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX_BYTES, enable_analyzer=True,
                         analyzer_params=ANALYZERS[analyzer])
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["text"],
                                     output_field_names=["sparse"]))
        index_params = client.prepare_index_params()
        index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                               params={"bm25_k1": k1, "bm25_b": b})
        clipped = [clip_utf8(text) for text in texts]
        fill_collection(client, target, schema, index_params, ids, metas, lambda i: {"text": clipped[i]}, progress)
        return {"k1": k1, "b": b, "analyzer": analyzer,
                "documents": len(ids), "clipped_documents": sum(c is not t for c, t in zip(clipped, texts)),
                "backend": "milvus", "milvus_collection": target}

    def model_for(self, options: dict[str, Any]) -> None:
        return None

    def load(self, target: str, manifest: dict[str, Any]) -> LoadedMilvusBm25:
        milvus_client().load_collection(target)
        return LoadedMilvusBm25(target)
