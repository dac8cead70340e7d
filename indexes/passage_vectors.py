"""Passage embeddings for reranking, read from the shared embedding cache that every dense build of the same model
fills (so candidates from an indexed collection cost no encoding); passages the cache lacks are encoded now and
not stored, so a request's text never grows the cache."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from core.settings import get_settings
from indexes.dense_index import embedding_cache_path, row_vector, vector_cache
from indexes.document_store import content_hash
from indexes.encoder import get_encoder

_open_cache = lru_cache(maxsize=8)(vector_cache)  # one connection per cache file and process


def passage_vectors(texts: Sequence[str], model_name: str) -> tuple[np.ndarray, int]:
    """(normalized embeddings of ``texts`` by ``model_name``, in order; how many came from the cache)."""
    hashes = [content_hash(text) for text in texts]
    path = embedding_cache_path(model_name)
    cached = {key: row_vector(row)
              for key, row in _open_cache(path).get_many(sorted(set(hashes))).items()} if path.exists() else {}
    missing = [i for i, key in enumerate(hashes) if key not in cached]
    encoded = dict(zip(missing, get_encoder(model_name).encode(
        [texts[i] for i in missing], batch_size=get_settings().embedding_batch_size))) if missing else {}
    vectors = [cached[key] if key in cached else encoded[i] for i, key in enumerate(hashes)]
    return np.stack(vectors).astype(np.float32), len(texts) - len(missing)
