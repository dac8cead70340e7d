"""Interpolation of a reranker's scores with the first stage's: each side min-max normalized over the candidate
list, then ``(1 - w) · reranker + w · first stage`` (TILDEv2's interpolation with BM25; the pointwise LLM's too)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from haystack import Document

from core.errors import InvalidInputError


def check_first_stage_weight(weight: float) -> float:
    if not 0.0 <= weight <= 1.0:
        raise InvalidInputError("first_stage_weight must be between 0 and 1.")
    return weight


def min_max(values: np.ndarray) -> np.ndarray:
    """Finite values mapped onto [0, 1] (all 0 when they are equal); halved first, so no difference overflows."""
    halves = np.asarray(values, dtype=np.float64) / 2
    spread = float(halves.max() - halves.min())
    return (halves - halves.min()) / spread if spread > 0 else np.zeros_like(halves)


def interpolated(scores: np.ndarray, other: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) · min_max(scores) + weight · min_max(other)``; ``weight`` 0 returns ``scores`` unchanged."""
    return (1 - weight) * min_max(scores) + weight * min_max(other) if weight > 0 else scores


def with_first_stage(scores: np.ndarray, documents: Sequence[Document], weight: float) -> np.ndarray:
    """``scores`` interpolated with the documents' first-stage scores (a missing one counts as 0); ``weight`` 0
    returns them unchanged."""
    if weight <= 0 or not len(documents):
        return scores
    first_stage = np.array([d.score if d.score is not None else 0.0 for d in documents], dtype=np.float64)
    if not np.isfinite(first_stage).all():
        raise InvalidInputError("Candidate scores must be finite numbers to be interpolated with the first stage.")
    return interpolated(scores, first_stage, weight)
