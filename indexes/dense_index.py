"""Dense retrieval: sentence embeddings in FAISS (exact inner product, or HNSW for large corpora)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InvalidInputError
from core.settings import get_settings
from indexes.content_cache import ContentCache, cached_compute
from indexes.contract import Hits, ProgressCallback
from indexes.encoder import get_encoder

INDEX_TYPES = ("flat", "hnsw")
ENCODE_CHUNK = 256


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - depends on the install
        raise InvalidInputError("FAISS is not installed: `pip install siftrag[cpu]` or `siftrag[gpu]`.") from error
    return faiss


def encode_with_cache(
    texts: Sequence[str], model_name: str, cache_path: Path, progress: ProgressCallback | None = None
) -> np.ndarray:
    """Embeddings of ``texts``, encoding only those whose content hash is not cached yet."""
    encoder = get_encoder(model_name)
    batch_size = get_settings().embedding_batch_size
    cache = vector_cache(cache_path)
    try:
        vectors = cached_compute(
            texts, cache, lambda batch: encoder.encode(batch, batch_size=batch_size),
            to_row=lambda vector: (np.asarray(vector, dtype=np.float32).tobytes(),),
            from_row=row_vector, chunk=ENCODE_CHUNK, progress=progress)
    finally:
        cache.close()
    return np.stack(vectors).astype(np.float32)


def vector_cache(path: Path) -> ContentCache:
    """The embedding cache at ``path``: content hash → float32 vector bytes."""
    return ContentCache(path, "vectors", ("vector",))


def row_vector(row: tuple[Any, ...]) -> np.ndarray:
    """The vector of one cache row."""
    return np.frombuffer(row[0], dtype=np.float32)


def embedding_cache_path(model_name: str) -> Path:
    """Where the embeddings of ``model_name`` are cached by content hash (shared by every build and tool)."""
    return get_settings().data_dir / "cache" / f"embeddings-{Path(model_name).name}.sqlite"


def dense_rankings(corpus: dict[str, str], queries: dict[str, str], depth: int, model_name: str,
                   progress: ProgressCallback | None = None) -> dict[str, list[str]]:
    """Per query id, the ids of the top-``depth`` passages of ``corpus`` by embedding cosine (exact search; the
    passages' embeddings come from the shared cache), best first."""
    doc_ids = list(corpus)
    vectors = encode_with_cache([corpus[d] for d in doc_ids], model_name, embedding_cache_path(model_name), progress)
    query_ids = list(queries)
    hits = LoadedDense(_exact_index(vectors), doc_ids, model_name).search([queries[q] for q in query_ids], depth)
    return {query_id: [doc_id for doc_id, _ in row] for query_id, row in zip(query_ids, hits)}


def _exact_index(vectors: np.ndarray) -> Any:
    index = _faiss().IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    return index


class LoadedDense:
    """A FAISS index (moved to the GPUs when faiss has any) and the doc ids of its rows."""

    def __init__(self, index: Any, doc_ids: list[str], model_name: str) -> None:
        self.index = index
        self.doc_ids = doc_ids
        self.model_name = model_name

    def search(self, queries: Sequence[str], top_k: int) -> list[Hits]:
        vectors = get_encoder(self.model_name).encode_queries(list(queries))
        return self.search_vectors(vectors, top_k)

    def search_vectors(self, vectors: np.ndarray, top_k: int) -> list[Hits]:
        k = min(top_k, len(self.doc_ids))
        scores, rows = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        return [
            [(self.doc_ids[row], float(score)) for row, score in zip(row_ids, row_scores) if row >= 0]
            for row_ids, row_scores in zip(rows, scores)
        ]


class DenseKind:
    name = "dense"

    def build(
        self, ids: Sequence[str], texts: Sequence[str], metas: Sequence[dict[str, Any]], out_dir: Path,
        progress: ProgressCallback | None, options: dict[str, Any],
    ) -> dict[str, Any]:
        faiss = _faiss()
        model_name = self.model_for(options)
        index_type = options.get("index_type", "flat")
        if index_type not in INDEX_TYPES:
            raise InvalidInputError(f"Unknown dense index_type '{index_type}': use one of {', '.join(INDEX_TYPES)}.")
        vectors = encode_with_cache(texts, model_name, embedding_cache_path(model_name), progress)
        dim = vectors.shape[1]
        if index_type == "hnsw":
            index = faiss.IndexHNSWFlat(dim, int(options.get("hnsw_m", 32)), faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = int(options.get("ef_construction", 200))
        else:
            index = faiss.IndexFlatIP(dim)
        index.add(vectors)
        faiss.write_index(index, str(out_dir / "index.faiss"))
        (out_dir / "doc_ids.json").write_text(json.dumps(list(ids)))
        return {"model": model_name, "dim": dim, "index_type": index_type, "documents": len(ids),
                "ef_search": int(options.get("ef_search", 128))}

    def model_for(self, options: dict[str, Any]) -> str:
        return options.get("model") or get_settings().embedding_model

    def load(self, version_dir: Path, manifest: dict[str, Any]) -> LoadedDense:
        faiss = _faiss()
        index = faiss.read_index(str(version_dir / "index.faiss"))
        if manifest.get("index_type") == "hnsw":
            index.hnsw.efSearch = int(manifest.get("ef_search", 128))
        elif hasattr(faiss, "get_num_gpus") and faiss.get_num_gpus() > 0:
            index = faiss.index_cpu_to_all_gpus(index)
        doc_ids = json.loads((version_dir / "doc_ids.json").read_text())
        return LoadedDense(index, doc_ids, manifest["model"])
