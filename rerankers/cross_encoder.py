"""Cross-encoder reranking: a BERT-family encoder reads query and passage together and gives the pair one logit
(the models ``siftrag train cross-encoder`` trains); optionally interpolated with the first stage's scores."""
from __future__ import annotations

import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict

from core.deadline import CHARS_PER_TOKEN, DEADLINE_TEXT_CHARS, in_batches
from core.device import torch_device
from core.errors import InvalidInputError
from core.quiet_loading import quiet_transformers
from indexes.document_store import indexable_text
from rerankers.cross_encoder_models import cross_encoder_dir, default_cross_encoder, training_record
from rerankers.ranked_documents import ranked_documents
from rerankers.score_fusion import check_first_stage_weight, with_first_stage


class LoadedCrossEncoder:
    """A sentence-transformers ``CrossEncoder`` behind a lock (one forward at a time per model)."""

    def __init__(self, folder: Path, max_length: int) -> None:
        from sentence_transformers.cross_encoder import CrossEncoder

        with quiet_transformers():
            self.model = CrossEncoder(str(folder), device=torch_device(), max_length=max_length)
        self._lock = threading.Lock()

    def logits(self, pairs: list[tuple[str, str]], batch_size: int) -> np.ndarray:
        """One logit per pair, ``batch_size`` pairs per forward pass (under a request's deadline, about
        ``DEADLINE_TEXT_CHARS`` per pass, the deadline checked between them)."""
        import torch

        read = CHARS_PER_TOKEN * int(self.model.max_seq_length or 512)  # the model cuts the rest
        scores = []
        for batch in in_batches(pairs, batch_size, lambda pair: min(len(pair[0]) + len(pair[1]), read),
                                DEADLINE_TEXT_CHARS):
            with self._lock:
                scores.append(self.model.predict(batch, batch_size=len(batch), activation_fn=torch.nn.Identity(),
                                                 convert_to_numpy=True, show_progress_bar=False))
        return np.concatenate(scores).astype(np.float64).reshape(len(pairs)) if scores else np.zeros(0)


@lru_cache(maxsize=4)
def loaded_cross_encoder(folder: Path, max_length: int) -> LoadedCrossEncoder:
    return LoadedCrossEncoder(folder, max_length)


@component
class CrossEncoderReranker:
    """Scores each (query, passage) pair with a trained cross-encoder; ``score`` is the logit (or, with
    ``first_stage_weight`` > 0, its min-max interpolation with the first stage's score)."""

    def __init__(self, model: str | None = None, top_k: int = 10, max_length: int | None = None,
                 first_stage_weight: float | None = None, batch_size: int = 32) -> None:
        """``model``: a trained cross-encoder's name (None: the shipped default). ``max_length`` (tokens of query +
        passage) and ``first_stage_weight`` default to the model's recorded ``serving_defaults``."""
        self.model = model or default_cross_encoder()
        self.folder = cross_encoder_dir(self.model)
        serving = (training_record(self.folder) or {}).get("serving_defaults", {})
        self.max_length = int(max_length or serving.get("max_length", 256))
        if not 16 <= self.max_length <= 512:
            raise InvalidInputError("max_length must be between 16 and 512 tokens.")
        self.first_stage_weight = check_first_stage_weight(
            serving.get("first_stage_weight", 0.0) if first_stage_weight is None else first_stage_weight)
        self.top_k, self.batch_size = top_k, batch_size

    @property
    def _encoder(self) -> LoadedCrossEncoder:
        return loaded_cross_encoder(self.folder, self.max_length)

    def warm_up(self) -> None:
        """Load the model into the cache ``run`` reads, before the first ``run``."""
        self._encoder  # noqa: B018 (loading is the point)

    @property
    def tokenizer(self) -> Any:
        """The model's tokenizer (what long documents are chunked by)."""
        return self._encoder.model.tokenizer

    @property
    def max_input_tokens(self) -> int:
        """Tokens of query + passage the model reads (it cuts the rest of the passage)."""
        return self.max_length

    @component.output_types(documents=list[Document], meta=dict)
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        began = time.perf_counter()
        if not documents:
            return {"documents": [], "meta": {"latency_ms": 0.0, "forward_passes": 0}}
        logits = self._encoder.logits([(query, indexable_text(d)) for d in documents], self.batch_size)
        scores = with_first_stage(logits, documents, self.first_stage_weight)
        order = np.argsort(-scores, kind="stable")[: top_k or self.top_k]
        ranked = ranked_documents(documents, ((i, scores[i]) for i in order), logits)
        meta = {"latency_ms": 1000 * (time.perf_counter() - began),
                "forward_passes": -(-len(documents) // self.batch_size), "prompt_tokens": 0, "generated_tokens": 0,
                "model": self.model, "max_length": self.max_length, "first_stage_weight": self.first_stage_weight}
        return {"documents": ranked, "meta": meta}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, model=self.model, top_k=self.top_k, max_length=self.max_length,
                               first_stage_weight=self.first_stage_weight, batch_size=self.batch_size)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrossEncoderReranker:
        return default_from_dict(cls, data)
