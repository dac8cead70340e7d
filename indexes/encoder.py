"""The sentence encoder shared by the dense index (one loaded model per process and name); queries from
concurrent requests are encoded together (dynamic batching, ``SIFTRAG_BATCH_WAIT_MS`` / ``_MAX_ITEMS``)."""
from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from core.deadline import CHARS_PER_TOKEN, DEADLINE_TEXT_CHARS, in_batches
from core.device import torch_device
from core.micro_batcher import MicroBatcher
from core.model_loading import load_sentence_embedder
from core.settings import get_settings

CPU_QUERY_CHUNK = 16  # queries per forward pass on the CPU: 50 short queries in chunks of 16 cost ~4.3 ms each, ~6 ms
# in one pass padded to the longest (2 cores); on CUDA a batch runs whole


class SentenceEncoder:
    """Normalized embeddings (cosine = inner product); thread-safe encode."""

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.model: Any = load_sentence_embedder(model_name)
        self.dim: int = int(self.model.get_embedding_dimension())
        self._lock = threading.Lock()
        settings = get_settings()
        chunk = CPU_QUERY_CHUNK if torch_device() == "cpu" else None
        self._queries = MicroBatcher(self.encode, settings.batch_wait_ms, settings.batch_max_items,
                                     f"encode {model_name}", chunk_items=chunk, size=len)

    def encode_queries(self, queries: Sequence[str]) -> np.ndarray:
        """Query embeddings, computed in one batch with the queries of concurrent requests."""
        return np.stack(self._queries.run(queries)) if queries else np.zeros((0, self.dim), dtype=np.float32)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Normalized embeddings of ``texts``, longest first in batches of ``batch_size`` (as sentence-transformers
        orders them); under a request's deadline in batches of about ``DEADLINE_TEXT_CHARS``, stopping at the
        first one after it."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        read = CHARS_PER_TOKEN * int(self.model.max_seq_length or 512)  # the encoder cuts the rest
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        for rows in in_batches(order, batch_size, lambda i: min(len(texts[i]), read), DEADLINE_TEXT_CHARS):
            with self._lock:
                vectors[list(rows)] = self.model.encode(
                    [texts[i] for i in rows], batch_size=len(rows), normalize_embeddings=True,
                    convert_to_numpy=True, show_progress_bar=False,
                )
        return vectors


@lru_cache(maxsize=4)
def get_encoder(model_name: str) -> SentenceEncoder:
    return SentenceEncoder(model_name)
